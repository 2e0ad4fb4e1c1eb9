"""Pure metric functions: jnp arrays in, jnp arrays out.

Every function here is jit-compatible: output shapes depend only on input shapes
(and on static Python arguments such as ``num_classes``), never on values, so the
same code runs under ``jax.jit``, ``jax.vmap`` (K folds evaluated at once) and
inside a pmapped / sharded eval step.

Conventions:

- ``N`` is the number of examples; per-example arrays have shape ``[N]``.
- Binary labels are ``{0, 1}`` with 1 the positive class.
- ``mask`` (optional, bool or 0/1, shape ``[N]``): entries where it is false/0 are
  ignored, as if absent. Use it for the padding of the last, partial batch, or for
  folds of unequal size stacked under ``jax.vmap``. ``mask=None`` counts every entry.
- The public functions are wrapped in ``jax.jit`` (static: ``num_classes``): called
  eagerly, e.g. on a whole validation set after training, they compile once per
  input shape instead of dispatching dozens of small ops; inside a caller's
  ``jit`` / ``vmap`` the wrapper is inlined and costs nothing.
- Ratios whose denominator is zero (no predicted positives, no positives, nothing
  unmasked, ...) are 0.0, never NaN, so a report or a ``jnp.mean`` over folds never
  silently turns into NaN. The docstrings say where a different value is used.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

__all__ = [
    "accuracy",
    "binary_metrics",
    "confusion_matrix",
    "majority_baseline",
    "mean_and_std",
    "roc_auc",
    "roc_curve",
]


def _valid(mask, n: int) -> jax.Array:
    """Mask as a bool ``[n]`` array (all true when ``mask`` is None)."""
    if mask is None:
        return jnp.ones((n,), dtype=bool)
    return jnp.asarray(mask).astype(bool).reshape(n)


def _safe_ratio(numerator, denominator) -> jax.Array:
    """``numerator / denominator`` as float32, and 0.0 where the denominator is 0."""
    numerator = jnp.asarray(numerator, jnp.float32)
    denominator = jnp.asarray(denominator, jnp.float32)
    nonzero = denominator != 0
    # Divide by 1 where the denominator is 0 so that no NaN is ever computed
    # (a NaN in a discarded `where` branch would still poison gradients).
    return jnp.where(nonzero, numerator / jnp.where(nonzero, denominator, 1.0), 0.0)


@functools.partial(jax.jit, static_argnames="num_classes")
def confusion_matrix(labels, predictions, num_classes: int = 2, mask=None) -> jax.Array:
    """Counts of (true class, predicted class) pairs.

    Args:
      labels: int ``[N]``, true classes in ``[0, num_classes)``.
      predictions: int ``[N]``, predicted classes in ``[0, num_classes)``.
      num_classes: ``C``, a static Python int (pass it via ``static_argnames``
        under ``jax.jit``).
      mask: optional bool/0-1 ``[N]``; masked-out entries are not counted.

    Returns:
      int32 ``[C, C]``: entry ``[i, j]`` counts examples of true class ``i``
      predicted as class ``j`` (rows = truth, columns = prediction). For binary
      problems this is ``[[TN, FP], [FN, TP]]``. Labels or predictions outside
      ``[0, C)`` are not counted.
    """
    labels = jnp.asarray(labels)
    predictions = jnp.asarray(predictions)
    valid = _valid(mask, labels.shape[0]).astype(jnp.int32)
    true_one_hot = jax.nn.one_hot(labels, num_classes, dtype=jnp.int32) * valid[:, None]
    pred_one_hot = jax.nn.one_hot(predictions, num_classes, dtype=jnp.int32)
    return jnp.einsum("ni,nj->ij", true_one_hot, pred_one_hot).astype(jnp.int32)


@jax.jit
def accuracy(labels, predictions, mask=None) -> jax.Array:
    """Fraction of (unmasked) examples whose prediction equals the label.

    Args:
      labels: int ``[N]``, true classes (any number of classes).
      predictions: int ``[N]``, predicted classes.
      mask: optional bool/0-1 ``[N]``.

    Returns:
      float32 scalar in ``[0, 1]``; 0.0 when every entry is masked out.
    """
    labels = jnp.asarray(labels)
    valid = _valid(mask, labels.shape[0])
    correct = jnp.sum((labels == jnp.asarray(predictions)) & valid)
    return _safe_ratio(correct, jnp.sum(valid))


@jax.jit
def binary_metrics(labels, probs, threshold=0.5, mask=None) -> dict[str, jax.Array]:
    """Accuracy, precision, recall, specificity and F1 of a thresholded classifier.

    An example is predicted positive when ``probs > threshold`` (strictly, as Keras'
    ``BinaryAccuracy`` and sklearn's ``predict`` do; a probability exactly at the
    threshold is predicted negative).

    Args:
      labels: ``[N]`` in ``{0, 1}``, 1 = positive class.
      probs: float ``[N]``, the model's probability (or any score) of class 1.
      threshold: scalar; may be a traced value.
      mask: optional bool/0-1 ``[N]``.

    Returns:
      dict with float32 scalars
        ``accuracy``    = (TP + TN) / (TP + TN + FP + FN),
        ``precision``   = TP / (TP + FP),
        ``recall``      = TP / (TP + FN)  (true-positive rate, sensitivity),
        ``specificity`` = TN / (TN + FP)  (true-negative rate),
        ``f1``          = 2 TP / (2 TP + FP + FN)  (harmonic mean of precision, recall),
      and ``confusion_matrix``, int32 ``[2, 2]`` = ``[[TN, FP], [FN, TP]]``.
      Any ratio whose denominator is zero (e.g. precision when nothing is predicted
      positive, recall when there are no positives) is 0.0, not NaN.
    """
    labels = jnp.asarray(labels)
    probs = jnp.asarray(probs)
    truth = (labels == 1).astype(jnp.int32)
    predicted = (probs > threshold).astype(jnp.int32)
    cm = confusion_matrix(truth, predicted, num_classes=2, mask=mask)
    tn, fp, fn, tp = cm[0, 0], cm[0, 1], cm[1, 0], cm[1, 1]
    return {
        "accuracy": _safe_ratio(tp + tn, tp + tn + fp + fn),
        "precision": _safe_ratio(tp, tp + fp),
        "recall": _safe_ratio(tp, tp + fn),
        "specificity": _safe_ratio(tn, tn + fp),
        "f1": _safe_ratio(2 * tp, 2 * tp + fp + fn),
        "confusion_matrix": cm,
    }


@jax.jit
def roc_curve(labels, scores, mask=None) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Receiver operating characteristic curve, with fixed-length outputs.

    Point ``i`` is the (false-positive rate, true-positive rate) of the classifier
    "positive when ``score >= thresholds[i]``". Point 0 is ``(0, 0)`` at threshold
    ``+inf``; point ``i >= 1`` uses the ``i``-th highest score as the threshold.

    Tied scores: every example of a tie group gets the same decision, so points
    inside a tie group are not achievable and would draw a staircase whose area
    depends on the input order. Each point of a tie group is instead the group's
    end point (the same point repeated), so the curve goes diagonally across the
    group, as sklearn's does after dropping intermediate points.

    Masked-out entries are sorted after all valid ones and their points repeat the
    final point ``(1, 1)`` with threshold ``-inf``; so appending masked junk to the
    inputs leaves the first ``N + 1`` points unchanged.

    One class absent (no positives or no negatives among the valid entries): the
    missing rate is undefined; it is set equal to the other rate, so the curve is
    the chance diagonal and its area is 0.5. With nothing valid every point after
    the first is ``(1, 1)``.

    Args:
      labels: ``[N]`` in ``{0, 1}``, 1 = positive class.
      scores: float ``[N]``, higher = more positive (probabilities or logits; no NaN).
      mask: optional bool/0-1 ``[N]``.

    Returns:
      ``(fpr, tpr, thresholds)``, each ``[N + 1]``: fpr and tpr float32, monotone
      non-decreasing from 0 to 1; thresholds in the scores' float dtype,
      non-increasing, starting at ``+inf``.
    """
    labels = jnp.asarray(labels)
    scores = jnp.asarray(scores)
    if not jnp.issubdtype(scores.dtype, jnp.floating):
        scores = scores.astype(jnp.float32)
    n = scores.shape[0]
    valid = _valid(mask, n)
    positive = ((labels == 1) & valid).astype(jnp.float32)
    negative = ((labels != 1) & valid).astype(jnp.float32)

    # Sort valid entries first, then by decreasing score. Keys: (masked?, -score).
    # The sort is stable, so the result does not depend on anything else.
    invalid_key = (~valid).astype(jnp.int32)
    _, neg_sorted_scores, pos_sorted, neg_sorted, valid_sorted = jax.lax.sort(
        (invalid_key, -scores, positive, negative, valid), num_keys=2, is_stable=True
    )
    sorted_scores = -neg_sorted_scores

    true_positives = jnp.cumsum(pos_sorted)
    false_positives = jnp.cumsum(neg_sorted)

    # Tie groups: position i's group ends at the first j >= i where the next entry
    # has a different key. A reverse cumulative min over "end index or n" gives it.
    same_as_next = (sorted_scores[:-1] == sorted_scores[1:]) & (
        valid_sorted[:-1] == valid_sorted[1:]
    )
    is_group_end = jnp.concatenate([~same_as_next, jnp.ones((1,), dtype=bool)])
    index = jnp.arange(n)
    group_end = jax.lax.cummin(jnp.where(is_group_end, index, n), reverse=True)
    true_positives = true_positives[group_end]
    false_positives = false_positives[group_end]

    num_positive = jnp.sum(positive)
    num_negative = jnp.sum(negative)
    raw_tpr = true_positives / jnp.maximum(num_positive, 1.0)
    raw_fpr = false_positives / jnp.maximum(num_negative, 1.0)
    ones = jnp.ones_like(raw_tpr)
    tpr = jnp.where(num_positive > 0, raw_tpr, jnp.where(num_negative > 0, raw_fpr, ones))
    fpr = jnp.where(num_negative > 0, raw_fpr, jnp.where(num_positive > 0, raw_tpr, ones))

    zero = jnp.zeros((1,), jnp.float32)
    fpr = jnp.concatenate([zero, fpr]).astype(jnp.float32)
    tpr = jnp.concatenate([zero, tpr]).astype(jnp.float32)
    thresholds = jnp.where(valid_sorted, sorted_scores, -jnp.inf).astype(scores.dtype)
    thresholds = jnp.concatenate([jnp.full((1,), jnp.inf, scores.dtype), thresholds])
    return fpr, tpr, thresholds


