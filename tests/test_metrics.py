"""Tests for jaxdl.metrics: hand-computed numbers, brute-force cross-checks, invariants."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import metrics

BINARY_KEYS = ("accuracy", "precision", "recall", "specificity", "f1")


def brute_force_auc(labels, scores):
    """Mann-Whitney: P(score_pos > score_neg) + 0.5 P(equal), over all pairs."""
    labels = np.asarray(labels)
    scores = np.asarray(scores, dtype=np.float64)
    pos = scores[labels == 1][:, None]
    neg = scores[labels != 1][None, :]
    return float(np.mean((pos > neg) + 0.5 * (pos == neg)))


# --------------------------------------------------------------------------- hand-computed


def test_confusion_matrix_hand_computed_three_classes():
    labels = jnp.array([0, 0, 1, 2, 2, 2])
    preds = jnp.array([0, 1, 1, 2, 0, 2])
    # true 0: predicted 0 once, 1 once; true 1: predicted 1 once;
    # true 2: predicted 2 twice, 0 once.
    expected = [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    cm = metrics.confusion_matrix(labels, preds, num_classes=3)
    assert cm.dtype == jnp.int32 and cm.shape == (3, 3)
    np.testing.assert_array_equal(cm, expected)


def test_binary_metrics_hand_computed():
    labels = jnp.array([1, 1, 0, 0, 1])
    probs = jnp.array([0.9, 0.4, 0.6, 0.2, 0.7])
    # threshold 0.5 -> predictions [1, 0, 1, 0, 1]
    # example 0: 1/1 TP; 1: 1/0 FN; 2: 0/1 FP; 3: 0/0 TN; 4: 1/1 TP
    # TP = 2, FN = 1, FP = 1, TN = 1; matrix [[TN, FP], [FN, TP]] = [[1, 1], [1, 2]]
    # accuracy    = (TP + TN) / 5   = 3/5
    # precision   = TP / (TP + FP)  = 2/3
    # recall      = TP / (TP + FN)  = 2/3
    # specificity = TN / (TN + FP)  = 1/2
    # F1          = 2 P R / (P + R) = 2 (4/9) / (4/3) = 2/3
    out = metrics.binary_metrics(labels, probs)
    np.testing.assert_array_equal(out["confusion_matrix"], [[1, 1], [1, 2]])
    assert out["confusion_matrix"].dtype == jnp.int32
    expected = dict(accuracy=3 / 5, precision=2 / 3, recall=2 / 3, specificity=1 / 2, f1=2 / 3)
    for key, value in expected.items():
        assert out[key].dtype == jnp.float32 and out[key].shape == ()
        np.testing.assert_allclose(out[key], value, rtol=1e-6, err_msg=key)


def test_binary_metrics_other_threshold_and_boundary():
    labels = jnp.array([1, 1, 0, 0, 1])
    probs = jnp.array([0.9, 0.4, 0.6, 0.2, 0.7])
    # threshold 0.65 -> predictions [1, 0, 0, 0, 1]: TP 2, FN 1, FP 0, TN 2
    out = metrics.binary_metrics(labels, probs, threshold=0.65)
    np.testing.assert_array_equal(out["confusion_matrix"], [[2, 0], [1, 2]])
    np.testing.assert_allclose(out["precision"], 1.0)
    np.testing.assert_allclose(out["recall"], 2 / 3, rtol=1e-6)
    np.testing.assert_allclose(out["f1"], 0.8, rtol=1e-6)  # 2*2 / (2*2 + 0 + 1)
    # A probability exactly at the threshold is predicted negative (strict >).
    at = metrics.binary_metrics(jnp.array([1, 0]), jnp.array([0.5, 0.5]), threshold=0.5)
    np.testing.assert_array_equal(at["confusion_matrix"], [[1, 0], [1, 0]])


def test_binary_metrics_zero_division_is_zero_not_nan():
    # All negatives, all predicted negative: no positives, no predicted positives.
    out = metrics.binary_metrics(jnp.zeros(4, jnp.int32), jnp.full(4, 0.2))
    np.testing.assert_array_equal(out["confusion_matrix"], [[4, 0], [0, 0]])
    got = {k: float(out[k]) for k in BINARY_KEYS}
    assert got == dict(accuracy=1.0, precision=0.0, recall=0.0, specificity=1.0, f1=0.0)
    # All positives, all predicted positive: no negatives -> specificity 0.
    out = metrics.binary_metrics(jnp.ones(3, jnp.int32), jnp.full(3, 0.9))
    got = {k: float(out[k]) for k in BINARY_KEYS}
    assert got == dict(accuracy=1.0, precision=1.0, recall=1.0, specificity=0.0, f1=1.0)
    # Everything masked out: every ratio 0, nothing counted.
    out = metrics.binary_metrics(jnp.array([1, 0]), jnp.array([0.9, 0.1]), mask=jnp.zeros(2))
    np.testing.assert_array_equal(out["confusion_matrix"], np.zeros((2, 2)))
    assert all(float(out[k]) == 0.0 for k in BINARY_KEYS)


def test_roc_curve_hand_computed_with_tie():
    labels = jnp.array([1, 0, 1, 0])
    scores = jnp.array([0.8, 0.8, 0.3, 0.1])
    # P = N = 2. Thresholds (score >= t is positive):
    #   +inf: TP 0, FP 0 -> (0, 0)
    #   0.8 : both tied 0.8 examples flip together: TP 1, FP 1 -> (0.5, 0.5), twice
    #   0.3 : TP 2, FP 1 -> (0.5, 1)
    #   0.1 : TP 2, FP 2 -> (1, 1)
    fpr, tpr, thresholds = metrics.roc_curve(labels, scores)
    np.testing.assert_allclose(fpr, [0, 0.5, 0.5, 0.5, 1])
    np.testing.assert_allclose(tpr, [0, 0.5, 0.5, 1, 1])
    np.testing.assert_allclose(thresholds, [np.inf, 0.8, 0.8, 0.3, 0.1])
    # Area: diagonal across the tie 0.5 * 0.5 / 2 = 0.125, then 0.5 * 1 = 0.5.
    # Mann-Whitney by hand: pairs (0.8,0.8) tie 0.5, (0.8,0.1) 1, (0.3,0.8) 0,
    # (0.3,0.1) 1 -> 2.5 / 4 = 0.625. A staircase through the tie would give 0.75
    # (or 0.5 with the tied pair in the other order).
    np.testing.assert_allclose(metrics.roc_auc(labels, scores), 0.625, rtol=1e-6)
    swapped = metrics.roc_auc(jnp.array([0, 1, 1, 0]), jnp.array([0.8, 0.8, 0.3, 0.1]))
    np.testing.assert_allclose(swapped, 0.625, rtol=1e-6)


def test_roc_auc_hand_computed_no_tie():
    # Positives {0.9, 0.4, 0.7}, negatives {0.6, 0.2}: of the 6 pairs only
    # (0.4, 0.6) is misordered -> 5/6.
    auc = metrics.roc_auc(jnp.array([1, 1, 0, 0, 1]), jnp.array([0.9, 0.4, 0.6, 0.2, 0.7]))
    assert auc.dtype == jnp.float32 and auc.shape == ()
    np.testing.assert_allclose(auc, 5 / 6, rtol=1e-6)


def test_roc_auc_perfect_inverted_and_all_tied():
    labels = jnp.array([0, 0, 0, 1, 1])
    scores = jnp.array([0.1, 0.2, 0.3, 0.8, 0.9])
    assert float(metrics.roc_auc(labels, scores)) == 1.0
    assert float(metrics.roc_auc(labels, -scores)) == 0.0
    assert float(metrics.roc_auc(labels, 1.0 - scores)) == 0.0
    # A constant score ranks nothing: one tie group, the diagonal, area 0.5.
    fpr, tpr, _ = metrics.roc_curve(labels, jnp.full(5, 0.5))
    np.testing.assert_allclose(fpr, [0, 1, 1, 1, 1, 1])
    np.testing.assert_allclose(tpr, [0, 1, 1, 1, 1, 1])
    assert float(metrics.roc_auc(labels, jnp.full(5, 0.5))) == 0.5


@pytest.mark.parametrize("label", [0, 1])
def test_roc_one_class_is_the_diagonal_not_nan(label):
    labels = jnp.full(4, label)
    scores = jnp.array([0.3, 0.9, 0.3, 0.1])
    fpr, tpr, _ = metrics.roc_curve(labels, scores)
    assert np.isfinite(fpr).all() and np.isfinite(tpr).all()
    np.testing.assert_allclose(fpr, tpr)  # undefined rate := the defined one
    np.testing.assert_allclose(fpr, [0, 0.25, 0.75, 0.75, 1])
    np.testing.assert_allclose(metrics.roc_auc(labels, scores), 0.5, rtol=1e-6)


def test_roc_everything_masked():
    fpr, tpr, thresholds = metrics.roc_curve(jnp.array([1, 0, 1]), jnp.array([0.2, 0.4, 0.9]), mask=jnp.zeros(3))
    np.testing.assert_array_equal(fpr, [0, 1, 1, 1])
    np.testing.assert_array_equal(tpr, [0, 1, 1, 1])
    np.testing.assert_array_equal(thresholds, [np.inf, -np.inf, -np.inf, -np.inf])
    assert float(metrics.roc_auc(jnp.array([1, 0, 1]), jnp.array([0.2, 0.4, 0.9]), mask=jnp.zeros(3))) == 0.5


def test_majority_baseline_hand_computed():
    # Train: three 1s, two 0s -> majority 1. Test [1, 0, 1, 1]: 3 of 4 are 1.
    out = metrics.majority_baseline(jnp.array([0, 1, 1, 1, 0]), jnp.array([1, 0, 1, 1]))
    assert int(out["majority_class"]) == 1 and out["majority_class"].dtype == jnp.int32
    np.testing.assert_allclose(out["accuracy"], 0.75)
    # A tie goes to the smallest class index; test labels all 1 -> accuracy 0.
    out = metrics.majority_baseline(jnp.array([1, 0]), jnp.array([1, 1]))
    assert int(out["majority_class"]) == 0 and float(out["accuracy"]) == 0.0
    # Three classes; masking out the 2s of the train set changes the majority.
    train = jnp.array([2, 2, 2, 1, 1, 0])
    test = jnp.array([1, 2, 1, 0])
    out = metrics.majority_baseline(train, test, num_classes=3)
    assert int(out["majority_class"]) == 2
    np.testing.assert_allclose(out["accuracy"], 0.25)
    out = metrics.majority_baseline(train, test, num_classes=3, train_mask=train != 2)
    assert int(out["majority_class"]) == 1
    np.testing.assert_allclose(out["accuracy"], 0.5)
    out = metrics.majority_baseline(train, test, num_classes=3, train_mask=train != 2, test_mask=test == 1)
    np.testing.assert_allclose(out["accuracy"], 1.0)


def test_accuracy_hand_computed():
    np.testing.assert_allclose(metrics.accuracy(jnp.array([0, 3, 2, 2]), jnp.array([0, 3, 1, 2])), 0.75)
    np.testing.assert_allclose(
        metrics.accuracy(jnp.array([0, 3, 2, 2]), jnp.array([0, 3, 1, 2]), mask=jnp.array([1, 1, 0, 0])), 1.0
    )


def test_mean_and_std_population():
    # mean 0.9; deviations -0.1, 0, 0.1 -> variance 0.02 / 3 (ddof=0).
    mean, std = metrics.mean_and_std(jnp.array([0.8, 0.9, 1.0]))
    np.testing.assert_allclose(mean, 0.9, rtol=1e-6)
    np.testing.assert_allclose(std, np.sqrt(0.02 / 3), rtol=1e-5)
    np.testing.assert_allclose(std, np.std([0.8, 0.9, 1.0]), rtol=1e-5)
    mean, std = metrics.mean_and_std(jnp.array([0.7]))
    assert float(mean) == pytest.approx(0.7) and float(std) == 0.0


# --------------------------------------------------------------------------- invariants


def _random_case(seed, n=60, decimals=1):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, size=n)
    # Scores correlated with the labels, rounded so that ties are common.
    scores = np.round(0.3 * labels + rng.uniform(size=n), decimals).astype(np.float32)
    return labels, scores


@pytest.mark.parametrize("seed", range(6))
def test_auc_equals_brute_force_mann_whitney(seed):
    n = [3, 8, 60, 61, 200, 333][seed]
    labels, scores = _random_case(seed, n=n, decimals=1 + seed % 2)
    labels[:2] = [0, 1]  # both classes present, so the statistic is defined
    if n >= 60:
        assert len(np.unique(scores)) < n  # ties really are present
    auc = metrics.roc_auc(jnp.asarray(labels), jnp.asarray(scores))
    np.testing.assert_allclose(auc, brute_force_auc(labels, scores), atol=1e-6)


@pytest.mark.parametrize("seed", range(4))
def test_auc_does_not_depend_on_input_order(seed):
    labels, scores = _random_case(seed)
    perm = np.random.default_rng(100 + seed).permutation(len(labels))
    a = metrics.roc_auc(jnp.asarray(labels), jnp.asarray(scores))
    b = metrics.roc_auc(jnp.asarray(labels[perm]), jnp.asarray(scores[perm]))
    np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("seed", range(4))
def test_roc_curve_monotone_from_origin_to_one_one(seed):
    labels, scores = _random_case(seed)
    fpr, tpr, thresholds = (np.asarray(x) for x in metrics.roc_curve(jnp.asarray(labels), jnp.asarray(scores)))
    n = len(labels)
    assert fpr.shape == tpr.shape == thresholds.shape == (n + 1,)
    assert (fpr[0], tpr[0], thresholds[0]) == (0.0, 0.0, np.inf)
    assert (fpr[-1], tpr[-1]) == (1.0, 1.0)
    assert (np.diff(fpr) >= 0).all() and (np.diff(tpr) >= 0).all()
    assert (np.diff(thresholds) <= 0).all()
    # Each point is exactly the rates of "score >= threshold" (this is what makes
    # the tie groups collapse onto their end point).
    pos, neg = labels == 1, labels == 0
    for t, f, r in zip(thresholds[1:], fpr[1:], tpr[1:]):
        predicted = scores >= t
        np.testing.assert_allclose(r, (predicted & pos).sum() / pos.sum(), atol=1e-6)
        np.testing.assert_allclose(f, (predicted & neg).sum() / neg.sum(), atol=1e-6)


def test_binary_metrics_match_numpy_on_random_data():
    labels, scores = _random_case(7, n=101, decimals=3)
    out = metrics.binary_metrics(jnp.asarray(labels), jnp.asarray(scores), threshold=0.6)
    pred = scores > 0.6
    truth = labels == 1
    tp, fp = np.sum(pred & truth), np.sum(pred & ~truth)
    fn, tn = np.sum(~pred & truth), np.sum(~pred & ~truth)
    np.testing.assert_array_equal(out["confusion_matrix"], [[tn, fp], [fn, tp]])
    np.testing.assert_allclose(out["accuracy"], (tp + tn) / 101, rtol=1e-6)
    np.testing.assert_allclose(out["precision"], tp / (tp + fp), rtol=1e-6)
    np.testing.assert_allclose(out["recall"], tp / (tp + fn), rtol=1e-6)
    np.testing.assert_allclose(out["specificity"], tn / (tn + fp), rtol=1e-6)
    p, r = tp / (tp + fp), tp / (tp + fn)
    np.testing.assert_allclose(out["f1"], 2 * p * r / (p + r), rtol=1e-6)


def _all_metrics(labels, scores, mask=None):
    """Every metric of the module on one input, as a flat dict of arrays."""
    preds = (scores > 0.5).astype(jnp.int32)
    out = {f"binary/{k}": v for k, v in metrics.binary_metrics(labels, scores, mask=mask).items()}
    out["auc"] = metrics.roc_auc(labels, scores, mask=mask)
    out["accuracy"] = metrics.accuracy(labels, preds, mask=mask)
    out["confusion_matrix/3"] = metrics.confusion_matrix(labels, preds, num_classes=3, mask=mask)
    out["majority"] = metrics.majority_baseline(labels, labels, train_mask=mask, test_mask=mask)
    return out


def _assert_same(got, want):
    """Integer results exactly; float results up to float32 summation order."""
    def check(a, b):
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype and a.shape == b.shape
        if np.issubdtype(a.dtype, np.integer):
            np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)

    jax.tree.map(check, got, want)


@pytest.mark.parametrize("seed", range(3))
def test_masked_junk_changes_nothing(seed):
    n, n_junk = 60, 10
    labels, scores = _random_case(seed, n=n)
    rng = np.random.default_rng(1000 + seed)
    # Junk that would change every metric if it were counted: extreme scores with
    # labels that contradict them, some tied with real scores.
    junk_labels = np.concatenate([np.ones(5, np.int64), np.zeros(5, np.int64)])
    junk_scores = np.concatenate([np.full(5, -10.0), np.full(5, 10.0)]).astype(np.float32)
    junk_scores[:2] = scores[:2]
    padded_labels = np.concatenate([labels, junk_labels])
    padded_scores = np.concatenate([scores, junk_scores])
    mask = np.concatenate([np.ones(n, bool), np.zeros(n_junk, bool)])

    reference = _all_metrics(jnp.asarray(labels), jnp.asarray(scores))
    padded = _all_metrics(jnp.asarray(padded_labels), jnp.asarray(padded_scores), jnp.asarray(mask))
    _assert_same(padded, reference)
    # Counted (mask ones), the junk does change them: the check above has teeth.
    counted = _all_metrics(jnp.asarray(padded_labels), jnp.asarray(padded_scores), jnp.ones(n + n_junk, bool))
    for key in ("auc", "binary/accuracy", "binary/precision", "binary/recall", "accuracy"):
        assert abs(float(counted[key]) - float(reference[key])) > 1e-3, key

    # ROC: the first N + 1 points are the unpadded curve; the junk repeats (1, 1).
    ref_curve = metrics.roc_curve(jnp.asarray(labels), jnp.asarray(scores))
    fpr, tpr, thr = metrics.roc_curve(jnp.asarray(padded_labels), jnp.asarray(padded_scores), mask=jnp.asarray(mask))
    for got, want in zip((fpr, tpr, thr), ref_curve):
        np.testing.assert_array_equal(got[: n + 1], want)
    np.testing.assert_array_equal(fpr[n + 1 :], 1.0)
    np.testing.assert_array_equal(tpr[n + 1 :], 1.0)
    np.testing.assert_array_equal(thr[n + 1 :], -np.inf)

    # Junk interleaved with the real entries rather than appended: same results.
    perm = rng.permutation(n + n_junk)
    shuffled = _all_metrics(jnp.asarray(padded_labels[perm]), jnp.asarray(padded_scores[perm]), jnp.asarray(mask[perm]))
    _assert_same(shuffled, reference)


def test_everything_works_under_jit_with_the_same_values():
    # As a user's jitted eval step would: every metric traced inside one jit.
    labels, scores = _random_case(3)
    labels, scores = jnp.asarray(labels), jnp.asarray(scores)
    mask = jnp.arange(60) < 51

    def evaluate(labels, scores, threshold, mask):
        preds = (scores > threshold).astype(jnp.int32)
        return {
            "binary": metrics.binary_metrics(labels, scores, threshold, mask),
            "roc_curve": metrics.roc_curve(labels, scores, mask),
            "auc": metrics.roc_auc(labels, scores, mask),
            "accuracy": metrics.accuracy(labels, preds, mask),
            "cm": metrics.confusion_matrix(labels, preds, num_classes=2, mask=mask),
            "majority": metrics.majority_baseline(labels, labels[::-1], num_classes=2, train_mask=mask),
            "mean_std": metrics.mean_and_std(scores),
        }

    # Called directly, each metric is its own compiled function with concrete
    # arguments; under the outer jit they are traced together, threshold traced.
    eager = evaluate(labels, scores, 0.55, mask)
    jitted = jax.jit(evaluate)(labels, scores, 0.55, mask)
    _assert_same(jitted, eager)
    want_auc = brute_force_auc(np.asarray(labels)[:51], np.asarray(scores)[:51])
    np.testing.assert_allclose(jitted["auc"], want_auc, atol=1e-6)


def test_vmap_over_folds_matches_one_by_one():
    # K folds of unequal size stacked with a padding mask, as K-fold under vmap does.
    rng = np.random.default_rng(0)
    k, width = 3, 60
    sizes = [60, 59, 59]
    labels = rng.integers(0, 2, size=(k, width))
    scores = np.round(rng.uniform(size=(k, width)), 1).astype(np.float32)
    mask = np.arange(width)[None, :] < np.array(sizes)[:, None]
    batched_auc = jax.vmap(metrics.roc_auc)(jnp.asarray(labels), jnp.asarray(scores), jnp.asarray(mask))
    batched = jax.vmap(metrics.binary_metrics, in_axes=(0, 0, None, 0))(
        jnp.asarray(labels), jnp.asarray(scores), 0.5, jnp.asarray(mask)
    )
    for fold, size in enumerate(sizes):
        want_auc = brute_force_auc(labels[fold, :size], scores[fold, :size])
        np.testing.assert_allclose(batched_auc[fold], want_auc, atol=1e-6)
        cm = metrics.confusion_matrix(
            jnp.asarray(labels[fold]), jnp.asarray(scores[fold] > 0.5, jnp.int32), mask=jnp.asarray(mask[fold])
        )
        np.testing.assert_array_equal(batched["confusion_matrix"][fold], cm)
        tn, fp, fn, tp = np.asarray(cm).ravel()
        np.testing.assert_allclose(batched["accuracy"][fold], (tp + tn) / size, rtol=1e-6)
        np.testing.assert_allclose(batched["recall"][fold], tp / (tp + fn), rtol=1e-6)
