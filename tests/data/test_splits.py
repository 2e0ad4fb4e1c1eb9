"""Tests for jaxdl.data.splits: partition invariants, determinism, hand-checked folds, errors."""

import numpy as np
import pytest

from jaxdl.data.splits import equal_size, holdout_split, iterated_kfold_splits, kfold_splits

SIZES_AND_KS = [(n, k) for n in (2, 3, 5, 10, 11, 17, 100, 101) for k in (2, 3, 4, 5, 10) if k <= n]


def _assert_index_array(a, n):
    assert isinstance(a, np.ndarray) and a.dtype == np.int64 and a.ndim == 1
    assert ((a >= 0) & (a < n)).all()


def _assert_is_kfold(folds, n, k):
    """The val parts partition range(n), sizes within 1; train = complement of val."""
    assert len(folds) == k
    for train_idx, val_idx in folds:
        _assert_index_array(train_idx, n)
        _assert_index_array(val_idx, n)
        assert len(np.unique(train_idx)) == len(train_idx)
        assert len(np.unique(val_idx)) == len(val_idx)
        assert np.intersect1d(train_idx, val_idx).size == 0
        np.testing.assert_array_equal(np.sort(np.concatenate([train_idx, val_idx])), np.arange(n))
    all_val = np.concatenate([v for _, v in folds])
    np.testing.assert_array_equal(np.sort(all_val), np.arange(n))  # each index validated exactly once
    sizes = [len(v) for _, v in folds]
    assert max(sizes) - min(sizes) <= 1 and min(sizes) >= 1
    assert sorted(sizes, reverse=True) == sizes  # the larger folds come first


def _partition(folds):
    """The val parts as a set of sets: what a K-fold split is, up to fold order."""
    return frozenset(frozenset(v.tolist()) for _, v in folds)


# --------------------------------------------------------------------------- hold-out


@pytest.mark.parametrize("n", [2, 3, 10, 11, 101, 1000])
@pytest.mark.parametrize("fraction", [0.01, 0.2, 0.5, 0.99])
def test_holdout_is_a_disjoint_cover(n, fraction):
    train_idx, val_idx = holdout_split(n, fraction, seed=0)
    _assert_index_array(train_idx, n)
    _assert_index_array(val_idx, n)
    np.testing.assert_array_equal(np.sort(np.concatenate([val_idx, train_idx])), np.arange(n))
    assert len(val_idx) == min(max(round(n * fraction), 1), n - 1)
    assert 1 <= len(val_idx) <= n - 1


def test_holdout_sizes_hand_computed():
    # round(n * fraction): 100 * 0.2 = 20; 10 * 0.25 = 2.5 -> 2 (ties to even);
    # 10 * 0.35 = 3.5 -> 4; 3 * 0.01 = 0.03 -> 0 -> clipped to 1;
    # 3 * 0.99 = 2.97 -> 3 -> clipped to n - 1 = 2.
    for n, fraction, n_val in [(100, 0.2, 20), (10, 0.25, 2), (10, 0.35, 4), (3, 0.01, 1), (3, 0.99, 2)]:
        train_idx, val_idx = holdout_split(n, fraction, seed=1)
        assert (len(train_idx), len(val_idx)) == (n - n_val, n_val), (n, fraction)


def test_holdout_deterministic_and_seed_dependent():
    a = holdout_split(50, 0.2, seed=7)
    b = holdout_split(50, 0.2, seed=7)
    c = holdout_split(50, 0.2, seed=8)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert set(a[1].tolist()) != set(c[1].tolist())
    # It is the course's listing: shuffle range(n), validation = the first n_val.
    order = np.random.default_rng(7).permutation(50)
    np.testing.assert_array_equal(a[1], order[:10])
    np.testing.assert_array_equal(a[0], order[10:])


# --------------------------------------------------------------------------- K-fold


@pytest.mark.parametrize("n,k", SIZES_AND_KS)
@pytest.mark.parametrize("seed", [None, 0, 3])
def test_kfold_partitions(n, k, seed):
    _assert_is_kfold(kfold_splits(n, k, seed=seed), n, k)