@jax.jit
def roc_auc(labels, scores, mask=None) -> jax.Array:
    """Area under the ROC curve of :func:`roc_curve` (trapezoidal rule).

    Because tie groups are crossed diagonally, this equals the Mann-Whitney
    statistic ``P(score_pos > score_neg) + 0.5 * P(score_pos == score_neg)`` over
    all (valid positive, valid negative) pairs: 1.0 for a perfect ranking, 0.0 for
    an inverted one, 0.5 for chance. When one class is absent (no pairs) it is 0.5.

    Args:
      labels: ``[N]`` in ``{0, 1}``, 1 = positive class.
      scores: float ``[N]``, higher = more positive.
      mask: optional bool/0-1 ``[N]``.

    Returns:
      float32 scalar in ``[0, 1]``.
    """
    fpr, tpr, _ = roc_curve(labels, scores, mask=mask)
    area = jnp.sum((fpr[1:] - fpr[:-1]) * (tpr[1:] + tpr[:-1])) * 0.5
    return area.astype(jnp.float32)


@functools.partial(jax.jit, static_argnames="num_classes")
def majority_baseline(
    train_labels, test_labels, num_classes: int = 2, train_mask=None, test_mask=None
) -> dict[str, jax.Array]:
    """The "beat a baseline" reference: always predict the training majority class.

    Args:
      train_labels: int ``[N_train]`` in ``[0, num_classes)``.
      test_labels: int ``[N_test]``.
      num_classes: ``C``, a static Python int.
      train_mask: optional bool/0-1 ``[N_train]``; masked entries are not counted.
      test_mask: optional bool/0-1 ``[N_test]``.

    Returns:
      dict with ``majority_class`` (int32 scalar; ties go to the smallest class
      index) and ``accuracy`` (float32 scalar: the fraction of valid test labels
      equal to it; 0.0 if no test label is valid).
    """
    train_labels = jnp.asarray(train_labels)
    test_labels = jnp.asarray(test_labels)
    valid = _valid(train_mask, train_labels.shape[0]).astype(jnp.int32)
    counts = jnp.sum(jax.nn.one_hot(train_labels, num_classes, dtype=jnp.int32) * valid[:, None], axis=0)
    majority_class = jnp.argmax(counts).astype(jnp.int32)  # argmax: first maximum
    predictions = jnp.full(test_labels.shape, majority_class)
    return {
        "accuracy": accuracy(test_labels, predictions, mask=test_mask),
        "majority_class": majority_class,
    }


