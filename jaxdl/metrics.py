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
