"""Tests for jaxdl.tasks.trigger_word.events: the JAX detector against its numpy reference, hand-built
detection, matching and counting cases, and the metric conventions."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl.tasks.trigger_word import events as ev


def _probs(*runs, length=40, low=0.1, high=0.9):
    """float32 [length]: ``low`` everywhere except ``high`` on [start, stop) runs."""
    p = np.full(length, low, np.float32)
    for start, stop in runs:
        p[start:stop] = high
    return p


# ------------------------------------------------------------------------ detection


@pytest.mark.parametrize("threshold, min_consecutive, refractory", [
    (0.5, 1, 75), (0.5, 1, 0), (0.3, 3, 5), (0.7, 2, 10), (0.6, 4, 1),
])
def test_detect_matches_numpy_reference(threshold, min_consecutive, refractory):
    rng = np.random.default_rng(min_consecutive * 100 + refractory)
    # Smooth-ish random probabilities so that runs of several steps occur.
    noise = rng.random((5, 120)).astype(np.float32)
    probs = np.clip(np.cumsum(noise - 0.5, axis=1) * 0.2 + 0.5, 0, 1).astype(np.float32)
    kw = dict(threshold=threshold, min_consecutive=min_consecutive, refractory=refractory)
    want = ev.detect_numpy(probs, **kw)
    np.testing.assert_array_equal(np.asarray(ev.detect(probs, **kw)), want)
    # vmap over clips and jit give the same.
    vmapped = jax.vmap(lambda p: ev.detect(p, **kw))(jnp.asarray(probs))
    np.testing.assert_array_equal(np.asarray(vmapped), want)
    jitted = jax.jit(lambda p, t: ev.detect(p, threshold=t, min_consecutive=min_consecutive,
                                            refractory=refractory))
    np.testing.assert_array_equal(np.asarray(jitted(probs, threshold)), want)
    # Extra leading axes are independent clips.
    stacked = np.asarray(ev.detect(probs.reshape(1, 5, 120), **kw))
    np.testing.assert_array_equal(stacked.reshape(5, 120), want)
    assert ev.detect(probs, **kw).dtype == jnp.bool_


def test_detect_with_traced_run_and_refractory():
    probs = _probs((2, 6), (10, 20))
    f = jax.jit(lambda m, r: ev.detect(probs, min_consecutive=m, refractory=r))
    for m, r in [(1, 0), (2, 3), (5, 4)]:
        np.testing.assert_array_equal(
            np.asarray(f(m, r)), ev.detect_numpy(probs, min_consecutive=m, refractory=r))


def test_short_run_does_not_fire():
    probs = _probs((5, 7), (20, 23))  # runs of 2 and 3 steps
    fires = ev.detect_numpy(probs, min_consecutive=3, refractory=0)
    assert list(np.flatnonzero(fires)) == [22]
    np.testing.assert_array_equal(np.asarray(ev.detect(probs, min_consecutive=3,
                                                       refractory=0)), fires)


def test_refractory_merges_close_bursts_and_separates_far_ones():
    close = _probs((2, 4), (8, 10))     # second burst starts 6 steps after the fire
    far = _probs((2, 4), (13, 15))      # 11 steps after
    for probs, want in [(close, [2]), (far, [2, 13])]:
        got = np.flatnonzero(np.asarray(ev.detect(probs, refractory=10)))
        assert list(got) == want
    # A fire at t0 blocks exactly t0+1 .. t0+refractory.
    probs = _probs((0, 40))
    assert list(np.flatnonzero(np.asarray(ev.detect(probs, refractory=10)))) == [0, 11, 22, 33]
    # Nothing blocks before the first fire (unlike the course's counter).
    assert bool(ev.detect(_probs((0, 1)), refractory=75)[0])


def test_run_counter_not_reset_by_fire():
    probs = _probs((0, 10))
    got = np.flatnonzero(np.asarray(ev.detect(probs, min_consecutive=3, refractory=2)))
    assert list(got) == [2, 5, 8]


def test_threshold_is_strict():
    probs = np.array([0.5, 0.5, 0.50001, 0.4], np.float32)
    got = np.asarray(ev.detect(probs, threshold=0.5, refractory=0))
    np.testing.assert_array_equal(got, [False, False, True, False])
    np.testing.assert_array_equal(ev.detect_numpy(probs, threshold=0.5, refractory=0), got)


def test_detect_rejects_bad_parameters():
    with pytest.raises(ValueError, match="min_consecutive"):
        ev.detect(_probs(), min_consecutive=0)
    with pytest.raises(ValueError, match="refractory"):
        ev.detect(_probs(), refractory=-1)
    with pytest.raises(TypeError):
        ev.detect(_probs(), refractory=1.5)
    with pytest.raises(ValueError, match="time axis"):
        ev.detect(0.3)


# ------------------------------------------------------------------------ time axis


def test_step_and_fired_times():
    np.testing.assert_allclose(ev.step_times([0, 248, 495], 496, 10.0),
                               [0.0, 5.0, 495 * 10 / 496])
    fires = np.zeros(496, bool)
    fires[[10, 300]] = True
    np.testing.assert_allclose(ev.fired_times(fires, 10.0), [100 / 496, 3000 / 496])
    assert ev.fired_times(np.zeros(5, bool), 10.0).shape == (0,)
    with pytest.raises(ValueError):
        ev.step_times([1], 0, 10.0)
    with pytest.raises(ValueError):
        ev.fired_times(np.zeros((2, 3), bool), 10.0)


# ------------------------------------------------------------------------- matching


def test_match_window_edges():
    # truth ends at 5.0; window [4.7, 6.3]
    det, tru = ev.match_events([4.6, 6.4], [5.0])
    assert not det.any() and not tru.any()
    det, tru = ev.match_events([4.7], [5.0])
    assert det.all() and tru.all()
    det, tru = ev.match_events([6.3], [5.0])
    assert det.all() and tru.all()


def test_match_two_detections_one_truth():
    det, tru = ev.match_events([5.8, 5.2], [5.0])
    np.testing.assert_array_equal(det, [False, True])  # earliest one matches
    np.testing.assert_array_equal(tru, [True])


def test_match_one_detection_two_truths():
    # Windows [1.7, 3.3] and [2.7, 4.3] both hold 3.0; it matches only the first.
    det, tru = ev.match_events([3.0], [4.0, 2.0])
    np.testing.assert_array_equal(det, [True])
    np.testing.assert_array_equal(tru, [False, True])


def test_match_greedy_in_truth_order():
    # Truths in time order, each taking the earliest unmatched detection in its
    # window: 2.0 ([1.7, 3.3]) takes 2.8, then 3.0 ([2.7, 4.3]) takes 3.3; 4.0 is left.
    det, tru = ev.match_events([3.3, 2.8, 4.0], [3.0, 2.0])
    np.testing.assert_array_equal(det, [True, True, False])
    np.testing.assert_array_equal(tru, [True, True])
    # A detection in both windows goes to the earlier truth.
    det, tru = ev.match_events([2.8], [3.0, 2.0])
    np.testing.assert_array_equal(tru, [False, True])


def test_match_empty():
    det, tru = ev.match_events([], [])
    assert det.shape == (0,) and tru.shape == (0,)
    det, tru = ev.match_events([1.0], [])
    np.testing.assert_array_equal(det, [False])


# ------------------------------------------------------------------------- counting


def test_count_events_false_accepts_only_outside_stretches():
    truths = [(1.0, 2.0), (6.0, 6.5)]  # stretches [0.7, 3.3], [5.7, 7.8]
    detections = [2.5, 3.0, 0.2, 5.8, 9.0]
    c = ev.count_events(detections, truths, 10.0)
    # 2.5 matches (1, 2); 3.0 unmatched but inside; 0.2 and 9.0 outside; 5.8 is before
    # the second word's window [6.2, 7.8] but inside its stretch.
    assert c == ev.EventCounts(true_positives=1, false_positives=4, false_negatives=1,
                               false_accepts=2, detections=5, positives=2,
                               seconds=10.0, negative_seconds=pytest.approx(10 - 2.6 - 2.1))


def test_count_events_negative_seconds_overlap_and_clipping():
    # [0, 1.4] (clipped from -0.2), [1.2, 3.8] and [2.7, 4.8] overlap into [0, 4.8];
    # [9.2, 10] is clipped from [9.2, 10.8].
    truths = [(0.1, 0.1), (1.5, 2.5), (3.0, 3.5), (9.5, 9.5)]
    c = ev.count_events([], truths, 10.0)
    assert c.negative_seconds == pytest.approx(10.0 - 4.8 - 0.8)
    assert c.positives == 4 and c.false_negatives == 4 and c.detections == 0
    empty = ev.count_events([4.0], [], 10.0)
    assert empty.negative_seconds == 10.0 and empty.false_accepts == 1
    assert empty.false_positives == 1 and empty.positives == 0


def test_count_events_validates():
    with pytest.raises(ValueError, match="start, end"):
        ev.count_events([], [(1.0, 2.0, 3.0)], 10.0)
    with pytest.raises(ValueError, match="start <= end"):
        ev.count_events([], [(2.0, 1.0)], 10.0)
    with pytest.raises(ValueError, match="duration"):
        ev.count_events([], [], 0.0)


def test_event_counts_add():
    a = ev.EventCounts(1, 2, 3, 4, 5, 6, 10.0, 7.0)
    b = ev.EventCounts(10, 20, 30, 40, 50, 60, 100.0, 70.0)
    assert a + b == ev.EventCounts(11, 22, 33, 44, 55, 66, 110.0, 77.0)
    assert sum([a, b]) == a + b
    assert a + ev.EventCounts() == a


# -------------------------------------------------------------------------- metrics


def test_event_metrics_hand_computed():
    c = ev.EventCounts(true_positives=8, false_positives=2, false_negatives=2,
                       false_accepts=1, detections=10, positives=10, seconds=7200.0,
                       negative_seconds=1800.0)
    m = ev.event_metrics(c)
    assert m["event_precision"] == pytest.approx(0.8)
    assert m["event_recall"] == pytest.approx(0.8)
    assert m["event_f1"] == pytest.approx(0.8)
    assert m["false_accepts"] == 1
    assert m["false_accepts_per_hour"] == pytest.approx(2.0)
    assert m["false_reject_rate"] == pytest.approx(0.2)
    assert m["negative_hours"] == pytest.approx(0.5)
    assert m["positives"] == 10 and m["detections"] == 10
    c = ev.EventCounts(true_positives=1, false_positives=3, false_negatives=1,
                       detections=4, positives=2, seconds=10, negative_seconds=5)
    m = ev.event_metrics(c)
    assert m["event_f1"] == pytest.approx(2 * 0.25 * 0.5 / 0.75)


def test_event_metrics_empty_cases():
    # Trigger words but no detections: P = 1 (vacuous), R = 0, F1 = 0, FRR = 1.
    m = ev.event_metrics(ev.EventCounts(false_negatives=3, positives=3, seconds=30,
                                        negative_seconds=20))
    assert (m["event_precision"], m["event_recall"], m["event_f1"]) == (1.0, 0.0, 0.0)
    assert m["false_reject_rate"] == 1.0 and m["false_accepts_per_hour"] == 0.0
    # No trigger words, no detections: perfect.
    m = ev.event_metrics(ev.EventCounts(seconds=30, negative_seconds=30))
    assert (m["event_precision"], m["event_recall"], m["event_f1"]) == (1.0, 1.0, 1.0)
    assert m["false_reject_rate"] == 0.0
    # No trigger words, only false detections: P = 0, R = 1, F1 = 0.
    m = ev.event_metrics(ev.EventCounts(false_positives=2, false_accepts=2, detections=2,
                                        seconds=36, negative_seconds=36))
    assert (m["event_precision"], m["event_recall"], m["event_f1"]) == (0.0, 1.0, 0.0)
    assert m["false_accepts_per_hour"] == pytest.approx(200.0)
    # No negative audio.
    assert ev.event_metrics(ev.EventCounts())["false_accepts_per_hour"] == 0.0
    assert ev.event_metrics(ev.EventCounts(false_accepts=1))["false_accepts_per_hour"] \
        == math.inf


# ------------------------------------------------------------------ batch evaluation

T, DURATION = 100, 10.0  # 0.1 s per step


def _clip_set():
    """3 clips [3, T] with truths: peak heights 0.9, 0.6 and 0.4 mark true words;
    a 0.7 bump in clip 2 and a 0.55 bump in clip 0 are false."""
    probs = np.full((3, T), 0.05, np.float32)
    truths = [[(1.0, 1.5), (6.0, 6.5)], [(3.0, 3.5)], [(2.0, 2.5)]]
    probs[0, 16:20] = 0.9     # 1.6 s, matches (1.0, 1.5)
    probs[0, 66:70] = 0.4     # 6.6 s, weak true peak
    probs[0, 90:92] = 0.55    # 9.0 s, false accept
    probs[1, 36:40] = 0.6     # matches (3.0, 3.5)
    probs[2, 26:30] = 0.9     # matches (2.0, 2.5)
    probs[2, 70:72] = 0.7     # 7.0 s, false accept
    return probs, truths


def test_evaluate_clips_counts():
    probs, truths = _clip_set()
    metrics, dets = ev.evaluate_clips(probs, truths, DURATION, threshold=0.5,
                                      refractory=10)
    np.testing.assert_allclose(dets[0], [1.6, 9.0])
    np.testing.assert_allclose(dets[1], [3.6])
    np.testing.assert_allclose(dets[2], [2.6, 7.0])
    assert metrics["true_positives"] == 3 and metrics["positives"] == 4
    assert metrics["detections"] == 5 and metrics["false_accepts"] == 2
    assert metrics["event_precision"] == pytest.approx(0.6)
    assert metrics["event_recall"] == pytest.approx(0.75)
    # every stretch [start - 0.3, end + 1.3] lasts 2.1 s: 30 s - 4 * 2.1 s = 21.6 s
    assert metrics["negative_hours"] == pytest.approx(21.6 / 3600)
    assert metrics["false_accepts_per_hour"] == pytest.approx(2 / (21.6 / 3600))
    with pytest.raises(ValueError, match="one list"):
        ev.evaluate_clips(probs, truths[:2], DURATION)


def test_event_pr_curve_matches_evaluate_clips_and_is_monotone():
    probs, truths = _clip_set()
    thresholds = np.array([0.0, 0.3, 0.5, 0.58, 0.65, 0.8, 0.95])
    curve = ev.event_pr_curve(probs, truths, DURATION, thresholds, refractory=0,
                              min_consecutive=2)
    assert set(curve) >= {"threshold", "precision", "recall", "f1",
                          "false_accepts_per_hour", "false_reject_rate"}
    assert np.all(np.diff(curve["recall"]) <= 0)
    assert curve["recall"][1] == 1.0 and curve["recall"][-1] == 0.0
    for k, t in enumerate(thresholds):
        m, _ = ev.evaluate_clips(probs, truths, DURATION, threshold=t, refractory=0,
                                 min_consecutive=2)
        assert curve["precision"][k] == pytest.approx(m["event_precision"])
        assert curve["recall"][k] == pytest.approx(m["event_recall"])
        assert curve["f1"][k] == pytest.approx(m["event_f1"])
        assert curve["false_accepts_per_hour"][k] == pytest.approx(
            m["false_accepts_per_hour"])
        assert curve["false_reject_rate"][k] == pytest.approx(m["false_reject_rate"])


def test_false_reject_at_false_accepts():
    curve = {"threshold": np.array([0.2, 0.4, 0.6, 0.8]),
             "false_reject_rate": np.array([0.0, 0.1, 0.1, 0.5]),
             "false_accepts_per_hour": np.array([9.0, 2.0, 1.0, 0.0])}
    assert ev.false_reject_at_false_accepts(curve, 2.0) == {
        "threshold": 0.6, "false_reject_rate": 0.1, "false_accepts_per_hour": 1.0}
    assert ev.false_reject_at_false_accepts(curve, 10.0)["threshold"] == 0.2
    assert ev.false_reject_at_false_accepts(curve, 0.5)["threshold"] == 0.8
    none = ev.false_reject_at_false_accepts(curve, -1.0)
    assert all(math.isnan(v) for v in none.values())
    with pytest.raises(KeyError, match="false_reject_rate"):
        ev.false_reject_at_false_accepts({"threshold": [0.5]}, 1.0)