@jax.jit
def mean_and_std(scores) -> tuple[jax.Array, jax.Array]:
    """Mean and population standard deviation (ddof=0) of a set of scores.

    Used to report K-fold / iterated K-fold results as ``mean +- std``. The
    population std (divide by K, not K - 1) is what ``np.std`` gives by default;
    it is 0.0 for a single score rather than NaN.

    Args:
      scores: float ``[K]`` (e.g. one validation score per fold).

    Returns:
      ``(mean, std)``, float32 scalars.
    """
    scores = jnp.asarray(scores, jnp.float32)
    mean = jnp.mean(scores)
    std = jnp.sqrt(jnp.mean(jnp.square(scores - mean)))
    return mean, std


# --------------------------------------------------------------------------- face verification
# Verification, identification and clustering scores for the face case study.
# Distances are what the embedding model's users compare against a threshold:
# a pair is accepted as "same person" when its distance is strictly below it.

import numpy as np  # noqa: E402  (evaluation-only code below uses float64 numpy)

from jaxdl.losses import pairwise_squared_distances  # noqa: E402

__all__ += [
    "adjusted_rand_index",
    "knn_identify",
    "normalized_mutual_info",
    "open_set_rejection",
    "purity",
    "tar_at_far",
    "top_k_accuracy",
    "verification_pairs_accuracy",
]


