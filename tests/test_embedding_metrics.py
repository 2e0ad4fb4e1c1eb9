"""Tests for the face verification / identification / clustering metrics in
jaxdl.metrics: hand-computed cases and the LFW protocol's no-peeking property."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import metrics

# --------------------------------------------------------------------------- verification


def test_verification_pairs_accuracy_hand_computed():
    # Fold 0: (0.1 same), (0.5 diff), (0.35 same), (0.9 diff)
    # Fold 1: (0.2 same), (0.4 diff), (0.6 same), (0.8 diff)
    # Fold 0's threshold, tuned on fold 1: candidates 0.2, 0.3, 0.5, 0.7, 0.8+;
    #   correct pairs 2, 3, 2, 3, 2 -> the smallest best, 0.3.
    #   On fold 0 ("same" iff d < 0.3): 0.1 ok, 0.5 ok, 0.35 missed, 0.9 ok -> 0.75.
    # Fold 1's threshold, tuned on fold 0: candidates 0.1, 0.225, 0.425, 0.7, 0.9+;
    #   correct 2, 3, 4, 3, 2 -> 0.425.
    #   On fold 1: 0.2 ok, 0.4 falsely accepted, 0.6 missed, 0.8 ok -> 0.5.
    # Mean 0.625, population std 0.125.
    distances = [0.1, 0.5, 0.35, 0.9, 0.2, 0.4, 0.6, 0.8]
    same = [1, 0, 1, 0, 1, 0, 1, 0]
    folds = [0, 0, 0, 0, 1, 1, 1, 1]
    result = metrics.verification_pairs_accuracy(distances, same, folds, num_folds=2)
    np.testing.assert_allclose(result["thresholds"], [0.3, 0.425])
    np.testing.assert_allclose(result["fold_accuracies"], [0.75, 0.5])
    assert result["accuracy"] == pytest.approx(0.625)
    assert result["accuracy_std"] == pytest.approx(0.125)


def lfw_like_pairs(seed, num_pairs=600, num_folds=10):
    rng = np.random.default_rng(seed)
    same = rng.random(num_pairs) < 0.5
    distances = np.where(same, rng.normal(0.8, 0.25, num_pairs),
                         rng.normal(1.3, 0.25, num_pairs))
    folds = np.repeat(np.arange(num_folds), num_pairs // num_folds)
    return distances, same, folds


def test_verification_threshold_is_never_tuned_on_the_scored_fold():
    distances, same, folds = lfw_like_pairs(0)
    before = metrics.verification_pairs_accuracy(distances, same, folds)
    altered = distances.copy()
    in_fold = folds == 3
    # Make fold 3 wildly different (its matched pairs far, its mismatched near).
    altered[in_fold] = np.where(same[in_fold], 5.0, 0.0)
    after = metrics.verification_pairs_accuracy(altered, same, folds)
    assert after["thresholds"][3] == before["thresholds"][3]
    assert after["fold_accuracies"][3] == 0.0     # scored with the untouched threshold
    # Other folds' thresholds did see the change (they train on fold 3).
    assert not np.array_equal(np.delete(after["thresholds"], 3),
                              np.delete(before["thresholds"], 3))
    assert 0.75 < before["accuracy"] < 0.95
    assert before["accuracy_std"] == pytest.approx(np.std(before["fold_accuracies"]))


def test_verification_perfect_separation():
    rng = np.random.default_rng(1)
    same = np.tile([True, False], 100)
    distances = np.where(same, rng.uniform(0.0, 1.0, 200), rng.uniform(2.0, 3.0, 200))
    folds = np.arange(200) % 10
    result = metrics.verification_pairs_accuracy(distances, same, folds)
    assert result["accuracy"] == 1.0 and result["accuracy_std"] == 0.0
    assert np.all((result["thresholds"] > distances[same].max())
                  & (result["thresholds"] < distances[~same].min()))
    # Deterministic.
    again = metrics.verification_pairs_accuracy(distances, same, folds)
    np.testing.assert_array_equal(again["thresholds"], result["thresholds"])


def test_verification_rejects_an_empty_fold():
    with pytest.raises(ValueError, match="fold 2"):
        metrics.verification_pairs_accuracy([0.1, 0.2], [1, 0], [0, 1], num_folds=3)


def test_tar_at_far_hand_computed():
    # Mismatched: 0.5, 0.6, ..., 1.4 (10 pairs). Matched: 0.1, 0.3, 0.55, 0.6, 0.65.
    mismatched = [0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4]
    matched = [0.1, 0.3, 0.55, 0.6, 0.65]
    distances = jnp.array(matched + mismatched)
    same = jnp.array([True] * 5 + [False] * 10)
    # far = 0.1: one false accept allowed -> threshold = 2nd smallest mismatched 0.6
    # (accepting d < 0.6 lets only 0.5 in: FAR 0.1); matched accepted 0.1, 0.3, 0.55.
    result = metrics.tar_at_far(distances, same, far=0.1)
    assert float(result["threshold"]) == pytest.approx(0.6)
    assert float(result["tar"]) == pytest.approx(0.6)
    # far = 0.15 still allows floor(1.5) = 1 false accept: the same point.
    assert float(metrics.tar_at_far(distances, same, far=0.15)["tar"]) == pytest.approx(0.6)
    # far = 0: no false accept -> threshold 0.5 -> matched 0.1, 0.3 -> 0.4.
    result = metrics.tar_at_far(distances, same, far=0.0)
    assert float(result["threshold"]) == pytest.approx(0.5)
    assert float(result["tar"]) == pytest.approx(0.4)
    # far = 1: everything may be accepted.
    result = metrics.tar_at_far(distances, same, far=1.0)
    assert float(result["threshold"]) == np.inf and float(result["tar"]) == 1.0
    # The order of the pairs does not matter.
    perm = jnp.array(np.random.default_rng(0).permutation(15))
    assert float(metrics.tar_at_far(distances[perm], same[perm], far=0.1)["tar"]) \
        == pytest.approx(0.6)


def test_tar_at_far_float_rounding_of_the_allowed_count():
    # far * #mismatched = 1e-3 * 1000 must allow exactly one false accept.
    mismatched = np.arange(1, 1001, dtype=np.float32)
    distances = jnp.concatenate([jnp.array([1.5, 2.5]), jnp.asarray(mismatched)])
    same = jnp.array([True, True] + [False] * 1000)
    result = metrics.tar_at_far(distances, same, far=1e-3)
    assert float(result["threshold"]) == 2.0
    assert float(result["tar"]) == 0.5


# --------------------------------------------------------------------------- identification

# Gallery on the x axis: x = 0 (id 0), 1 (id 1), 2 (id 2), 3 (id 0), 10 (id 3), 11 (id 3).
GALLERY = jnp.array([[0.0, 0], [1, 0], [2, 0], [3, 0], [10, 0], [11, 0]])
GALLERY_IDS = jnp.array([0, 1, 2, 0, 3, 3])
# Probes and their L2 distances to gallery entries 0..5:
#   (0.2, 0)  true 0: 0.2, 0.8, 1.8, 2.8, 9.8, 10.8 -> ids 0, 1, 2, 0, 3
#   (2.9, 0)  true 2: 2.9, 1.9, 0.9, 0.1, 7.1, 8.1  -> ids 0, 2, 1, 0, 3
#   (10.4, 0) true 3: 10.4, 9.4, 8.4, 7.4, 0.4, 0.6 -> ids 3, 3, 0, 2, 1
#   (5.2, 4)  true 9 (not enrolled): sqrt of 43.04, 33.64, 26.24, 20.84, 39.04, 49.64
#             -> 4.565 (id 0), 5.122 (id 2), 5.800 (id 1), 6.248 (id 3), 6.560 (id 0)
PROBES = jnp.array([[0.2, 0], [2.9, 0], [10.4, 0], [5.2, 4]])
PROBE_IDS = jnp.array([0, 2, 3, 9])


def test_knn_identify_hand_computed():
    labels, distances = metrics.knn_identify(GALLERY, GALLERY_IDS, PROBES, k=5)
    np.testing.assert_array_equal(labels, [[0, 1, 2, 0, 3], [0, 2, 1, 0, 3],
                                           [3, 3, 0, 2, 1], [0, 2, 1, 3, 0]])
    np.testing.assert_allclose(distances[:3], [[0.2, 0.8, 1.8, 2.8, 9.8],
                                               [0.1, 0.9, 1.9, 2.9, 7.1],
                                               [0.4, 0.6, 7.4, 8.4, 9.4]], atol=1e-5)
    # (float32 |p|^2 + |g|^2 - 2 p.g: about 1e-6 absolute error in squared distance)
    np.testing.assert_allclose(distances[3], np.sqrt([20.84, 26.24, 33.64, 39.04, 43.04]),
                               rtol=1e-5)


def test_top_k_accuracy_hand_computed():
    labels, _ = metrics.knn_identify(GALLERY, GALLERY_IDS, PROBES, k=5)
    # top-1: probes 0 and 2 right; top-2 adds probe 1 (id 2 second); probe 3 never.
    assert float(metrics.top_k_accuracy(labels, PROBE_IDS, k=1)) == pytest.approx(0.5)
    assert float(metrics.top_k_accuracy(labels, PROBE_IDS, k=2)) == pytest.approx(0.75)
    assert float(metrics.top_k_accuracy(labels, PROBE_IDS, k=5)) == pytest.approx(0.75)
    with pytest.raises(ValueError):
        metrics.top_k_accuracy(labels, PROBE_IDS, k=6)


def test_open_set_rejection_hand_computed():
    _, distances = metrics.knn_identify(GALLERY, GALLERY_IDS, PROBES, k=1)
    nearest = distances[:, 0]   # 0.2, 0.1, 0.4, 4.565
    # The course's 0.7: only the unknown probe is rejected.
    assert float(metrics.open_set_rejection(nearest, 0.7)) == pytest.approx(0.25)
    assert float(metrics.open_set_rejection(nearest, 0.3)) == pytest.approx(0.5)
    assert float(metrics.open_set_rejection(nearest, 5.0)) == 0.0


# --------------------------------------------------------------------------- clustering scores


def scores(true, pred, num_classes=4, num_clusters=4, mask=None):
    true, pred = jnp.asarray(true), jnp.asarray(pred)
    return (float(metrics.normalized_mutual_info(true, pred, num_classes, num_clusters, mask)),
            float(metrics.adjusted_rand_index(true, pred, num_classes, num_clusters, mask)),
            float(metrics.purity(true, pred, num_classes, num_clusters, mask)))


def test_clustering_scores_identical_and_permuted():
    true = [0, 0, 1, 1, 2, 2, 2]
    assert scores(true, true) == pytest.approx((1.0, 1.0, 1.0))
    # Cluster names are arbitrary: 0 -> 3, 1 -> 0, 2 -> 1.
    assert scores(true, [3, 3, 0, 0, 1, 1, 1]) == pytest.approx((1.0, 1.0, 1.0))


def test_clustering_scores_hand_computed_small():
    # true [0,0,1,1] vs pred [0,0,1,2]; contingency [[2,0,0],[0,1,1]].
    # ARI: sum C(n_ij,2) = 1; A = C(2,2)+C(2,2) = 2; B = C(2,2) = 1; E = 2*1/C(4,2) = 1/3;
    #   (1 - 1/3) / ((2+1)/2 - 1/3) = 4/7 (sklearn's documented 0.57).
    # NMI: I = 0.5 ln 2 + 0.25 ln 2 + 0.25 ln 2 = ln 2; H(true) = ln 2; H(pred) = 1.5 ln 2;
    #   ln 2 / (2.5 ln 2 / 2) = 0.8.  Purity: (2 + 1 + 1) / 4 = 1.
    assert scores([0, 0, 1, 1], [0, 0, 1, 2]) == pytest.approx((0.8, 4 / 7, 1.0), abs=1e-6)
    # true [0,0,1,1] vs pred [0,1,0,1]: independent -> NMI 0; contingency [[1,1],[1,1]]:
    #   ARI = (0 - 2*2/6) / (2 - 2/3) = -0.5 (sklearn's documented example); purity 0.5.
    assert scores([0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx((0.0, -0.5, 0.5), abs=1e-6)
    # One true class vs all singletons: NMI 0, ARI 0 (A = 6, B = 0, E = 0), purity 1.
    assert scores([0, 0, 0, 0], [0, 1, 2, 3]) == pytest.approx((0.0, 0.0, 1.0), abs=1e-6)
    # Both one group: a perfect match (sklearn's limit case).
    assert scores([2, 2, 2], [1, 1, 1]) == pytest.approx((1.0, 1.0, 1.0))


def test_clustering_scores_textbook_example():
    # Manning, Raghavan & Schuetze, Introduction to IR, fig. 16.4: 17 points,
    # clusters {5 x, 1 o}, {1 x, 4 o, 1 d}, {2 x, 3 d}.
    # Purity = (5 + 4 + 3) / 17 = 0.7059; NMI = 0.3646 (the book's 0.36, also an
    # arithmetic-mean normalisation); ARI: sum C(n_ij,2) = 10+6+1+3 = 20,
    # A (clusters) = C(6,2)+C(6,2)+C(5,2) = 40, B (classes) = C(8,2)+C(5,2)+C(4,2) = 44,
    # E = 40*44/136 = 12.941 -> (20 - 12.941) / (42 - 12.941) = 60/247 = 0.2429.
    table = [[5, 1, 0], [1, 4, 1], [2, 0, 3]]   # [cluster][class]
    pred = [c for c, row in enumerate(table) for k, n in enumerate(row) for _ in range(n)]
    true = [k for c, row in enumerate(table) for k, n in enumerate(row) for _ in range(n)]
    nmi, ari, pur = scores(true, pred, num_classes=3, num_clusters=3)
    assert pur == pytest.approx(12 / 17, abs=1e-6)
    assert nmi == pytest.approx(0.3645618, abs=1e-5)
    assert ari == pytest.approx(60 / 247, abs=1e-5)
    # Symmetric in the two labelings (NMI, ARI), and mask drops entries.
    nmi_swapped, ari_swapped, _ = scores(pred, true, num_classes=3, num_clusters=3)
    assert (nmi_swapped, ari_swapped) == pytest.approx((nmi, ari), abs=1e-6)
    padded = scores(true + [0, 1, 2], pred + [2, 2, 2], num_classes=3, num_clusters=3,
                    mask=jnp.array([1] * 17 + [0] * 3))
    assert padded == pytest.approx((nmi, ari, pur), abs=1e-6)


def test_clustering_scores_jit_with_static_sizes():
    f = jax.jit(lambda t, p: metrics.adjusted_rand_index(t, p, num_classes=2, num_clusters=3))
    assert float(f(jnp.array([0, 0, 1, 1]), jnp.array([0, 0, 1, 2]))) == pytest.approx(4 / 7)


def test_threshold_at_far_hand_computed():
    # 10 mismatched distances 0.1 .. 1.0 (shuffled).
    d = np.array([0.5, 0.1, 0.9, 0.3, 0.7, 0.2, 1.0, 0.4, 0.8, 0.6])
    # far 0: no false accept allowed -> the smallest mismatched distance (d < 0.1: none)
    assert metrics.threshold_at_far(d, 0.0) == 0.1
    # far 0.2: 2 allowed -> the 3rd smallest, 0.3 (accepts 0.1 and 0.2)
    assert metrics.threshold_at_far(d, 0.2) == 0.3
    # far 0.25: floor(2.5) = 2 allowed -> still 0.3
    assert metrics.threshold_at_far(d, 0.25) == 0.3
    # far 0.3 in float: 0.3 * 10 = 3.0000000000000004 / 2.9999... -> 3 allowed -> 0.4
    assert metrics.threshold_at_far(d, 0.3) == 0.4
    assert metrics.threshold_at_far(d, 1.0) == float("inf")
    # Only the 3 smallest of 1000 mismatched pairs given: far 2e-3 allows 2 -> 0.3.
    assert metrics.threshold_at_far([0.3, 0.1, 0.2], 2e-3, num_mismatched=1000) == 0.3
    with pytest.raises(ValueError):   # 4 needed (3 allowed), 3 given
        metrics.threshold_at_far([0.3, 0.1, 0.2], 3e-3, num_mismatched=1000)
    # Agrees with the jitted tar_at_far on the same pairs.
    same = np.array([True, False] * 10)
    dist = np.concatenate([[0.05, x] for x in d])
    assert metrics.threshold_at_far(dist[~same], 0.2) == pytest.approx(
        float(metrics.tar_at_far(dist, same, 0.2)["threshold"]))


def test_accept_rates_hand_computed():
    d = np.array([0.1, 0.4, 0.6, 0.2, 0.5, 0.9])
    same = np.array([True, True, True, False, False, False])
    r = metrics.accept_rates(d, same, 0.5)
    # matched accepted: 0.1, 0.4 (0.6 not); mismatched accepted: 0.2 (0.5 is not < 0.5)
    assert r == {"tar": 2 / 3, "far": 1 / 3, "true_accepts": 2, "false_accepts": 1,
                 "matched": 3, "mismatched": 3}
    assert metrics.accept_rates(d[3:], same[3:], 1.0)["tar"] == 0.0  # no matched pair


def test_accuracy_optimal_threshold_hand_computed():
    # matched 0.1, 0.3, 0.35; mismatched 0.2, 0.8: t in (0.35, 0.8] gets 4 of 5 (t = 0.15:
    # 3, t = 0.25: 2, t = 0.32: 3); the candidate there is the midpoint 0.575.
    assert metrics.accuracy_optimal_threshold(
        [0.1, 0.3, 0.35, 0.2, 0.8], [True, True, True, False, False]) == pytest.approx(0.575)
