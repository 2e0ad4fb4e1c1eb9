"""Random-access data sources: `len(source)` and `source[i] -> dict of numpy`.

TFDS `array_record` data sources, in-memory arrays and index subsets all follow
this protocol, which is what grain's `MapDataset.source` takes.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Sequence

import numpy as np

from jaxdl.errors import UserError


@dataclasses.dataclass
class ArraySource:
    """In-memory arrays with a shared first axis: `ds[i] -> {k: v[i]}`."""

    arrays: dict

    def __len__(self) -> int:
        return len(next(iter(self.arrays.values())))

    def __getitem__(self, i: int) -> dict:
        return {k: v[i] for k, v in self.arrays.items()}


@dataclasses.dataclass
class Subset:
    """The examples of `source` at `indices` (int [M]), in that order."""

    source: object
    indices: np.ndarray

    def __post_init__(self):
        self.indices = np.asarray(self.indices, np.int64)
        if len(self.indices) and (self.indices.min() < 0 or
                                  self.indices.max() >= len(self.source)):
            raise IndexError(f"subset indices out of range for a source of {len(self.source)}")

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict:
        return self.source[int(self.indices[i])]


@dataclasses.dataclass
class Concat:
    """Several sources one after another."""

    sources: Sequence[object]

    def __post_init__(self):
        self._ends = np.cumsum([len(s) for s in self.sources])

    def __len__(self) -> int:
        return int(self._ends[-1]) if len(self._ends) else 0

    def __getitem__(self, i: int) -> dict:
        k = int(np.searchsorted(self._ends, i, side="right"))
        start = int(self._ends[k - 1]) if k else 0
        return self.sources[k][i - start]


class DataError(UserError, ValueError):
    """Data that cannot serve the run (too few examples, wrong labels, ...)."""


class DatasetNotPreparedError(UserError, FileNotFoundError):
    """A TFDS dataset that is not on disk (nothing is downloaded at run time)."""


def tfds_source(name: str, split: str, data_dir: str | None = None):
    """The `tfds.data_source` of an already prepared TFDS dataset split.

    Raises DatasetNotPreparedError with how to prepare it when it is not on disk.
    """
    import tensorflow_datasets as tfds  # heavy import, kept at the edge

    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception as e:  # unknown name or config: TFDS lists its whole catalog
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DatasetNotPreparedError(f"TFDS dataset {name!r}: {first}") from None
    if not Path(builder.data_dir).exists():
        raise DatasetNotPreparedError(
            f"TFDS dataset {name!r} is not prepared in {builder.data_dir}; prepare it "
            f"first (e.g. `tfds build {name} --data_dir {data_dir or '~/tensorflow_datasets'} "
            f"--file_format array_record`) on a machine that can download it")
    return builder.as_data_source(split=split)