def _best_threshold(distances: np.ndarray, same: np.ndarray) -> float:
    """The threshold t maximising the accuracy of "same iff distance < t".

    Candidates: the midpoints between consecutive distinct sorted distances, plus
    the two extremes (the smallest distance, below which nothing is accepted, and
    the next float above the largest, below which everything is). Ties in accuracy
    go to the smallest threshold.
    """
    values = np.unique(distances)
    candidates = np.concatenate([
        values[:1], (values[:-1] + values[1:]) / 2.0,
        [np.nextafter(values[-1], np.inf)]])
    same_sorted = np.sort(distances[same])
    diff_sorted = np.sort(distances[~same])
    # accepted same pairs (d < t) + rejected different pairs (d >= t)
    correct = (np.searchsorted(same_sorted, candidates, side="left")
               + diff_sorted.size - np.searchsorted(diff_sorted, candidates, side="left"))
    return float(candidates[np.argmax(correct)])  # argmax: first (smallest) maximum


def verification_pairs_accuracy(distances, same, fold_ids, num_folds: int = 10) -> dict:
    """Pair-verification accuracy with the LFW 10-fold protocol.

    For each fold f, the threshold ("same person" iff distance < threshold) is
    the one maximising accuracy on the pairs of the OTHER folds (candidates:
    midpoints between consecutive sorted distances of those pairs, plus the two
    extremes; ties go to the smallest), and it is scored on fold f's pairs only,
    so no threshold is ever tuned on the pairs it is scored on. Numpy, float64,
    deterministic; not jit-compatible (it is evaluation code).

    Args:
      distances: float [P], one distance per pair (any units, e.g. L2).
      same: bool/0-1 [P], true for matched pairs (same identity).
      fold_ids: int [P] in [0, num_folds), the fold of each pair.
      num_folds: K (LFW: 10); every fold must hold at least one pair, and the
        other folds together at least one.

    Returns:
      dict with "accuracy" (mean over folds, float), "accuracy_std" (population
      std over folds, ddof=0, float), "thresholds" (float64 [num_folds]: fold f's
      threshold) and "fold_accuracies" (float64 [num_folds]).
    """
    distances = np.asarray(distances, np.float64).reshape(-1)
    same = np.asarray(same).astype(bool).reshape(-1)
    fold_ids = np.asarray(fold_ids).reshape(-1)
    if not distances.size == same.size == fold_ids.size:
        raise ValueError(f"distances, same and fold_ids differ in length: "
                         f"{distances.size}, {same.size}, {fold_ids.size}")
    thresholds = np.zeros(num_folds)
    fold_accuracies = np.zeros(num_folds)
    for fold in range(num_folds):
        test = fold_ids == fold
        if not test.any() or test.all():
            raise ValueError(f"fold {fold} holds {int(test.sum())} of {test.size} pairs; "
                             "each fold needs some pairs and the others some too")
        thresholds[fold] = _best_threshold(distances[~test], same[~test])
        fold_accuracies[fold] = np.mean((distances[test] < thresholds[fold]) == same[test])
    return {
        "accuracy": float(np.mean(fold_accuracies)),
        "accuracy_std": float(np.std(fold_accuracies)),
        "thresholds": thresholds,
        "fold_accuracies": fold_accuracies,
    }