def test_kfold_unshuffled_hand_computed():
    # n = 10, k = 3: sizes 4, 3, 3 (the first n % k = 1 fold gets the extra one).
    folds = kfold_splits(10, 3)
    expected_val = [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
    expected_train = [[4, 5, 6, 7, 8, 9], [0, 1, 2, 3, 7, 8, 9], [0, 1, 2, 3, 4, 5, 6]]
    for (train_idx, val_idx), want_train, want_val in zip(folds, expected_train, expected_val):
        np.testing.assert_array_equal(val_idx, want_val)
        np.testing.assert_array_equal(train_idx, want_train)
    # k = n is leave-one-out.
    folds = kfold_splits(4, 4)
    assert [v.tolist() for _, v in folds] == [[0], [1], [2], [3]]
    assert [t.tolist() for t, _ in folds] == [[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]]


def test_kfold_shuffled_is_contiguous_slices_of_a_permutation():
    # As in the course's listing: shuffle once, then slice K ways.
    order = np.random.default_rng(5).permutation(11)
    folds = kfold_splits(11, 4, seed=5)
    np.testing.assert_array_equal(np.concatenate([v for _, v in folds]), order)
    np.testing.assert_array_equal(folds[1][0], np.concatenate([order[:3], order[6:]]))


def test_kfold_deterministic_and_seed_dependent():
    a, b = kfold_splits(40, 5, seed=11), kfold_splits(40, 5, seed=11)
    for (ta, va), (tb, vb) in zip(a, b):
        np.testing.assert_array_equal(ta, tb)
        np.testing.assert_array_equal(va, vb)
    assert _partition(kfold_splits(40, 5, seed=12)) != _partition(a)
    assert _partition(kfold_splits(40, 5)) != _partition(a)  # shuffled != contiguous
    assert _partition(kfold_splits(40, 5)) == _partition(kfold_splits(40, 5))


# --------------------------------------------------------------------------- iterated K-fold


@pytest.mark.parametrize("n,k", [(10, 2), (11, 3), (30, 4), (101, 5)])
def test_iterated_kfold_each_iteration_is_a_kfold(n, k):
    iterations = 3
    splits = iterated_kfold_splits(n, k, iterations, seed=0)
    assert len(splits) == k * iterations
    partitions = []
    for i in range(iterations):
        folds = splits[i * k : (i + 1) * k]
        _assert_is_kfold(folds, n, k)
        partitions.append(_partition(folds))
    # Iterations are different shuffles, so different partitions.
    assert len(set(partitions)) == iterations


def test_iterated_kfold_derived_seeds_deterministic_and_documented():
    splits = iterated_kfold_splits(20, 4, 3, seed=9)
    again = iterated_kfold_splits(20, 4, 3, seed=9)
    other = iterated_kfold_splits(20, 4, 3, seed=10)
    for (ta, va), (tb, vb) in zip(splits, again):
        np.testing.assert_array_equal(ta, tb)
        np.testing.assert_array_equal(va, vb)
    assert _partition(splits[:4]) != _partition(other[:4])
    # Iteration i is kfold_splits with the derived seed (seed, i), as documented.
    for i in range(3):
        for (ta, va), (tb, vb) in zip(splits[4 * i : 4 * i + 4], kfold_splits(20, 4, seed=(9, i))):
            np.testing.assert_array_equal(ta, tb)
            np.testing.assert_array_equal(va, vb)
    # One iteration is a shuffled K-fold, not the unshuffled one.
    assert _partition(iterated_kfold_splits(20, 4, 1, seed=9)) != _partition(kfold_splits(20, 4))


# --------------------------------------------------------------------------- equal_size


@pytest.mark.parametrize("n,k", [(10, 3), (11, 4), (17, 5), (100, 10), (7, 7)])
@pytest.mark.parametrize("seed", [None, 1])
def test_equal_size_trims_train_only(n, k, seed):
    folds = kfold_splits(n, k, seed=seed)
    trimmed = equal_size(folds)
    smallest = min(len(t) for t, _ in folds)
    assert smallest == n - (n + k - 1) // k  # n minus the largest fold
    assert len(trimmed) == len(folds)
    for (train_idx, val_idx), (new_train, new_val) in zip(folds, trimmed):
        assert len(new_train) == smallest and new_train.dtype == np.int64
        np.testing.assert_array_equal(new_train, train_idx[:smallest])  # drops the last ones
        np.testing.assert_array_equal(new_val, val_idx)
        assert np.intersect1d(new_train, new_val).size == 0
    # Stackable for jax.vmap: one [K, smallest] array.
    assert np.stack([t for t, _ in trimmed]).shape == (k, smallest)


def test_equal_size_hand_computed_and_does_not_alias():
    # n = 10, k = 3: train sizes 6, 7, 7 -> all trimmed to 6.
    folds = kfold_splits(10, 3)
    trimmed = equal_size(folds)
    assert [t.tolist() for t, _ in trimmed] == [[4, 5, 6, 7, 8, 9], [0, 1, 2, 3, 7, 8], [0, 1, 2, 3, 4, 5]]
    trimmed[0][0][0] = -1
    assert folds[0][0][0] == 4  # the input is not modified through the result
    # Also on iterated K-fold: all P * K train parts get one size.
    sizes = {len(t) for t, _ in equal_size(iterated_kfold_splits(23, 4, 2, seed=0))}
    assert sizes == {17}


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: kfold_splits(10, 1), "k must be >= 2 (number of folds), got k=1"),
        (lambda: kfold_splits(10, 0, seed=0), "got k=0"),
        (lambda: kfold_splits(5, 6), "k must be <= n (every fold needs an example), got k=6 > n=5"),
        (lambda: kfold_splits(1, 2), "n must be >= 2 to split off a validation part, got n=1"),
        (lambda: iterated_kfold_splits(10, 3, 0, seed=0), "iterations must be >= 1, got iterations=0"),
        (lambda: iterated_kfold_splits(10, 11, 2, seed=0), "got k=11 > n=10"),
        (lambda: iterated_kfold_splits(10, 1, 2, seed=0), "got k=1"),
        (
            lambda: holdout_split(10, 0.0, seed=0),
            "validation_fraction must be in the open interval (0, 1), got validation_fraction=0.0",
        ),
        (lambda: holdout_split(10, 1.0, seed=0), "got validation_fraction=1.0"),
        (lambda: holdout_split(10, -0.2, seed=0), "got validation_fraction=-0.2"),
        (lambda: holdout_split(10, float("nan"), seed=0), "got validation_fraction=nan"),
        (lambda: holdout_split(1, 0.5, seed=0), "got n=1"),
        (lambda: holdout_split(0, 0.5, seed=0), "got n=0"),
        (lambda: equal_size([]), "splits must be non-empty"),
    ],
)
def test_errors_name_the_argument_and_value(call, message):
    with pytest.raises(ValueError) as info:
        call()
    assert message in str(info.value)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: kfold_splits(10.0, 2), "n must be an integer, got n=10.0"),
        (lambda: kfold_splits(10, 2.5), "k must be an integer, got k=2.5"),
        (lambda: iterated_kfold_splits(10, 2, True, seed=0), "iterations must be an integer, got iterations=True"),
        (lambda: iterated_kfold_splits(10, 2, 2, seed=None), "seed must be an integer, got seed=None"),
    ],
)
def test_non_integer_arguments_are_type_errors(call, message):
    with pytest.raises(TypeError) as info:
        call()
    assert message in str(info.value)


def test_numpy_integers_are_accepted():
    folds = kfold_splits(np.int64(9), np.int32(3), seed=np.int64(2))
    _assert_is_kfold(folds, 9, 3)
    train_idx, val_idx = holdout_split(np.int64(9), np.float32(0.25), seed=np.int64(2))
    assert len(val_idx) == 2
