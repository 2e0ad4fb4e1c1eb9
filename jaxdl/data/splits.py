"""The course's three evaluation protocols, as pure functions over example indices.

- :func:`holdout_split`: simple hold-out validation (plenty of data).
- :func:`kfold_splits`: K-fold validation (little data): train K models, average
  their K validation scores.
- :func:`iterated_kfold_splits`: iterated K-fold validation with shuffling (very
  little data, most accurate estimate): P shuffles x K folds = P*K models.
- :func:`equal_size`: trims the train parts to one size, so that the K models can
  be trained together under ``jax.vmap`` with the same number of steps.

Every function takes a dataset size ``n`` and returns int64 index arrays into
``range(n)``; index your arrays / data source with them. Randomness comes only from
``np.random.default_rng(seed)``: the same arguments always give the same arrays.
Index arrays are in the order they were drawn (shuffled order when shuffled), like
the course's listings that shuffle the data and then slice it.

Note that these split one pool of examples. Where examples are not independent
(several images of one person, several clips of one voice), split the identities
first and then map them to example indices, or the validation score leaks.
"""

from __future__ import annotations

import operator

import numpy as np

__all__ = ["equal_size", "holdout_split", "iterated_kfold_splits", "kfold_splits"]

Split = tuple[np.ndarray, np.ndarray]


def _as_int(value, name: str) -> int:
    """``value`` as a Python int, or a TypeError naming the argument."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got {name}={value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {name}={value!r}") from None


def _check_n(n) -> int:
    n = _as_int(n, "n")
    if n < 2:
        raise ValueError(f"n must be >= 2 to split off a validation part, got n={n}")
    return n


def _check_k(k, n: int) -> int:
    k = _as_int(k, "k")
    if k < 2:
        raise ValueError(f"k must be >= 2 (number of folds), got k={k}")
    if k > n:
        raise ValueError(f"k must be <= n (every fold needs an example), got k={k} > n={n}")
    return k


def holdout_split(n: int, validation_fraction: float, seed) -> Split:
    """Simple hold-out validation: shuffle ``range(n)``, set apart a validation part.

    Args:
      n: number of examples, >= 2.
      validation_fraction: fraction of examples for validation, in the open
        interval (0, 1).
      seed: seed for ``np.random.default_rng`` (an int, or a sequence of ints).

    Returns:
      ``(train_idx, val_idx)``, int64 ``[n - n_val]`` and ``[n_val]``, disjoint,
      their concatenation ``val_idx, train_idx`` a permutation of ``range(n)``
      (validation is the first ``n_val`` of the shuffled order, as in the course's
      listing). ``n_val = round(n * validation_fraction)`` (Python's ``round``:
      halves go to the even neighbour), clipped to ``[1, n - 1]`` so neither part
      is empty.
    """
    n = _check_n(n)
    fraction = float(validation_fraction)
    if not 0.0 < fraction < 1.0:  # also rejects NaN
        raise ValueError(
            "validation_fraction must be in the open interval (0, 1), "
            f"got validation_fraction={validation_fraction!r}"
        )
    num_val = min(max(round(n * fraction), 1), n - 1)
    order = np.random.default_rng(seed).permutation(n).astype(np.int64)
    return order[num_val:], order[:num_val]


def _folds_of(order: np.ndarray, k: int) -> list[Split]:
    """K folds over ``order``: contiguous val slices, sizes differing by at most 1."""
    n = order.shape[0]
    # The first n % k folds get one extra example (np.array_split's rule).
    sizes = np.full(k, n // k, dtype=np.int64)
    sizes[: n % k] += 1
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    folds = []
    for start, stop in zip(bounds[:-1], bounds[1:]):
        val_idx = order[start:stop].copy()
        train_idx = np.concatenate([order[:start], order[stop:]])
        folds.append((train_idx, val_idx))
    return folds


def kfold_splits(n: int, k: int, seed=None) -> list[Split]:
    """K-fold validation: K (train, val) splits whose val parts partition ``range(n)``.

    Args:
      n: number of examples, >= 2.
      k: number of folds, ``2 <= k <= n``.
      seed: None for no shuffling: fold ``i`` validates on a contiguous block of
        indices, the blocks in order (use it when order matters, e.g. time series);
        otherwise a seed for ``np.random.default_rng`` (int or sequence of ints)
        and ``range(n)`` is shuffled first.

    Returns:
      list of K ``(train_idx, val_idx)`` int64 pairs. Val sizes are ``n // k`` or
      ``n // k + 1`` (the first ``n % k`` folds are the larger); each train part is
      the other K - 1 val parts, in order.
    """
    n = _check_n(n)
    k = _check_k(k, n)
    if seed is None:
        order = np.arange(n, dtype=np.int64)
    else:
        order = np.random.default_rng(seed).permutation(n).astype(np.int64)
    return _folds_of(order, k)


def iterated_kfold_splits(n: int, k: int, iterations: int, seed) -> list[Split]:
    """Iterated K-fold validation with shuffling: ``iterations`` K-fold splits.

    Iteration ``i`` is ``kfold_splits(n, k, seed=(seed, i))``: a K-fold split of
    ``range(n)`` shuffled with a seed derived from ``seed`` and ``i`` (numpy's
    ``SeedSequence`` mixes the pair), so iterations are independent shuffles. For
    tiny ``n`` there are few distinct partitions and two iterations can coincide
    by chance (with ``k == n`` every partition is the same one); for realistic
    ``n`` they differ.

    Args:
      n: number of examples, >= 2.
      k: number of folds, ``2 <= k <= n``.
      iterations: number of shuffles P, >= 1.
      seed: a non-negative int.

    Returns:
      list of ``k * iterations`` ``(train_idx, val_idx)`` int64 pairs, iteration by
      iteration: entries ``[i * k, (i + 1) * k)`` are iteration ``i``'s K folds.
    """
    n = _check_n(n)
    k = _check_k(k, n)
    iterations = _as_int(iterations, "iterations")
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1, got iterations={iterations}")
    seed = _as_int(seed, "seed")
    splits: list[Split] = []
    for iteration in range(iterations):
        splits.extend(kfold_splits(n, k, seed=(seed, iteration)))
    return splits


def equal_size(splits) -> list[Split]:
    """Trims every train part to the smallest train size; val parts are untouched.

    K-fold train parts can differ by one example when ``k`` does not divide ``n``;
    stacking them (``np.stack([t for t, _ in splits])``) to train the K models
    together under ``jax.vmap`` needs equal sizes, hence equal step counts.
    Trimming drops the last elements of each train part (after shuffling those are
    random examples; without shuffling, the highest indices of that part), so it is
    deterministic. Pad the val parts with a mask instead (the metrics take one):
    dropping validation examples would change what is being measured.

    Args:
      splits: non-empty sequence of ``(train_idx, val_idx)`` pairs.

    Returns:
      list of ``(train_idx[:m], val_idx)`` with ``m`` the smallest train size.
    """
    splits = list(splits)
    if not splits:
        raise ValueError("splits must be non-empty, got splits=[]")
    smallest = min(len(train_idx) for train_idx, _ in splits)
    return [(np.asarray(train_idx)[:smallest].copy(), val_idx) for train_idx, val_idx in splits]