@jax.jit
def tar_at_far(distances, same, far=1e-3) -> dict[str, jax.Array]:
    """True-accept rate at a fixed false-accept rate (pairs accepted when d < t).

    The threshold t is the largest one whose false-accept rate on the mismatched
    pairs, #{mismatched: d < t} / #mismatched, is <= far: with k = floor(far *
    #mismatched) false accepts allowed, t is the (k+1)-th smallest mismatched
    distance (+inf when k >= #mismatched: everything may be accepted). The
    product far * #mismatched is rounded up to the next integer if it is within
    1e-4 of it, so that float32 rounding of, say, 1e-3 * 1000 cannot lose a
    false accept.

    Args:
      distances: float [P], one distance per pair.
      same: bool/0-1 [P], true for matched pairs.
      far: the allowed false-accept rate in [0, 1] (may be traced).

    Returns:
      dict with "tar" (float32: fraction of matched pairs with d < threshold; 0.0
      with no matched pair) and "threshold" (float32, possibly +inf).
    """
    distances = jnp.asarray(distances, jnp.float32)
    same = jnp.asarray(same).astype(bool)
    num_mismatched = jnp.sum(~same)
    allowed = jnp.floor(far * num_mismatched.astype(jnp.float32) + 1e-4).astype(jnp.int32)
    # Mismatched distances first, in increasing order; matched ones as +inf after them.
    mismatched_sorted = jnp.sort(jnp.where(same, jnp.inf, distances))
    index = jnp.clip(allowed, 0, distances.shape[0] - 1)
    threshold = jnp.where(allowed < num_mismatched, mismatched_sorted[index], jnp.inf)
    accepted = jnp.sum(same & (distances < threshold))
    return {"tar": _safe_ratio(accepted, jnp.sum(same)), "threshold": threshold}


