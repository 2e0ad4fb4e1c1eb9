"""Labelled image datasets for classification, from a config's `data` group.

Three sources, one result: `{"train", "validation", "test"}` random-access sources
of `{"image": uint8 [H, W, 3], "label": int32}` plus the class names.

- "procedural": a generated TFDS dataset (prepared once on disk, `array_record`).
- "folder": a user's folder, one sub-folder per class; split by seeded fractions.
- "tfds": a prepared TFDS catalog dataset, features named by image_key/label_key.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import numpy as np

from jaxdl.config import ConfigError
from jaxdl.data import splits as splits_lib
from jaxdl.data.images import ImageFolder, as_rgb
from jaxdl.data.sources import DataError, Subset, tfds_source


@dataclasses.dataclass
class LabelledImages:
    train: object
    validation: object
    test: object
    class_names: tuple[str, ...]
    description: str
    skipped_files: int = 0  # unreadable files left out (image folders)


@dataclasses.dataclass
class _Renamed:
    """Maps a TFDS example to {"image", "label"}, resizing to `size`."""

    source: object
    image_key: str
    label_key: str
    size: int

    def __len__(self):
        return len(self.source)

    def __getitem__(self, i):
        ex = self.source[i]
        return {"image": as_rgb(ex[self.image_key], self.size),
                "label": np.int32(ex[self.label_key])}


def _three_way(source, validation_fraction: float, test_fraction: float, seed: int):
    n = len(source)
    if n < 3:
        raise DataError(f"{n} image(s) cannot be split into train, validation and test")
    rest, test = splits_lib.holdout_split(n, test_fraction, seed)
    train, val = splits_lib.holdout_split(len(rest), validation_fraction, seed + 1)
    return Subset(source, rest[train]), Subset(source, rest[val]), Subset(source, test)


def load_labelled_images(data, *, seed: int,
                         procedural: Callable[[object], LabelledImages] | None = None
                         ) -> LabelledImages:
    """The splits named by config `data` (see module doc).

    procedural: the experiment's generated-dataset loader, called with `data`.
    """
    if data.source == "procedural":
        if procedural is None:
            raise ConfigError("this experiment has no procedural dataset")
        return procedural(data)
    if data.source == "folder":
        if not data.folder:
            raise ConfigError("data.source='folder' needs --config.data.folder=PATH")
        folder = ImageFolder(data.folder, size=data.image_size,
                             class_names=tuple(data.class_names) or None)
        train, val, test = _three_way(folder, data.validation_fraction,
                                      data.test_fraction, seed)
        skipped = f", {len(folder.skipped)} unreadable file(s) skipped" if folder.skipped else ""
        return LabelledImages(train, val, test, folder.class_names,
                              f"image folder {data.folder} ({len(folder)} images{skipped})",
                              skipped_files=len(folder.skipped))
    if data.source == "tfds":
        if not data.tfds_name:
            raise ConfigError("data.source='tfds' needs --config.data.tfds_name=NAME")
        get = lambda split: _Renamed(tfds_source(data.tfds_name, split, data.data_dir or None),
                                     data.image_key, data.label_key, data.image_size)
        train = get(data.tfds_train_split)
        test = get(data.tfds_test_split)
        if data.tfds_validation_split:
            val = get(data.tfds_validation_split)
        else:
            tr, va = splits_lib.holdout_split(len(train), data.validation_fraction, seed)
            train, val = Subset(train, tr), Subset(train, va)
        return LabelledImages(train, val, test, tuple(data.class_names),
                              f"TFDS {data.tfds_name}")
    raise ConfigError(f"unknown data.source {data.source!r}; choose from: "
                      "procedural, folder, tfds")


def sample_images(source, max_images: int = 4096, seed: int = 0) -> np.ndarray:
    """Up to `max_images` images of a source (a seeded sample), stacked: uint8 [M, H, W, 3].

    Enough for normalisation statistics without loading a large dataset.
    """
    n = len(source)
    idx = (np.arange(n) if n <= max_images else
           np.sort(np.random.default_rng(seed).choice(n, max_images, replace=False)))
    return np.stack([source[int(i)]["image"] for i in idx])


def all_labels(source) -> np.ndarray:
    return np.asarray([source[i]["label"] for i in range(len(source))], np.int32)
