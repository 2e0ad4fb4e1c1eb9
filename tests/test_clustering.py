"""Tests for jaxdl.clustering.kmeans: recovery of separated blobs, the restart
guarantee, empty clusters, determinism."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import clustering, metrics

CENTRES = jnp.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])


def blobs(seed, per_blob=25, offset=0.0):
    """Four Gaussian blobs, std 0.5, centres 10 apart (offset added to every point)."""
    labels = jnp.repeat(jnp.arange(4), per_blob)
    noise = 0.5 * jax.random.normal(jax.random.PRNGKey(seed), (4 * per_blob, 2))
    return CENTRES[labels] + noise + offset, labels


@pytest.mark.parametrize("offset", [0.0, 1000.0])
def test_recovers_separated_blobs(offset):
    # offset 1000: far from the origin, where an uncentred |x|^2 expansion loses
    # about 1e-7 * 1e6 = 0.1 of every squared distance.
    x, labels = blobs(0, offset=offset)
    result = clustering.kmeans(jax.random.PRNGKey(1), x, 4)
    assignments = result["assignments"]
    assert assignments.shape == (100,) and assignments.dtype == jnp.int32
    for score in (metrics.normalized_mutual_info, metrics.adjusted_rand_index,
                  metrics.purity):
        assert float(score(labels, assignments, num_classes=4, num_clusters=4)) \
            == pytest.approx(1.0, abs=1e-6)
    # Each true centre has a centroid within 0.3 (the mean of 25 points, std 0.1).
    true_centres = np.asarray(CENTRES) + offset
    found = np.asarray(result["centroids"])
    nearest = np.min(np.linalg.norm(true_centres[:, None] - found[None], axis=-1), axis=1)
    assert np.all(nearest < 0.3)
    # Inertia is the sum of squared distances to the assigned centroids.
    expected = np.sum((np.asarray(x) - found[np.asarray(assignments)]) ** 2)
    assert float(result["inertia"]) == pytest.approx(expected, rel=1e-4)
    # 100 points, 2 dims, variance 0.25 per dim: about 100 * 2 * 0.25 = 50.
    assert 30.0 < float(result["inertia"]) < 70.0


def test_more_restarts_never_worse():
    # Restart i uses fold_in(key, i) whatever `restarts` is, so best-of-8 is a
    # minimum over a superset of best-of-1's single run. rel 1e-6: a batched sum
    # may round a near-tied restart's inertia differently in the last bit.
    x = jax.random.normal(jax.random.PRNGKey(0), (200, 3))   # no cluster structure
    improved = 0
    for seed in range(4):
        key = jax.random.PRNGKey(seed)
        one = float(clustering.kmeans(key, x, 6, iterations=20, restarts=1)["inertia"])
        eight = float(clustering.kmeans(key, x, 6, iterations=20, restarts=8)["inertia"])
        assert eight <= one * (1 + 1e-6)
        improved += eight < one * (1 - 1e-3)
    assert improved >= 1   # the restarts do find better optima on structureless data


def test_lloyd_fixed_point():
    # After convergence every point is assigned to its nearest centroid and every
    # centroid is the mean of its points.
    x = jax.random.normal(jax.random.PRNGKey(3), (120, 2))
    result = clustering.kmeans(jax.random.PRNGKey(4), x, 3, iterations=100, restarts=2)
    xs, c, a = np.asarray(x), np.asarray(result["centroids"]), np.asarray(result["assignments"])
    distances = ((xs[:, None] - c[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(a, distances.argmin(1))
    for j in range(3):
        np.testing.assert_allclose(c[j], xs[a == j].mean(0), atol=1e-5)


def test_empty_cluster_keeps_its_centroid():
    # Three distinct points, five copies each, k = 4: one cluster must end empty;
    # it keeps its centroid (a data point, as k-means++ seeds on data points)
    # instead of becoming 0/0 = NaN or a zero vector (the data mean, once centred).
    points = jnp.array([[1.0, 1.0], [6.0, 1.0], [1.0, 6.0]])
    x = jnp.repeat(points, 5, axis=0)
    result = clustering.kmeans(jax.random.PRNGKey(0), x, 4, iterations=10, restarts=3)
    centroids = np.asarray(result["centroids"])
    assert np.all(np.isfinite(centroids))
    assert float(result["inertia"]) == pytest.approx(0.0, abs=1e-6)
    for c in centroids:
        assert np.min(np.linalg.norm(np.asarray(points) - c, axis=1)) < 1e-5
    assert len(set(np.asarray(result["assignments"]).tolist())) == 3


def test_deterministic():
    # kmeans is itself jitted (k, iterations, restarts static); the defaults and
    # blobs' shape are test_recovers_separated_blobs', so its compilation is reused.
    x, _ = blobs(5)
    key = jax.random.PRNGKey(7)
    first = clustering.kmeans(key, x, 4)
    second = clustering.kmeans(key, x, 4)
    for name in first:
        np.testing.assert_array_equal(first[name], second[name], err_msg=name)
    assert first["centroids"].shape == (4, 2)
    other = clustering.kmeans(jax.random.PRNGKey(8), x, 4)
    # Another key may name the clusters differently, but the partition is the same.
    assert float(metrics.adjusted_rand_index(first["assignments"], other["assignments"],
                                             num_classes=4, num_clusters=4)) == 1.0


def test_agglomerative_cuts_at_the_threshold():
    """Points on a line: 0, 1 | 10, 11.5 | 30. Average linkage merges {0,1} at 1 and
    {10,11.5} at 1.5; the two pairs are 10.25 apart on average, 30 is farther."""
    x = np.array([[0.0], [10.0], [1.0], [30.0], [11.5]])
    np.testing.assert_array_equal(clustering.agglomerative(x, 2.0), [0, 1, 0, 2, 1])
    # below 1.5 the second pair stays apart; ids in order of first appearance
    np.testing.assert_array_equal(clustering.agglomerative(x, 1.2), [0, 1, 0, 2, 3])
    # average linkage of {0,1} and {10,11.5}: (10 + 11.5 + 9 + 10.5) / 4 = 10.25
    assert clustering.agglomerative(x, 10.25).max() == 1
    assert clustering.agglomerative(x, 10.2).max() == 2
    # complete linkage needs the farthest pair, 11.5, to merge them
    assert clustering.agglomerative(x, 11.0, "complete").max() == 2
    assert clustering.agglomerative(x, 11.5, "complete").max() == 1
    assert clustering.agglomerative(x[:1], 1.0).tolist() == [0]
    with pytest.raises(ValueError):
        clustering.agglomerative(x, 1.0, "ward")