@functools.partial(jax.jit, static_argnames="k")
def knn_identify(gallery, gallery_labels, probes, k: int = 5) -> tuple[jax.Array, jax.Array]:
    """The k nearest gallery embeddings of each probe, by plain (not squared) L2.

    Args:
      gallery: float [G, D], enrolled embeddings.
      gallery_labels: int [G], their identities.
      probes: float [Q, D], embeddings to identify.
      k: static int, 1 <= k <= G.

    Returns:
      (top_k_labels int [Q, k], top_k_distances float32 [Q, k]): the identities
      and L2 distances of the k nearest gallery entries, nearest first (ties: the
      lower gallery index first). Column 0 is the 1-NN identification.
    """
    gallery_labels = jnp.asarray(gallery_labels)
    distances = jnp.sqrt(pairwise_squared_distances(probes, gallery))
    negated, indices = jax.lax.top_k(-distances, k)
    return gallery_labels[indices], -negated


@functools.partial(jax.jit, static_argnames="k")
def top_k_accuracy(top_k_labels, true_labels, k: int) -> jax.Array:
    """Fraction of probes whose true identity is among the first k of `top_k_labels`.

    Args:
      top_k_labels: int [Q, K] (from `knn_identify`), nearest first; k <= K.
      true_labels: int [Q].
      k: static int.

    Returns:
      float32 scalar in [0, 1] (k = 1: 1-NN identification accuracy).
    """
    top_k_labels = jnp.asarray(top_k_labels)
    if not 1 <= k <= top_k_labels.shape[1]:
        raise ValueError(f"k = {k} outside [1, {top_k_labels.shape[1]}] (the columns given)")
    top_k_labels = top_k_labels[:, :k]
    hit = jnp.any(top_k_labels == jnp.asarray(true_labels)[:, None], axis=1)
    return jnp.mean(hit.astype(jnp.float32))


@jax.jit
def open_set_rejection(nearest_distances, threshold) -> jax.Array:
    """Fraction of probes rejected as "not in the database": nearest distance > threshold.

    Args:
      nearest_distances: float [Q], each probe's distance to its nearest gallery
        entry (e.g. column 0 of `knn_identify`'s distances; course: L2, t = 0.7).
      threshold: scalar, same units.

    Returns:
      float32 scalar in [0, 1].
    """
    rejected = jnp.asarray(nearest_distances) > threshold
    return jnp.mean(rejected.astype(jnp.float32))


def _contingency(labels_true, labels_pred, num_classes: int, num_clusters: int,
                 mask) -> jax.Array:
    """float32 [num_classes, num_clusters] counts of (true label, cluster) pairs."""
    labels_true = jnp.asarray(labels_true)
    valid = _valid(mask, labels_true.shape[0]).astype(jnp.float32)
    true_one_hot = jax.nn.one_hot(labels_true, num_classes, dtype=jnp.float32) * valid[:, None]
    pred_one_hot = jax.nn.one_hot(jnp.asarray(labels_pred), num_clusters, dtype=jnp.float32)
    return jnp.einsum("ni,nj->ij", true_one_hot, pred_one_hot,
                      precision=jax.lax.Precision.HIGHEST)


def _entropy(counts: jax.Array, total: jax.Array) -> jax.Array:
    """Entropy in nats of the distribution counts / total (0 log 0 = 0)."""
    p = counts / jnp.maximum(total, 1.0)
    return -jnp.sum(jnp.where(p > 0, p * jnp.log(jnp.where(p > 0, p, 1.0)), 0.0))


