"""Image files: decoding, resizing and class-per-folder datasets.

Any format Pillow opens is read (PNG, JPEG, PGM / PPM / PBM, TIFF, BMP, GIF, WebP,
...: `image_suffixes()`), and every picture becomes uint8 RGB: greyscale and
palette images are replicated / looked up, 16-bit ones scaled down, alpha dropped,
EXIF rotation applied. Bad input gets a message naming the file and what is wrong;
one bad file in a folder never loses the others (it is skipped, with a warning
naming it).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from jaxdl.errors import UserError

log = logging.getLogger(__name__)


class ImageError(UserError, ValueError):
    """An image file that cannot be used; the message names the file."""


@functools.lru_cache(maxsize=None)
def image_suffixes() -> frozenset[str]:
    """File suffixes (lower case, with the dot) of every format this Pillow can open:
    .png, .jpg, .pgm, .ppm, .tif, .bmp, .gif, .webp, ... (not the save-only ones)."""
    Image.init()
    return frozenset(ext.lower() for ext, fmt in Image.registered_extensions().items()
                     if fmt in Image.OPEN)


def is_image_file(path: str | os.PathLike) -> bool:
    """Whether Pillow can open `path` as an image: a suffix of `image_suffixes()`, or,
    for any other suffix, a file whose content Pillow recognises (header only)."""
    path = Path(path)
    if path.suffix.lower() in image_suffixes():
        return True
    try:
        with Image.open(path):
            return True
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return False


def _to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow image as 8-bit RGB: 16-bit and 32-bit integer greys (modes I;16*, I,
    as PNG and PGM with more than 8 bits open) are scaled from 0..65535, float greys
    (F) from 0..1 when they fit, else clipped to 0..255; the rest by Pillow's convert
    (grey replicated, palette looked up, alpha dropped, CMYK / YCbCr converted)."""
    if img.mode.startswith("I;16") or img.mode == "I":
        grey = np.asarray(img, np.float64) / 257.0
    elif img.mode == "F":
        grey = np.asarray(img, np.float64)
        grey = grey * 255.0 if grey.size and np.nanmax(grey) <= 1.0 else grey
    else:
        return img.convert("RGB")
    grey = np.clip(np.round(np.nan_to_num(grey)), 0, 255).astype(np.uint8)
    return Image.fromarray(grey).convert("RGB")


def load_image(path: str | os.PathLike, size: int | tuple[int, int] | None = None) -> np.ndarray:
    """Reads an image file (any format Pillow opens) as uint8 RGB [H, W, 3], resized
    to `size` if given.

    Grey, palette, 16-bit and alpha images are converted as `_to_rgb` says; an EXIF
    orientation is applied (a phone's portrait photo comes out upright); a
    multi-frame file (GIF, TIFF) gives its first frame.
    size: int (square) or (height, width); resizing is bilinear with antialiasing.
    Raises ImageError (naming the file) for a missing, unreadable or non-image file.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such file")
    try:
        with Image.open(path) as img:
            img.load()
            rgb = _to_rgb(ImageOps.exif_transpose(img))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, TypeError) as e:
        raise ImageError(f"{path}: not a readable image ({type(e).__name__}: {e})") from None
    if size is not None:
        h, w = (size, size) if isinstance(size, int) else size
        if rgb.size != (w, h):
            rgb = rgb.resize((w, h), Image.Resampling.BILINEAR, reducing_gap=None)
    return np.asarray(rgb, dtype=np.uint8)


def as_rgb(image: np.ndarray, size: int) -> np.ndarray:
    """An image array from a dataset (grey [H, W], RGB or RGBA) as uint8 RGB
    [size, size, 3], resized bilinearly when its shape differs."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    if image.shape[:2] != (size, size) or image.shape[-1] != 3:
        image = np.asarray(Image.fromarray(image[..., :3].astype(np.uint8)).resize(
            (size, size), Image.Resampling.BILINEAR))
    return image


def save_image(path: str | os.PathLike, image: np.ndarray) -> Path:
    """Writes uint8 [H, W, 3] (or float in [0, 1]) as an image file (format from suffix)."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        image = np.round(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)
    return path


@dataclasses.dataclass
class ImageFolder:
    """A labelled image dataset from a folder with one sub-folder per class.

    `root/<class name>/<image files>` (any format Pillow opens); classes are the sub-folder names in sorted
    order (or `class_names`, which fixes the order and must all exist). Images are
    decoded and resized once, up front. A random-access source: `len(ds)` and
    `ds[i] -> {"image": uint8 [H, W, 3], "label": int32}`.

    Attributes after construction: images [N, H, W, 3], labels [N], paths,
    class_names, skipped (list of (path, reason)) for files that could not be read.
    """

    root: str | os.PathLike
    size: int = 64
    class_names: Sequence[str] | None = None

    def __post_init__(self):
        root = Path(self.root)
        if not root.is_dir():
            raise ImageError(f"{root}: image folder does not exist")
        found = sorted(p.name for p in root.iterdir() if p.is_dir())
        names = list(self.class_names) if self.class_names is not None else found
        missing = [n for n in names if n not in found]
        if missing:
            raise ImageError(f"{root}: missing class sub-folder(s) {missing}; found {found}")
        if len(names) < 2:
            raise ImageError(f"{root}: needs one sub-folder per class (at least 2), found {found}")
        images, labels, paths, self.skipped = [], [], [], []
        for label, name in enumerate(names):
            for path in sorted((root / name).iterdir()):
                if path.is_dir() or path.name.startswith("."):  # hidden: .DS_Store, ...
                    continue
                try:  # whatever Pillow opens, by content (a .txt file is skipped here)
                    images.append(load_image(path, self.size))
                except ImageError as e:
                    self.skipped.append((str(path), str(e)))
                    log.warning("skipping %s", e)
                    continue
                labels.append(label)
                paths.append(str(path))
        if not images:
            raise ImageError(f"{root}: no readable images in {names} "
                             f"({len(self.skipped)} file(s) skipped)")
        empty = [n for i, n in enumerate(names) if i not in set(labels)]
        if empty:
            raise ImageError(f"{root}: no readable images for class(es) {empty}")
        self.class_names = tuple(names)
        self.images = np.stack(images)
        self.labels = np.asarray(labels, np.int32)
        self.paths = paths

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        return {"image": self.images[i], "label": self.labels[i]}


def list_image_files(folder: str | Path) -> list[str]:
    """The image files under `folder` (recursively), sorted: every file with a
    suffix Pillow opens (`image_suffixes`), and any other file whose content Pillow
    recognises. Other files are left out with a warning naming each; hidden files
    (.DS_Store, ...) silently. A listed file can still fail to decode (`load_image`
    says so, naming it)."""
    if not Path(folder).is_dir():
        raise ImageError(f"{folder}: no such folder")
    found = []
    for path in sorted(Path(folder).rglob("*")):
        if not path.is_file() or any(part.startswith(".") for part in
                                     path.relative_to(folder).parts):
            continue
        if is_image_file(path):
            found.append(str(path))
        else:
            log.warning("skipping %s: not an image format Pillow can open", path)
    return found        # in the sorted order of the walk above


def expand_image_paths(paths) -> list[str]:
    """The paths, with each folder among them replaced by the image files under it
    (`list_image_files`: any format Pillow opens, recursively, sorted); files are
    kept as given (a missing one fails later, in `load_image`, naming it)."""
    out: list[str] = []
    for path in paths:
        out.extend(list_image_files(path) if Path(path).is_dir() else [str(path)])
    return out
