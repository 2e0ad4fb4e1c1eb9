"""Evaluating an embedding on people never seen in training: verification,
identification (k-NN, open set) and clustering, from embeddings and identities.

Distances are plain L2 between embeddings (the course's verification rule:
"same person" when the distance is below the threshold).
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from jaxdl import metrics
from jaxdl.clustering import kmeans
from jaxdl.data import transforms
from jaxdl.tasks.faces.pairs import gallery_probe_split, make_pairs


@dataclasses.dataclass
class EmbeddingReport:
    results: dict                 # JSON-able numbers (see evaluate_embeddings)
    pair_distances: np.ndarray    # float [P], test pairs
    pair_same: np.ndarray         # bool [P]
    threshold: float              # mean of the per-fold verification thresholds
    probes: np.ndarray            # example indices of known probes
    probe_neighbours: np.ndarray  # [Q, 5] example indices of each probe's nearest gallery images
    clusters: np.ndarray | None   # [N] k-means assignment


def pixel_embeddings(images: np.ndarray) -> np.ndarray:
    """The raw-pixel baseline's "embedding": each image flattened, standardised
    (zero mean, unit std over its pixels) and scaled to unit L2 norm. float32 [N, HWC]."""
    x = np.asarray(images, np.float32).reshape(len(images), -1)
    x = (x - x.mean(1, keepdims=True)) / np.maximum(x.std(1, keepdims=True), 1e-6)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def evaluate_embeddings(embeddings: np.ndarray, labels: np.ndarray, *, seed: int = 0,
                        num_folds: int = 10, matched_per_fold: int = 300,
                        mismatched_per_fold: int = 300, unknown_fraction: float = 0.2,
                        far: float = 1e-3, cluster: bool = True,
                        kmeans_restarts: int = 8, kmeans_iterations: int = 50
                        ) -> EmbeddingReport:
    """All three evaluations of `embeddings` [N, D] of people `labels` [N].

    results = {"verification": {accuracy, accuracy_std, auc, tar_at_far_1e-3 (at
    `far`), threshold}, "identification": {top1, top5, open_set_rejection,
    known_rejection}, "clustering": {nmi, ari, purity} (when `cluster`)}.
    - verification: identity-disjoint folds of pairs; each fold's threshold is
      picked on the other folds; AUC and TAR at FAR over all pairs.
    - identification: one gallery image per enrolled person, the others probe;
      `unknown_fraction` of the people are never enrolled and should be rejected
      (nearest distance above the verification threshold).
    - clustering: k-means with k = number of people.
    """
    emb = np.asarray(embeddings, np.float32)
    labels = np.asarray(labels)
    pairs = make_pairs(labels, num_folds=num_folds, matched_per_fold=matched_per_fold,
                       mismatched_per_fold=mismatched_per_fold, seed=seed)
    d = np.linalg.norm(emb[pairs.a] - emb[pairs.b], axis=1)
    ver = metrics.verification_pairs_accuracy(d, pairs.same, pairs.fold, num_folds)
    threshold = float(np.mean(ver["thresholds"]))
    tar = metrics.tar_at_far(d, pairs.same, far)
    verification = {"accuracy": float(ver["accuracy"]),
                    "accuracy_std": float(ver["accuracy_std"]),
                    "auc": float(metrics.roc_auc(pairs.same, -d)),
                    f"tar_at_far_{far:g}": float(tar["tar"]), "threshold": threshold}

    split = gallery_probe_split(labels, unknown_fraction=unknown_fraction, seed=seed)
    k = min(5, len(split.gallery))
    top_labels, top_d = metrics.knn_identify(emb[split.gallery], labels[split.gallery],
                                             emb[split.probes], k=k)
    _, unknown_d = metrics.knn_identify(emb[split.gallery], labels[split.gallery],
                                        emb[split.unknown], k=1)
    true = labels[split.probes]
    identification = {
        "top1": float(metrics.top_k_accuracy(top_labels, true, 1)),
        "top5": float(metrics.top_k_accuracy(top_labels, true, k)),
        "open_set_rejection": float(metrics.open_set_rejection(
            np.asarray(unknown_d)[:, 0], threshold)) if len(split.unknown) else None,
        "known_rejection": float(metrics.open_set_rejection(np.asarray(top_d)[:, 0],
                                                            threshold)),
    }
    # Gallery neighbours of each probe, as example indices (for retrieval plots).
    # Squared distances as |p|^2 + |g|^2 - 2 p.g: memory Q x G, never Q x G x D.
    p, g = emb[split.probes], emb[split.gallery]
    gd = (p * p).sum(1)[:, None] + (g * g).sum(1)[None] - 2.0 * p @ g.T
    neighbours = split.gallery[np.argsort(gd, axis=1, kind="stable")[:, :k]]
    results = {"verification": verification, "identification": identification}
    clusters = None
    if cluster:
        ids, dense = np.unique(labels, return_inverse=True)
        out = kmeans(jax.random.key(seed), emb, len(ids), iterations=kmeans_iterations,
                     restarts=kmeans_restarts)
        clusters = np.asarray(out["assignments"])
        results["clustering"] = {
            name: float(fn(dense, clusters, len(ids), len(ids)))
            for name, fn in (("nmi", metrics.normalized_mutual_info),
                             ("ari", metrics.adjusted_rand_index),
                             ("purity", metrics.purity))}
    return EmbeddingReport(results, d, pairs.same, threshold, split.probes, neighbours,
                           clusters)


def evaluation_options(e, seed: int) -> dict:
    """`evaluate_embeddings` keyword arguments from a config `eval` group."""
    return dict(seed=seed, num_folds=e.num_folds, matched_per_fold=e.matched_per_fold,
                mismatched_per_fold=e.mismatched_per_fold,
                unknown_fraction=e.unknown_fraction, far=e.far,
                kmeans_restarts=e.kmeans_restarts, kmeans_iterations=e.kmeans_iterations)


def pixel_baseline(images: np.ndarray, labels: np.ndarray, *, cluster: bool = True,
                   **options) -> dict:
    """The raw-pixel baseline's headline numbers (verification accuracy, AUC, top-1,
    and NMI when `cluster`) on uint8 images [N, H, W, 3]."""
    r = evaluate_embeddings(pixel_embeddings(images), labels, cluster=cluster,
                            **options).results
    out = {"verification_accuracy": r["verification"]["accuracy"],
           "top1": r["identification"]["top1"], "auc": r["verification"]["auc"]}
    if cluster:
        out["nmi"] = r["clustering"]["nmi"]
    return out


def greyscale_results(embeddings: np.ndarray, images: np.ndarray, labels: np.ndarray,
                      **options) -> dict:
    """The same test people in greyscale (BT.601 luma in 3 equal channels,
    `transforms.to_greyscale`): `embeddings` [N, D] are the encoder's on
    those greyscale `images` [N, H, W, 3]. Returns {"verification",
    "identification", "clustering"} as `evaluate_embeddings`, plus
    "raw_pixel_baseline" (verification accuracy, AUC, top-1 on greyscale pixels; no
    k-means, the slow part on pixels)."""
    results = evaluate_embeddings(embeddings, labels, **options).results
    results["raw_pixel_baseline"] = pixel_baseline(
        transforms.to_greyscale(images), labels, cluster=False, **options)
    return results