@functools.partial(jax.jit, static_argnames=("num_classes", "num_clusters"))
def normalized_mutual_info(labels_true, labels_pred, num_classes: int,
                           num_clusters: int, mask=None) -> jax.Array:
    """Normalised mutual information between true labels and a clustering.

    NMI = I(U; V) / ((H(U) + H(V)) / 2): the arithmetic-mean normalisation, sklearn's
    default (`average_method="arithmetic"`). Invariant to renaming labels or
    clusters. As sklearn: 1.0 when both labelings put everything in one group, 0.0
    when either does and the other does not.

    Args:
      labels_true: int [N] in [0, num_classes).
      labels_pred: int [N] in [0, num_clusters) (e.g. k-means assignments).
      num_classes, num_clusters: static ints (upper bounds; unused ids are fine).
      mask: optional bool/0-1 [N]; masked entries are ignored.

    Returns:
      float32 scalar in [0, 1].
    """
    table = _contingency(labels_true, labels_pred, num_classes, num_clusters, mask)
    total = jnp.sum(table)
    rows, cols = jnp.sum(table, axis=1), jnp.sum(table, axis=0)
    joint = table / jnp.maximum(total, 1.0)
    independent = jnp.outer(rows, cols) / jnp.maximum(total, 1.0) ** 2
    mutual = jnp.sum(jnp.where(
        table > 0, joint * jnp.log(jnp.where(table > 0, joint, 1.0)
                                   / jnp.where(table > 0, independent, 1.0)), 0.0))
    h_true, h_pred = _entropy(rows, total), _entropy(cols, total)
    normaliser = (h_true + h_pred) / 2.0
    both_trivial = (jnp.sum(rows > 0) <= 1) & (jnp.sum(cols > 0) <= 1)
    # Clipped to [0, 1]: outside it only by float32 rounding.
    nmi = jnp.clip(_safe_ratio(mutual, normaliser), 0.0, 1.0)
    return jnp.where(both_trivial, 1.0, nmi).astype(jnp.float32)


@functools.partial(jax.jit, static_argnames=("num_classes", "num_clusters"))
def adjusted_rand_index(labels_true, labels_pred, num_classes: int,
                        num_clusters: int, mask=None) -> jax.Array:
    """Adjusted Rand index (Hubert & Arabie) between true labels and a clustering.

    ARI = (sum_ij C(n_ij, 2) - E) / ((A + B) / 2 - E), with A = sum_i C(a_i, 2),
    B = sum_j C(b_j, 2) over the contingency table's row / column sums and
    E = A B / C(n, 2). 1.0 for identical partitions (up to renaming), about 0 for
    random ones, negative for worse than chance. As sklearn: 1.0 when the
    denominator is 0 (both labelings one group, or both all singletons).
    Computed in float32: pair counts are exact up to N of about 5,000; beyond,
    they carry float32's relative rounding (about 1e-7).

    Args:
      labels_true: int [N] in [0, num_classes).
      labels_pred: int [N] in [0, num_clusters).
      num_classes, num_clusters: static ints.
      mask: optional bool/0-1 [N].

    Returns:
      float32 scalar in [-1, 1].
    """
    table = _contingency(labels_true, labels_pred, num_classes, num_clusters, mask)

    def pairs(counts):
        return counts * (counts - 1.0) / 2.0

    total = jnp.sum(table)
    index = jnp.sum(pairs(table))
    sum_rows = jnp.sum(pairs(jnp.sum(table, axis=1)))
    sum_cols = jnp.sum(pairs(jnp.sum(table, axis=0)))
    expected = _safe_ratio(sum_rows * sum_cols, pairs(total))
    denominator = (sum_rows + sum_cols) / 2.0 - expected
    return jnp.where(denominator == 0, 1.0, _safe_ratio(index - expected, denominator)
                     ).astype(jnp.float32)


