"""Images labelled by identity (faces), split so that no person is in two splits.

Three sources, one result: train / validation / test random-access sources of
`{"image": uint8 [S, S, 3], "identity": int32}` plus each split's identity array.

- "procedural": the generated faces (`faces_dataset`), identity-disjoint splits.
- "folder": a folder with one sub-folder per person; people are dealt into splits.
- "tfds": a prepared TFDS dataset (e.g. `lfw`, whose label is the person's name);
  people are dealt into splits.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxdl.config import ConfigError
from jaxdl.data import splits as splits_lib
from jaxdl.data.images import ImageFolder, as_rgb
from jaxdl.data.transforms import to_greyscale
from jaxdl.data.sources import DataError, Subset, tfds_source


@dataclasses.dataclass
class IdentityImages:
    train: object
    validation: object
    test: object
    labels: dict          # split name -> int32 [N] identity of each example
    description: str
    skipped_files: int = 0


@dataclasses.dataclass
class _AsIdentity:
    """{"image", label_key} -> {"image" resized, "identity": int32} (names mapped to ints)."""

    source: object
    image_key: str
    label_key: str
    size: int
    names: dict | None = None

    def __len__(self):
        return len(self.source)

    def __getitem__(self, i):
        ex = self.source[i]
        image = as_rgb(ex[self.image_key], self.size)
        label = ex[self.label_key]
        if self.names is not None:
            label = self.names[label.decode() if isinstance(label, bytes) else str(label)]
        return {"image": image, "identity": np.int32(label)}


@dataclasses.dataclass
class Greyscale:
    """A source's examples with "image" in greyscale: BT.601 luma replicated to 3
    channels (`jaxdl.data.transforms.to_greyscale`), the rest unchanged."""

    source: object

    def __len__(self):
        return len(self.source)

    def __getitem__(self, i):
        ex = self.source[i]
        return dict(ex, image=to_greyscale(ex["image"]))


def identities_of(source) -> np.ndarray:
    """int32 [N]: the identity of every example of a source, in order."""
    return np.asarray([source[i]["identity"] for i in range(len(source))], np.int32)


def _split_by_identity(source, labels: np.ndarray, validation_fraction: float,
                       test_fraction: float, seed: int) -> tuple:
    """Deals people (not images) into train / validation / test."""
    ids = np.unique(labels)
    if len(ids) < 3:
        raise DataError(f"{len(ids)} identities cannot be split into train, validation "
                        "and test people")
    rest, test = splits_lib.holdout_split(len(ids), test_fraction, seed)
    train, val = splits_lib.holdout_split(len(rest), validation_fraction, seed + 1)
    groups = [ids[rest[train]], ids[rest[val]], ids[test]]
    parts = [np.flatnonzero(np.isin(labels, g)) for g in groups]
    return tuple(Subset(source, p) for p in parts), [labels[p] for p in parts]


def load_identity_images(data, *, seed: int) -> IdentityImages:
    """The splits named by config `data` (see module doc)."""
    if data.source == "procedural":
        from jaxdl.tasks.faces import dataset as faces_dataset
        builder = faces_dataset.prepare(
            data.train_identities, data.validation_identities, data.test_identities,
            data.images_per_identity, data.image_size, data.generator_seed,
            data.data_dir or None)
        sources = builder.as_data_source()
        # TFDS shuffles records when it writes them: read each split's identities.
        labels = {s: identities_of(sources[s]) for s in ("train", "validation", "test")}
        return IdentityImages(sources["train"], sources["validation"], sources["test"],
                              labels, f"generated faces ({builder.data_dir})")
    if data.source == "folder":
        if not data.folder:
            raise ConfigError("data.source='folder' needs --config.data.folder=PATH")
        folder = ImageFolder(data.folder, size=data.image_size)
        renamed = _AsIdentity(folder, "image", "label", data.image_size)
        (train, val, test), (lt, lv, ls) = _split_by_identity(
            renamed, folder.labels, data.validation_fraction, data.test_fraction, seed)
        return IdentityImages(train, val, test, {"train": lt, "validation": lv, "test": ls},
                              f"image folder {data.folder} ({len(folder)} images of "
                              f"{len(folder.class_names)} people)",
                              skipped_files=len(folder.skipped))
    if data.source == "tfds":
        if not data.tfds_name:
            raise ConfigError("data.source='tfds' needs --config.data.tfds_name=NAME")
        raw = tfds_source(data.tfds_name, data.tfds_split, data.data_dir or None)
        names = [raw[i][data.label_key] for i in range(len(raw))]
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
        index = {n: i for i, n in enumerate(sorted(set(names)))}
        labels = np.asarray([index[n] for n in names], np.int32)
        source = _AsIdentity(raw, data.image_key, data.label_key, data.image_size, index)
        (train, val, test), (lt, lv, ls) = _split_by_identity(
            source, labels, data.validation_fraction, data.test_fraction, seed)
        return IdentityImages(train, val, test, {"train": lt, "validation": lv, "test": ls},
                              f"TFDS {data.tfds_name} ({len(index)} people)")
    raise ConfigError(f"unknown data.source {data.source!r}; choose from: "
                      "procedural, folder, tfds")
