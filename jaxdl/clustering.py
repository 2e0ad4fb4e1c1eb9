"""Clustering of embeddings: k-means (k-means++ initialisation, Lloyd iterations).

Pure and jit-compatible: `k`, `iterations` and `restarts` are static, every shape
depends only on them and on the input's shape. Score a clustering against true
identities with `jaxdl.metrics.normalized_mutual_info`, `adjusted_rand_index` or
`purity`.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from jaxdl.losses import pairwise_squared_distances

__all__ = ["kmeans"]


def _kmeans_plus_plus(key: jax.Array, x: jax.Array, k: int) -> jax.Array:
    """k-means++ seeding (Arthur & Vassilvitskii 2007): [k, D] initial centroids.

    The first centroid is a uniformly drawn point; each next one is drawn with
    probability proportional to its squared distance to the nearest chosen one
    (one candidate per step, not sklearn's greedy best-of-several). If every point
    already coincides with a centroid (fewer than k distinct points), draws are
    uniform.
    """
    n = x.shape[0]
    first_key, rest_key = jax.random.split(key)
    first = x[jax.random.randint(first_key, (), 0, n)]
    centroids = jnp.zeros((k,) + x.shape[1:], x.dtype).at[0].set(first)
    nearest = pairwise_squared_distances(x, first[None])[:, 0]

    def add_centroid(i, carry):
        centroids, nearest = carry
        total = jnp.sum(nearest)
        logits = jnp.where(total > 0, jnp.log(nearest), jnp.zeros_like(nearest))
        chosen = x[jax.random.categorical(jax.random.fold_in(rest_key, i), logits)]
        nearest = jnp.minimum(nearest, pairwise_squared_distances(x, chosen[None])[:, 0])
        return centroids.at[i].set(chosen), nearest

    centroids, _ = jax.lax.fori_loop(1, k, add_centroid, (centroids, nearest))
    return centroids


def _assign(x: jax.Array, centroids: jax.Array) -> jax.Array:
    """int32 [N]: index of the nearest centroid (ties: the lowest index)."""
    return jnp.argmin(pairwise_squared_distances(x, centroids), axis=1).astype(jnp.int32)


def _lloyd(key: jax.Array, x: jax.Array, k: int, iterations: int):
    """One k-means run: (centroids [k, D], assignments [N], inertia scalar)."""
    centroids = _kmeans_plus_plus(key, x, k)

    def step(_, centroids):
        one_hot = jax.nn.one_hot(_assign(x, centroids), k, dtype=x.dtype)   # [N, k]
        counts = jnp.sum(one_hot, axis=0)
        sums = jnp.matmul(one_hot.T, x, precision=jax.lax.Precision.HIGHEST)
        means = sums / jnp.maximum(counts, 1.0)[:, None]
        # An empty cluster keeps its previous centroid.
        return jnp.where(counts[:, None] > 0, means, centroids)

    centroids = jax.lax.fori_loop(0, iterations, step, centroids)
    assignments = _assign(x, centroids)
    inertia = jnp.sum(jnp.square(x - centroids[assignments]))
    return centroids, assignments, inertia


@functools.partial(jax.jit, static_argnames=("k", "iterations", "restarts"))
def kmeans(key: jax.Array, x: jax.Array, k: int, *, iterations: int = 50,
           restarts: int = 8) -> dict[str, jax.Array]:
    """k-means clustering of the rows of x, best of several restarts.

    Each restart seeds with k-means++ and runs exactly `iterations` Lloyd steps
    (assign each point to its nearest centroid, move each centroid to the mean of
    its points) under `lax.fori_loop`; the restarts run at once under `jax.vmap`
    and the one with the lowest inertia is kept (ties: the lowest restart index).
    Restart i uses the key `jax.random.fold_in(key, i)`, so the first r restarts
    are the same for any `restarts >= r`: more restarts never give a higher
    inertia (up to float32 rounding of the sums that rank near-tied restarts).
    An empty cluster keeps its previous centroid (it is not re-seeded). The data
    are centred before clustering (k-means is translation invariant; this keeps
    float32 sums and distances accurate for data far from the origin).

    Args:
      key: PRNG key.
      x: float [N, D], N >= k.
      k: number of clusters (static).
      iterations: Lloyd iterations per restart (static).
      restarts: number of k-means++ restarts (static, >= 1).

    Returns:
      dict with "centroids" float32 [k, D], "assignments" int32 [N] in [0, k) and
      "inertia" float32 scalar: the sum over points of the squared L2 distance to
      their assigned centroid (sklearn's `inertia_`), in squared units of x.
    """
    x = jnp.asarray(x, jnp.float32)
    centre = jnp.mean(x, axis=0)
    centred = x - centre
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(restarts))
    centroids, assignments, inertia = jax.vmap(
        lambda run_key: _lloyd(run_key, centred, k, iterations))(keys)
    best = jnp.argmin(inertia)
    centroids, assignments = centroids[best], assignments[best]
    # Recomputed outside vmap: a batched sum may round differently (the last bit),
    # and the reported inertia of a given restart should not depend on `restarts`.
    inertia = jnp.sum(jnp.square(centred - centroids[assignments]))
    return {"centroids": centroids + centre, "assignments": assignments,
            "inertia": inertia}


__all__ += ["agglomerative"]


def agglomerative(x, threshold: float, linkage: str = "average"):
    """Clusters without a given k: agglomerative (hierarchical) clustering of the rows
    of x by L2 distance, cut where clusters are `threshold` or farther apart.

    Start from singletons and repeatedly merge the two nearest clusters while their
    linkage distance is <= threshold: "average" (UPGMA: mean distance over the pairs
    across the two clusters), "complete" (largest such distance) or "single"
    (smallest). scipy.cluster.hierarchy; numpy, not jit-compatible (memory N^2/2).

    Args:
      x: float [N, D], N >= 1.
      threshold: the cut, in L2 units of x.
      linkage: "average" | "complete" | "single".

    Returns:
      int32 [N] cluster ids in [0, C), numbered in order of first appearance.
    """
    import numpy as np
    from scipy.cluster import hierarchy
    from scipy.spatial.distance import pdist

    if linkage not in ("average", "complete", "single"):
        raise ValueError(f"linkage {linkage!r} is not average, complete or single")
    x = np.asarray(x, np.float64)
    if len(x) < 2:
        return np.zeros(len(x), np.int32)
    tree = hierarchy.linkage(pdist(x), method=linkage)
    raw = hierarchy.fcluster(tree, t=float(threshold), criterion="distance")
    _, first, inverse = np.unique(raw, return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))   # cluster rank by first appearance
    return order[inverse].astype(np.int32)