@functools.partial(jax.jit, static_argnames=("num_classes", "num_clusters"))
def purity(labels_true, labels_pred, num_classes: int, num_clusters: int,
           mask=None) -> jax.Array:
    """Cluster purity: each cluster votes for its majority true label.

    purity = sum over clusters of (count of its most common true label) / N.
    1.0 for a perfect clustering, but also for all-singleton clusters: read it
    with NMI or ARI.

    Args:
      labels_true: int [N] in [0, num_classes).
      labels_pred: int [N] in [0, num_clusters).
      num_classes, num_clusters: static ints.
      mask: optional bool/0-1 [N].

    Returns:
      float32 scalar in [0, 1]; 0.0 when nothing is valid.
    """
    table = _contingency(labels_true, labels_pred, num_classes, num_clusters, mask)
    return _safe_ratio(jnp.sum(jnp.max(table, axis=0)), jnp.sum(table))


__all__ += ["accept_rates", "accuracy_optimal_threshold", "threshold_at_far"]


def threshold_at_far(mismatched_distances, far: float, num_mismatched: int | None = None
                     ) -> float:
    """The largest threshold t whose false-accept rate #{mismatched: d < t} /
    num_mismatched is <= `far` (pairs accepted as "same" when d < t).

    With k = floor(far * num_mismatched) false accepts allowed (rounded up when
    within 1e-4 of the next integer, as `tar_at_far`), t is the (k+1)-th smallest
    mismatched distance; +inf when k >= num_mismatched. Numpy, float64.

    Args:
      mismatched_distances: float [M'], distances of mismatched pairs.
      far: target false-accept rate in [0, 1].
      num_mismatched: M, the number of mismatched pairs the rate is over (default
        M'). A caller may pass only the smallest M' >= k+1 distances of M pairs.

    Returns:
      float: the threshold, in the distances' units (possibly +inf).
    """
    d = np.asarray(mismatched_distances, np.float64).reshape(-1)
    m = d.size if num_mismatched is None else int(num_mismatched)
    if not 0.0 <= far <= 1.0:
        raise ValueError(f"far = {far} outside [0, 1]")
    if m < d.size:
        raise ValueError(f"num_mismatched = {m} < {d.size} distances given")
    allowed = int(np.floor(far * m + 1e-4))
    if allowed >= m:
        return float("inf")
    if allowed >= d.size:
        raise ValueError(f"{d.size} distances given; the {allowed + 1} smallest of the "
                         f"{m} mismatched pairs are needed")
    return float(np.partition(d, allowed)[allowed])


def accept_rates(distances, same, threshold: float) -> dict:
    """True- and false-accept rates of "same iff distance < threshold" on pairs.

    Args:
      distances: float [P]; same: bool/0-1 [P], true for matched pairs.
      threshold: scalar, same units.

    Returns:
      dict: "tar" (accepted matched / matched), "far" (accepted mismatched /
      mismatched), each 0.0 when there is no such pair, and the integer counts
      "true_accepts", "false_accepts", "matched", "mismatched".
    """
    d = np.asarray(distances, np.float64).reshape(-1)
    same = np.asarray(same).astype(bool).reshape(-1)
    accepted = d < threshold
    counts = {"true_accepts": int(np.sum(accepted & same)),
              "false_accepts": int(np.sum(accepted & ~same)),
              "matched": int(np.sum(same)), "mismatched": int(np.sum(~same))}
    return {"tar": counts["true_accepts"] / max(counts["matched"], 1),
            "far": counts["false_accepts"] / max(counts["mismatched"], 1), **counts}


def accuracy_optimal_threshold(distances, same) -> float:
    """The threshold t maximising the accuracy of "same iff distance < t" over all
    the pairs given (distances float [P], same bool [P]); candidates as in
    `verification_pairs_accuracy`, ties to the smallest. Numpy, float64."""
    d = np.asarray(distances, np.float64).reshape(-1)
    if not d.size:
        raise ValueError("no pairs")
    return _best_threshold(d, np.asarray(same).astype(bool).reshape(-1))
