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
from jaxdl.data.sources import DataError
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


# -- decisions at a chosen threshold ------------------------------------------
def all_pair_distances(embeddings: np.ndarray, labels: np.ndarray, block: int = 1024):
    """Every pair i < j of the examples, in row blocks (memory block x N): yields
    (distances float64 [B'], same bool [B']) of L2 distances between embeddings
    [N, D] and whether labels [N] agree."""
    emb = np.asarray(embeddings, np.float64)
    labels = np.asarray(labels)
    sq = (emb * emb).sum(1)
    for start in range(0, len(emb) - 1, block):
        rows = np.arange(start, min(start + block, len(emb) - 1))
        d2 = sq[rows, None] + sq[None] - 2.0 * emb[rows] @ emb.T
        upper = np.arange(len(emb))[None] > rows[:, None]
        d = np.sqrt(np.maximum(d2[upper], 0.0))
        yield d, (labels[rows, None] == labels[None])[upper]


def pair_counts(labels: np.ndarray) -> tuple[int, int]:
    """(matched, mismatched): the numbers of pairs i < j with equal / different labels."""
    _, counts = np.unique(np.asarray(labels), return_counts=True)
    n = int(counts.sum())
    matched = int((counts * (counts - 1) // 2).sum())
    return matched, n * (n - 1) // 2 - matched


def far_calibrated_threshold(embeddings: np.ndarray, labels: np.ndarray, far: float,
                             block: int = 1024) -> dict:
    """The largest distance threshold whose false-accept rate over ALL the mismatched
    pairs of these examples is <= `far` (`metrics.threshold_at_far`), with the rates
    reached there. All pairs, not the balanced pairs protocol: 1e-3 needs thousands
    of mismatched pairs to mean more than "no false accept at all".

    Returns {"threshold", "target_far", "far", "tar", "matched_pairs",
    "mismatched_pairs"} (rates on these same pairs: "far" <= target by construction).
    """
    matched, mismatched = pair_counts(labels)
    if not mismatched:
        raise DataError("a FAR threshold needs examples of at least two people")
    keep = min(int(np.floor(far * mismatched + 1e-4)) + 1, mismatched)
    smallest = np.zeros(0)
    for d, same in all_pair_distances(embeddings, labels, block):
        smallest = np.concatenate([smallest, d[~same]])
        if smallest.size > keep:
            smallest = np.partition(smallest, keep - 1)[:keep]
    threshold = metrics.threshold_at_far(smallest, far, num_mismatched=mismatched)
    if not np.isfinite(threshold):   # far >= 1: everything accepted
        threshold = float(np.nextafter(smallest.max(), np.inf))
    rates = pair_rates(embeddings, labels, threshold, block)
    return {"threshold": threshold, "target_far": float(far), "far": rates["far"],
            "tar": rates["tar"], "matched_pairs": matched, "mismatched_pairs": mismatched}


def pair_rates(embeddings: np.ndarray, labels: np.ndarray, threshold: float,
               block: int = 1024) -> dict:
    """`metrics.accept_rates` over all pairs i < j of the examples (counted in blocks)."""
    total = {"true_accepts": 0, "false_accepts": 0, "matched": 0, "mismatched": 0}
    for d, same in all_pair_distances(embeddings, labels, block):
        for key, value in metrics.accept_rates(d, same, threshold).items():
            if key in total:
                total[key] += value
    return {"tar": total["true_accepts"] / max(total["matched"], 1),
            "far": total["false_accepts"] / max(total["mismatched"], 1), **total}


def decisions_at_threshold(embeddings: np.ndarray, labels: np.ndarray, threshold: float,
                           *, seed: int = 0, unknown_fraction: float = 0.2) -> dict:
    """Verification and open-set identification of people `labels` [N] at one fixed
    distance `threshold` on `embeddings` [N, D].

    - "tar", "far": over all pairs i < j (`pair_rates`), with the pair counts.
    - "open_set_rejection", "known_rejection", "known_identified": the gallery /
      probe / unknown split of `evaluate_embeddings` (same `seed` and
      `unknown_fraction`): the fraction of never-enrolled people's images rejected
      (nearest gallery face farther than `threshold`, `metrics.open_set_rejection`),
      of enrolled people's probes wrongly rejected, and of enrolled people's probes
      accepted AND named right. "open_set_rejection" is None with no unknown person.
    """
    emb = np.asarray(embeddings, np.float32)
    labels = np.asarray(labels)
    rates = pair_rates(emb, labels, threshold)
    split = gallery_probe_split(labels, unknown_fraction=unknown_fraction, seed=seed)
    top, top_d = metrics.knn_identify(emb[split.gallery], labels[split.gallery],
                                      emb[split.probes], k=1)
    nearest = np.asarray(top_d)[:, 0]
    out = {"threshold": float(threshold), "tar": rates["tar"], "far": rates["far"],
           "matched_pairs": rates["matched"], "mismatched_pairs": rates["mismatched"],
           "open_set_rejection": None,
           "known_rejection": float(metrics.open_set_rejection(nearest, threshold)),
           "known_identified": float(np.mean((nearest <= threshold)
                                             & (np.asarray(top)[:, 0] == labels[split.probes])))}
    if len(split.unknown):
        _, unknown_d = metrics.knn_identify(emb[split.gallery], labels[split.gallery],
                                            emb[split.unknown], k=1)
        out["open_set_rejection"] = float(metrics.open_set_rejection(
            np.asarray(unknown_d)[:, 0], threshold))
    return out


def clustering_without_k(embeddings: np.ndarray, labels: np.ndarray, threshold: float,
                         linkage: str = "average") -> dict:
    """Agglomerative clustering (`jaxdl.clustering.agglomerative`) cut at `threshold`,
    scored against the true people: {"linkage", "threshold", "people_found",
    "true_people", "nmi", "ari"}."""
    from jaxdl.clustering import agglomerative
    _, dense = np.unique(np.asarray(labels), return_inverse=True)
    clusters = agglomerative(embeddings, threshold, linkage)
    people, found = int(dense.max()) + 1, int(clusters.max()) + 1
    return {"linkage": linkage, "threshold": float(threshold), "people_found": found,
            "true_people": people,
            **{name: float(fn(dense, clusters, people, found))
               for name, fn in (("nmi", metrics.normalized_mutual_info),
                                ("ari", metrics.adjusted_rand_index))}}


def threshold_report(val_emb: np.ndarray, val_labels: np.ndarray, val_pairs,
                     test_emb: np.ndarray, test_labels: np.ndarray,
                     accuracy_threshold: float, *, target_far: float = 1e-3, seed: int = 0,
                     unknown_fraction: float = 0.2, linkage: str = "average") -> dict:
    """Decision thresholds calibrated on the validation people, and the test people
    scored at them (results.json keys):

    - "thresholds": "far_calibrated" (the largest distance with FAR <= `target_far`
      over all mismatched pairs of validation images, `far_calibrated_threshold`),
      "target_far", "validation_far" / "validation_tar" reached there,
      "validation_matched_pairs" / "validation_mismatched_pairs" it came from;
      "accuracy_optimal" (`accuracy_threshold`: the run's verification.threshold, as
      the verbs used it before) and "accuracy_optimal_validation" (the
      accuracy-optimal threshold on the balanced validation pairs `val_pairs`).
    - "test_at_target_far" / "test_at_accuracy_threshold": `decisions_at_threshold`
      on the test people at "far_calibrated" / "accuracy_optimal".
    - "clustering_without_k": `clustering_without_k` of the test people cut at
      "accuracy_optimal_validation" (a threshold that never saw a test label).
    """
    far = far_calibrated_threshold(val_emb, val_labels, target_far)
    d = np.linalg.norm(val_emb[val_pairs.a] - val_emb[val_pairs.b], axis=1)
    val_accuracy = metrics.accuracy_optimal_threshold(d, val_pairs.same)
    options = dict(seed=seed, unknown_fraction=unknown_fraction)
    return {
        "thresholds": {
            "far_calibrated": far["threshold"], "target_far": float(target_far),
            "accuracy_optimal": float(accuracy_threshold),
            "accuracy_optimal_validation": val_accuracy,
            "validation_far": far["far"], "validation_tar": far["tar"],
            "validation_matched_pairs": far["matched_pairs"],
            "validation_mismatched_pairs": far["mismatched_pairs"]},
        "test_at_target_far": decisions_at_threshold(test_emb, test_labels,
                                                     far["threshold"], **options),
        "test_at_accuracy_threshold": decisions_at_threshold(
            test_emb, test_labels, accuracy_threshold, **options),
        "clustering_without_k": clustering_without_k(test_emb, test_labels, val_accuracy,
                                                     linkage),
    }
