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

import functools
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


def pk_batch_indices(labels: np.ndarray, *, identities_per_batch: int,
                     images_per_identity: int, seed: int, step: int) -> np.ndarray:
    """Source indices of step `step`'s batch: P identities x K images each.

    labels: int [N], the identity of each example. P identities are drawn without
    replacement among those with at least K examples, then K distinct examples of
    each; the draw depends only on (seed, step). Returns int64 [P * K], identity-
    major (the K images of the first identity, then the next, ...).
    """
    p, k = identities_per_batch, images_per_identity
    rng = np.random.default_rng([seed, step])
    ids, counts = np.unique(labels, return_counts=True)
    eligible = ids[counts >= k]
    if len(eligible) < p:
        raise DataError(f"a batch needs {p} identities with at least {k} images each; "
                        f"only {len(eligible)} of {len(ids)} identities have that many")
    chosen = rng.choice(eligible, size=p, replace=False)
    return np.concatenate([rng.choice(np.flatnonzero(labels == i), size=k, replace=False)
                           for i in chosen]).astype(np.int64)


def identity_batches(source, labels: np.ndarray, *, identities_per_batch: int,
                     images_per_identity: int, num_steps: int, seed: int,
                     transform: Transform, augment: RandomTransform | None = None,
                     process_index: int | None = None,
                     process_count: int | None = None) -> grain.MapDataset:
    """Batches of P identities x K images (for triplet mining), this process's share.

    Every global batch holds exactly P identities with K images each
    (`pk_batch_indices`); each example gets `id`, its position in the global
    stream. `len()` is num_steps.
    """
    process_index = jax.process_index() if process_index is None else process_index
    process_count = jax.process_count() if process_count is None else process_count
    size = identities_per_batch * images_per_identity
    if size % process_count:
        raise ValueError(f"a batch of {size} does not split over {process_count} processes")
    labels = np.asarray(labels)
    batch_of = functools.lru_cache(maxsize=4)(lambda step: pk_batch_indices(
        labels, identities_per_batch=identities_per_batch,
        images_per_identity=images_per_identity, seed=seed, step=step))
    batch_of(0)  # fail early when the data cannot fill a batch
    ds = grain.MapDataset.range(num_steps * size).map(
        lambda i: source[int(batch_of(i // size)[i % size])])
    if augment is not None:
        ds = ds.random_map(augment, seed=seed + 1)
    ds = ds.map_with_index(lambda i, ex: dict(transform(ex), id=np.int64(i)))
    ds = ds[process_index::process_count]
    return ds.batch(size // process_count, drop_remainder=True)


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
