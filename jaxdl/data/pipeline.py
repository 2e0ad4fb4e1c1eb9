"""Functional input pipelines (grain).

    source -> shuffle(seed) -> repeat(epochs) -> map(pure fn) -> shard -> batch

Every per-example transform runs before sharding, with grain's per-index seeds, so
what an example becomes depends only on its position in the global stream: one
process or several, the global batch is the same set of examples. Each example
also gets `id`, its position in that stream, which keys its dropout mask.

The iterator's state (`get_state()`, a small dict) is saved with each checkpoint,
so a resumed run sees exactly the batches it would have seen.
"""

from __future__ import annotations

from typing import Callable

import grain
import jax
import numpy as np

from jaxdl.data.sources import DataError

Transform = Callable[[dict], dict]
RandomTransform = Callable[[dict, np.random.Generator], dict]


def training_batches(source, *, global_batch_size: int, seed: int, num_epochs: int,
                     transform: Transform, augment: RandomTransform | None = None,
                     process_index: int | None = None,
                     process_count: int | None = None) -> grain.MapDataset:
    """Shuffled (reshuffled every epoch), augmented batches of this process's share.

    Returns a MapDataset of dicts of numpy arrays with leading axis
    global_batch_size / process_count; `len()` is the number of steps,
    num_epochs * steps_per_epoch(len(source), global_batch_size).
    """
    process_index = jax.process_index() if process_index is None else process_index
    process_count = jax.process_count() if process_count is None else process_count
    if global_batch_size % process_count:
        raise ValueError(f"global batch size {global_batch_size} does not split over "
                         f"{process_count} processes")
    if len(source) < global_batch_size:
        raise DataError(f"the training set has {len(source)} examples, fewer than "
                        f"one batch of {global_batch_size}")
    ds = grain.MapDataset.source(source).shuffle(seed=seed).repeat(num_epochs)
    if augment is not None:  # on the raw example, before normalisation
        ds = ds.random_map(augment, seed=seed + 1)
    ds = ds.map_with_index(lambda i, ex: dict(transform(ex), id=np.int64(i)))
    steps = num_epochs * steps_per_epoch(len(source), global_batch_size)
    ds = ds[: steps * global_batch_size]
    ds = ds[process_index::process_count]
    return ds.batch(global_batch_size // process_count, drop_remainder=True)


def steps_per_epoch(num_examples: int, global_batch_size: int) -> int:
    """Optimiser steps in one epoch: full batches only (num_examples // batch)."""
    return num_examples // global_batch_size


def evaluation_batches(source, *, global_batch_size: int, transform: Transform,
                       process_index: int | None = None,
                       process_count: int | None = None) -> grain.MapDataset:
    """Every example once, in order, in batches of this process's share.

    The last batch is padded (repeating the last example) to a full global batch;
    `mask` is 1 for real examples and 0 for padding, so every process runs the same
    number of steps and padding counts for nothing.
    """
    process_index = jax.process_index() if process_index is None else process_index
    process_count = jax.process_count() if process_count is None else process_count
    n = len(source)
    if n == 0:
        raise DataError("cannot evaluate on an empty dataset")
    padded = -(-n // global_batch_size) * global_batch_size
    ds = grain.MapDataset.range(padded).map(
        lambda i: dict(transform(source[min(i, n - 1)]), id=np.int64(i),
                       mask=np.float32(i < n)))
    ds = ds[process_index::process_count]
    return ds.batch(global_batch_size // process_count)


def prefetch(ds: grain.MapDataset, num_threads: int = 2,
             buffer_size: int = 8) -> grain.DatasetIterator:
    """An iterator over `ds` that prepares batches ahead in background threads.

    Its `get_state()` / `set_state()` save and restore the position.
    """
    it = ds.to_iter_dataset(grain.ReadOptions(num_threads=num_threads,
                                              prefetch_buffer_size=buffer_size))
    return iter(it)
