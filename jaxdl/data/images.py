"""Image files: decoding, resizing and class-per-folder datasets.

Bad input gets a message naming the file and what is wrong; one bad file in a
folder never loses the others (it is skipped and reported).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError

from jaxdl.errors import UserError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
log = logging.getLogger(__name__)


class ImageError(UserError, ValueError):
    """An image file that cannot be used; the message names the file."""


def load_image(path: str | os.PathLike, size: int | tuple[int, int] | None = None) -> np.ndarray:
    """Reads an image file as uint8 RGB [H, W, 3], resized to `size` if given.

    size: int (square) or (height, width); resizing is bilinear with antialiasing.
    Raises ImageError (naming the file) for a missing, unreadable or non-image file.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such file")
    try:
        with Image.open(path) as img:
            img.load()
            rgb = img.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
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

    `root/<class name>/*.png|jpg|...`; classes are the sub-folder names in sorted
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
                if path.is_dir():
                    continue
                if path.suffix.lower() not in IMAGE_SUFFIXES:
                    self.skipped.append((str(path), "not an image suffix"))
                    continue
                try:
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
    """The image files under `folder` (recursively, by suffix), sorted."""
    return sorted(str(p) for p in Path(folder).rglob("*")
                  if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
