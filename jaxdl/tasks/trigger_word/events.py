"""Event-level evaluation of trigger-word (wake-word) detectors.

A trigger-word model outputs, for a clip of ``duration`` seconds, one probability per
output step (``T`` steps, e.g. ``Ty = 496`` for a 10 s clip in the course). Frame
accuracy on such outputs is misleading (predicting "no trigger" everywhere scores
~90 %), so this module turns probabilities into discrete *detections* and scores
those against the true trigger words:

1. :func:`detect` (pure JAX, ``lax.scan`` over time; :func:`detect_numpy` is the
   plain-Python reference) fires when the probability has been above a threshold
   for ``min_consecutive`` steps, at most once per ``refractory`` steps.
2. :func:`fired_times` / :func:`step_times` map output steps to seconds.
3. :func:`match_events` pairs detections with the ends of true trigger words
   (one-to-one, greedy); :func:`count_events` turns one clip into
   :class:`EventCounts`, which add up over clips.
4. :func:`event_metrics` gives event precision / recall / F1, false accepts per
   hour and the false-reject rate; :func:`evaluate_clips` does 1-4 for a batch of
   clips, :func:`event_pr_curve` for a sweep of thresholds, and
   :func:`false_reject_at_false_accepts` picks the operating point the way wake-word
   systems are judged (lowest false-reject rate at a false-accept budget).

Device code stops at :func:`detect`; matching and counting are numpy on the host.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

__all__ = [
    "EventCounts",
    "count_events",
    "detect",
    "detect_numpy",
    "evaluate_clips",
    "event_metrics",
    "event_pr_curve",
    "false_reject_at_false_accepts",
    "fired_times",
    "match_events",
    "step_times",
]

SECONDS_PER_HOUR = 3600.0


# ------------------------------------------------------------------------ detection


def _concrete_int(value: Any) -> int | None:
    """``value`` as a Python int if it is concrete (not a tracer), else None."""
    if isinstance(value, jax.core.Tracer):
        return None
    array = np.asarray(value)
    if array.ndim != 0 or not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"expected an integer scalar, got {value!r}")
    return int(array)


def _check_detect_params(threshold: Any, min_consecutive: Any, refractory: Any) -> None:
    """Raise on parameters that are concrete and invalid; tracers pass unchecked."""
    if not isinstance(threshold, jax.core.Tracer):
        if np.ndim(threshold) != 0 or not np.isfinite(float(np.asarray(threshold))):
            raise ValueError(f"threshold must be a finite scalar, got {threshold!r}")
    run = _concrete_int(min_consecutive)
    if run is not None and run < 1:
        raise ValueError(f"min_consecutive must be >= 1, got {run}")
    gap = _concrete_int(refractory)
    if gap is not None and gap < 0:
        raise ValueError(f"refractory must be >= 0, got {gap}")


def _detect_core(probs: jax.Array, threshold: jax.Array, min_consecutive: jax.Array,
                 refractory: jax.Array) -> jax.Array:
    """The scan behind :func:`detect`; ``probs [..., T]`` float, parameters scalars."""
    steps = jnp.moveaxis(probs, -1, 0)  # [T, ...]: lax.scan walks the leading axis.
    batch_shape = steps.shape[1:]
    threshold = jnp.asarray(threshold, steps.dtype)
    min_consecutive = jnp.asarray(min_consecutive, jnp.int32)
    refractory = jnp.asarray(refractory, jnp.int32)

    def step(carry, p):
        run, cooldown = carry
        # Length of the current run of steps above threshold, saturating at
        # min_consecutive so it cannot overflow on long inputs. A fire does not
        # reset it.
        run = jnp.where(p > threshold, jnp.minimum(run + 1, min_consecutive), 0)
        # cooldown = how many more steps (this one included) are blocked by the
        # last fire; 0 before any fire.
        fire = (run >= min_consecutive) & (cooldown == 0)
        cooldown = jnp.where(fire, refractory, jnp.maximum(cooldown - 1, 0))
        return (run, cooldown), fire

    init = (jnp.zeros(batch_shape, jnp.int32), jnp.zeros(batch_shape, jnp.int32))
    _, fires = lax.scan(step, init, steps)
    return jnp.moveaxis(fires, 0, -1)


_detect_jit = jax.jit(_detect_core)


def detect(
    probs: Any,
    *,
    threshold: Any = 0.5,
    min_consecutive: Any = 1,
    refractory: Any = 75,
) -> jax.Array:
    """Turn per-step trigger probabilities into discrete detections ("chimes").

    Step ``t`` fires when

    * the last ``min_consecutive`` steps, ``t`` included, all have
      ``probs > threshold`` (strictly greater), and
    * no fire happened in the previous ``refractory`` steps: a fire at ``t0`` blocks
      ``t0 + 1 .. t0 + refractory``. Before the first fire nothing is blocked.

    The run counter is not reset by a fire: with ``refractory=0`` every step of a
    long enough run above threshold fires.

    Relation to the course's Keras "chime" rule (``consecutive_timesteps`` counts
    steps since the last chime; chime when ``p > threshold`` and the count exceeds
    75, then reset it): that is ``min_consecutive=1, refractory=75`` except that the
    course's counter starts at 0, so it can never chime in the first 75 output steps
    (~1.5 s of a 10 s clip with ``Ty = 496``), whereas here a trigger word at the very
    start of a clip is detected.

    Pure and traceable: works under ``jax.jit`` and ``jax.vmap``. All three
    parameters may be Python numbers or traced JAX scalars (so one can ``vmap`` over
    thresholds, as :func:`event_pr_curve` does). Concrete values are validated
    (``threshold`` finite, ``min_consecutive >= 1``, ``refractory >= 0``); traced
    ones cannot be and must satisfy the same conditions.

    Args:
      probs: probabilities ``[..., T]``, any float dtype (ints are cast to
        float32); leading axes are independent clips.
      threshold: scalar; compared in ``probs``'s dtype.
      min_consecutive: int scalar >= 1, steps above threshold needed to fire.
      refractory: int scalar >= 0, steps blocked after each fire.

    Returns:
      ``fires``: bool ``[..., T]``, True at the steps that fire.

    Raises:
      ValueError: ``probs`` is a scalar, or a concrete parameter is out of range.
      TypeError: a concrete ``min_consecutive`` / ``refractory`` is not an int.
    """
    probs = jnp.asarray(probs)
    if probs.ndim == 0:
        raise ValueError("detect: probs must have a time axis, shape [..., T]")
    if not jnp.issubdtype(probs.dtype, jnp.floating):
        probs = probs.astype(jnp.float32)
    _check_detect_params(threshold, min_consecutive, refractory)
    return _detect_jit(probs, threshold, min_consecutive, refractory)


def detect_numpy(
    probs: Any,
    *,
    threshold: float = 0.5,
    min_consecutive: int = 1,
    refractory: int = 75,
) -> np.ndarray:
    """Plain-Python reference for :func:`detect` (same rule, same arguments).

    Written as the obvious loop, for tests and for readers::

        run, last_fire = 0, None
        for t in range(T):
            run = run + 1 if probs[t] > threshold else 0
            free = last_fire is None or t - last_fire > refractory
            if run >= min_consecutive and free:
                fires[t], last_fire = True, t

    Args:
      probs: probabilities ``[..., T]``; leading axes are independent clips.

    Returns:
      bool ``np.ndarray [..., T]``.
    """
    probs = np.asarray(probs)
    if probs.ndim == 0:
        raise ValueError("detect_numpy: probs must have a time axis, shape [..., T]")
    _check_detect_params(threshold, min_consecutive, refractory)
    if not np.issubdtype(probs.dtype, np.floating):
        probs = probs.astype(np.float32)
    threshold = probs.dtype.type(threshold)
    flat = probs.reshape(-1, probs.shape[-1])
    fires = np.zeros(flat.shape, dtype=bool)
    for clip, row in enumerate(flat):
        run, last_fire = 0, None
        for t, p in enumerate(row):
            run = run + 1 if p > threshold else 0
            free = last_fire is None or t - last_fire > refractory
            if run >= min_consecutive and free:
                fires[clip, t] = True
                last_fire = t
    return fires.reshape(probs.shape)


# ---------------------------------------------------------------------- time axis


def _check_duration(duration: Any) -> float:
    duration = float(duration)
    if not (math.isfinite(duration) and duration > 0):
        raise ValueError(f"duration must be a positive number of seconds, got {duration}")
    return duration


def step_times(steps: Any, num_steps: int, duration: float) -> np.ndarray:
    """Seconds of output steps: ``step * duration / num_steps`` (the course's mapping).

    Args:
      steps: step indices, int array of any shape.
      num_steps: output steps per clip (``Ty``), > 0.
      duration: clip length in seconds, > 0.

    Returns:
      float64 ``np.ndarray`` of the same shape as ``steps``.
    """
    if int(num_steps) != num_steps or num_steps <= 0:
        raise ValueError(f"num_steps must be a positive int, got {num_steps!r}")
    duration = _check_duration(duration)
    return np.asarray(steps, dtype=np.float64) * duration / int(num_steps)


def fired_times(fires: Any, duration: float) -> np.ndarray:
    """Times in seconds of the fired steps of one clip.

    Args:
      fires: bool ``[T]`` from :func:`detect` for one clip.
      duration: clip length in seconds.

    Returns:
      float64 ``[D]``, increasing; ``D`` = number of fires.
    """
    fires = np.asarray(fires)
    if fires.ndim != 1:
        raise ValueError(f"fired_times: fires must be 1-D [T], got shape {fires.shape}")
    return step_times(np.flatnonzero(fires), max(fires.shape[0], 1), duration)


# ------------------------------------------------------------------------- matching


def _as_times(values: Any, name: str) -> np.ndarray:
    times = np.asarray(values, dtype=np.float64)
    if times.ndim != 1:
        raise ValueError(f"{name} must be 1-D seconds, got shape {times.shape}")
    if not np.all(np.isfinite(times)):
        raise ValueError(f"{name} must be finite")
    return times


def _check_window(before: float, after: float) -> tuple[float, float]:
    before, after = float(before), float(after)
    if not (before >= 0 and after >= 0 and math.isfinite(before + after)):
        raise ValueError(f"before and after must be finite and >= 0, got {before}, {after}")
    return before, after


def match_events(
    detections: Any,
    truth_ends: Any,
    *,
    before: float = 0.3,
    after: float = 1.3,
) -> tuple[np.ndarray, np.ndarray]:
    """Pair detections with true trigger words, one-to-one.

    Detection ``d`` may match the word ending at ``e`` when
    ``e - before <= d <= e + after`` (the label is 1 for ~1.1 s after a word ends,
    so a detection is expected just after ``e``). Greedy: truths in increasing time
    order each take the earliest still unmatched detection in their window. As all
    windows have the same length, this also maximises the number of matches (the
    classic earliest-deadline argument), even when windows overlap.

    Args:
      detections: detection times ``[D]`` in seconds, any order.
      truth_ends: end times ``[E]`` of the true trigger words in seconds, any order.
      before: seconds a detection may precede a word's end.
      after: seconds a detection may follow a word's end.

    Returns:
      ``(det_matched bool [D], truth_matched bool [E])`` in the input orders.
    """
    detections = _as_times(detections, "detections")
    truth_ends = _as_times(truth_ends, "truth_ends")
    before, after = _check_window(before, after)
    det_matched = np.zeros(detections.shape, dtype=bool)
    truth_matched = np.zeros(truth_ends.shape, dtype=bool)
    det_order = np.argsort(detections, kind="stable")
    for e in np.argsort(truth_ends, kind="stable"):
        lo, hi = truth_ends[e] - before, truth_ends[e] + after
        for d in det_order:
            if not det_matched[d] and lo <= detections[d] <= hi:
                det_matched[d] = truth_matched[e] = True
                break
    return det_matched, truth_matched


# ------------------------------------------------------------------------- counting


@dataclasses.dataclass(frozen=True)
class EventCounts:
    """Event counts of one clip or, summed with ``+``, of many.

    Attributes:
      true_positives: detections matched to a true trigger word.
      false_positives: unmatched detections (all of them: event precision).
      false_negatives: true trigger words left unmatched.
      false_accepts: unmatched detections outside every excluded stretch around a
        trigger word, i.e. in audio with no trigger word (false accepts per hour).
      detections: all detections.
      positives: all true trigger words.
      seconds: total audio, in seconds.
      negative_seconds: audio outside the excluded stretches, in seconds.
    """

    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0
    false_accepts: int = 0
    detections: int = 0
    positives: int = 0
    seconds: float = 0.0
    negative_seconds: float = 0.0

    def __add__(self, other: EventCounts) -> EventCounts:
        if not isinstance(other, EventCounts):
            return NotImplemented
        return EventCounts(*(getattr(self, f.name) + getattr(other, f.name)
                             for f in dataclasses.fields(self)))

    def __radd__(self, other: Any) -> EventCounts:
        # Lets ``sum(counts)`` work: sum starts from the int 0.
        if isinstance(other, int) and other == 0:
            return self
        return NotImplemented


def _as_truths(truths: Any) -> np.ndarray:
    """``truths`` as float64 ``[E, 2]`` (start, end) rows, validated."""
    rows = np.asarray(truths if len(truths) else np.zeros((0, 2)), dtype=np.float64)
    if rows.ndim != 2 or rows.shape[1] != 2:
        raise ValueError(
            f"truths must be a list of (start, end) seconds, got shape {rows.shape}")
    if not np.all(np.isfinite(rows)) or np.any(rows[:, 1] < rows[:, 0]):
        raise ValueError("truths must be finite (start, end) pairs with start <= end")
    return rows


def _union_length(intervals: np.ndarray) -> float:
    """Total length of the union of closed intervals ``[K, 2]``."""
    total, cur_lo, cur_hi = 0.0, None, None
    for lo, hi in intervals[np.argsort(intervals[:, 0], kind="stable")]:
        if cur_hi is None or lo > cur_hi:
            if cur_hi is not None:
                total += cur_hi - cur_lo
            cur_lo, cur_hi = lo, hi
        else:
            cur_hi = max(cur_hi, hi)
    if cur_hi is not None:
        total += cur_hi - cur_lo
    return float(total)


def count_events(
    detections: Any,
    truths: Any,
    duration: float,
    *,
    before: float = 0.3,
    after: float = 1.3,
) -> EventCounts:
    """Count the events of one clip.

    The excluded stretch of a trigger word ``(start, end)`` is
    ``[start - before, end + after]`` clipped to ``[0, duration]``: the word itself
    and the window in which its detection is expected. ``negative_seconds`` is
    ``duration`` minus the length of the union of the stretches. Detections are
    matched with :func:`match_events` on the words' end times.

    Args:
      detections: detection times ``[D]`` in seconds.
      truths: the clip's trigger words as ``(start, end)`` seconds, a list or an
        array ``[E, 2]`` (``E`` may be 0).
      duration: clip length in seconds.
      before, after: the matching window, see :func:`match_events`.

    Returns:
      :class:`EventCounts` of the clip.
    """
    detections = _as_times(detections, "detections")
    rows = _as_truths(truths)
    duration = _check_duration(duration)
    before, after = _check_window(before, after)
    det_matched, truth_matched = match_events(detections, rows[:, 1],
                                              before=before, after=after)
    stretches = np.stack([np.clip(rows[:, 0] - before, 0.0, duration),
                          np.clip(rows[:, 1] + after, 0.0, duration)], axis=1)
    inside = np.any((detections[:, None] >= stretches[None, :, 0])
                    & (detections[:, None] <= stretches[None, :, 1]), axis=1)
    true_positives = int(truth_matched.sum())
    return EventCounts(
        true_positives=true_positives,
        false_positives=int((~det_matched).sum()),
        false_negatives=int((~truth_matched).sum()),
        false_accepts=int((~det_matched & ~inside).sum()),
        detections=int(detections.size),
        positives=int(rows.shape[0]),
        seconds=duration,
        negative_seconds=max(duration - _union_length(stretches), 0.0),
    )


# -------------------------------------------------------------------------- metrics


def event_metrics(counts: EventCounts) -> dict[str, float]:
    """Event-level metrics from (summed) :class:`EventCounts`.

    Empty cases use the "vacuous truth" convention, so that doing nothing wrong
    never scores as a failure and a perfect detector scores 1 everywhere:

    * no detections: ``event_precision = 1.0`` (no detection was wrong; this is also
      the end point of sklearn's ``precision_recall_curve``, not its
      ``zero_division=0``);
    * no positives: ``event_recall = 1.0`` (no word was missed) and
      ``false_reject_rate = 0.0``;
    * ``event_f1`` is the harmonic mean of the two, 0.0 when both are 0; so no
      detections on clips with trigger words gives ``P = 1, R = 0, F1 = 0`` and no
      detections on clips without any gives ``P = R = F1 = 1``;
    * ``negative_seconds == 0``: ``false_accepts_per_hour`` is 0.0 when there are no
      false accepts, ``inf`` otherwise.

    Returns:
      dict of Python floats: ``event_precision``, ``event_recall``, ``event_f1``,
      ``false_accepts``, ``false_accepts_per_hour``, ``false_reject_rate``,
      ``positives``, ``detections``, ``negative_hours``, plus the raw
      ``true_positives``, ``false_positives``, ``false_negatives`` and ``hours``.
    """
    c = counts
    precision = c.true_positives / c.detections if c.detections else 1.0
    recall = c.true_positives / c.positives if c.positives else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    negative_hours = c.negative_seconds / SECONDS_PER_HOUR
    if negative_hours > 0:
        fa_per_hour = c.false_accepts / negative_hours
    else:
        fa_per_hour = math.inf if c.false_accepts else 0.0
    return {
        "event_precision": float(precision),
        "event_recall": float(recall),
        "event_f1": float(f1),
        "false_accepts": float(c.false_accepts),
        "false_accepts_per_hour": float(fa_per_hour),
        "false_reject_rate": float(c.false_negatives / c.positives if c.positives else 0.0),
        "positives": float(c.positives),
        "detections": float(c.detections),
        "negative_hours": float(negative_hours),
        "true_positives": float(c.true_positives),
        "false_positives": float(c.false_positives),
        "false_negatives": float(c.false_negatives),
        "hours": float(c.seconds / SECONDS_PER_HOUR),
    }


# ------------------------------------------------------------------ batch evaluation


_detect_clips = jax.jit(jax.vmap(_detect_core, in_axes=(0, None, None, None)))
_detect_sweep = jax.jit(jax.vmap(_detect_clips, in_axes=(None, 0, None, None)))


def _check_clips(probs: Any, truths: Sequence[Any]) -> jax.Array:
    probs = jnp.asarray(probs)
    if probs.ndim != 2 or probs.shape[1] == 0:
        raise ValueError(f"probs must be [C, T] with T >= 1, got shape {probs.shape}")
    if not jnp.issubdtype(probs.dtype, jnp.floating):
        probs = probs.astype(jnp.float32)
    if len(truths) != probs.shape[0]:
        raise ValueError(
            f"truths must hold one list of (start, end) per clip: {len(truths)} lists "
            f"for {probs.shape[0]} clips")
    return probs


def _count_clips(fires: np.ndarray, truths: Sequence[Any], duration: float,
                 before: float, after: float) -> tuple[EventCounts, list[np.ndarray]]:
    times = [fired_times(row, duration) for row in fires]
    total = sum((count_events(t, truth, duration, before=before, after=after)
                 for t, truth in zip(times, truths)), EventCounts())
    return total, times


def evaluate_clips(
    probs: Any,
    truths: Sequence[Any],
    duration: float,
    *,
    threshold: float = 0.5,
    min_consecutive: int = 1,
    refractory: int = 75,
    before: float = 0.3,
    after: float = 1.3,
) -> tuple[dict[str, float], list[np.ndarray]]:
    """Detect on a batch of clips and score the events.

    Args:
      probs: probabilities ``[C, T]`` of ``C`` clips, each ``duration`` seconds.
      truths: ``C`` lists of the clips' trigger words as ``(start, end)`` seconds.
      duration: clip length in seconds (all clips equally long).
      threshold, min_consecutive, refractory: see :func:`detect`.
      before, after: matching window, see :func:`match_events`.

    Returns:
      ``(metrics, detections)``: :func:`event_metrics` of the summed counts, and per
      clip the float64 detection times ``[D_c]`` in seconds.
    """
    probs = _check_clips(probs, truths)
    _check_detect_params(threshold, min_consecutive, refractory)
    fires = np.asarray(_detect_clips(probs, threshold, min_consecutive, refractory))
    counts, times = _count_clips(fires, truths, duration, before, after)
    return event_metrics(counts), times


def event_pr_curve(
    probs: Any,
    truths: Sequence[Any],
    duration: float,
    thresholds: Any,
    *,
    min_consecutive: int = 1,
    refractory: int = 75,
    before: float = 0.3,
    after: float = 1.3,
) -> dict[str, np.ndarray]:
    """Event metrics over a sweep of thresholds.

    One jitted :func:`detect` pass vmapped over thresholds and clips (memory
    ``K * C * T`` bools), then host-side counting per threshold; entry ``k`` equals
    :func:`evaluate_clips` at ``thresholds[k]``. With a refractory period recall need
    not be monotone in the threshold (a suppressed early fire can unblock a later
    one); with ``refractory=0`` it is non-increasing.

    Args:
      probs: probabilities ``[C, T]``.
      truths: ``C`` lists of ``(start, end)`` seconds.
      duration: clip length in seconds.
      thresholds: ``[K]`` finite thresholds, any order (kept as given).
      min_consecutive, refractory, before, after: as for :func:`evaluate_clips`.

    Returns:
      dict of float64 ``[K]`` arrays: ``threshold``, ``precision``, ``recall``,
      ``f1``, ``false_accepts_per_hour``, ``false_reject_rate``, ``false_accepts``,
      ``detections``.
    """
    probs = _check_clips(probs, truths)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    if thresholds.ndim != 1 or thresholds.size == 0 or not np.all(np.isfinite(thresholds)):
        raise ValueError(f"thresholds must be a non-empty 1-D finite array, got "
                         f"shape {thresholds.shape}")
    _check_detect_params(0.5, min_consecutive, refractory)
    fires = np.asarray(_detect_sweep(probs, jnp.asarray(thresholds, probs.dtype),
                                     min_consecutive, refractory))
    keys = {"precision": "event_precision", "recall": "event_recall", "f1": "event_f1",
            "false_accepts_per_hour": "false_accepts_per_hour",
            "false_reject_rate": "false_reject_rate", "false_accepts": "false_accepts",
            "detections": "detections"}
    rows = [event_metrics(_count_clips(f, truths, duration, before, after)[0])
            for f in fires]
    curve = {"threshold": thresholds}
    curve.update({k: np.array([r[m] for r in rows], dtype=np.float64)
                  for k, m in keys.items()})
    return curve


def false_reject_at_false_accepts(
    curve: Mapping[str, Any],
    max_false_accepts_per_hour: float,
) -> dict[str, float]:
    """The best operating point under a false-accept budget.

    Among thresholds with ``false_accepts_per_hour <= max_false_accepts_per_hour``,
    the one with the lowest ``false_reject_rate``; ties go to the lower false
    accepts per hour, then to the higher threshold. NaN entries never qualify.

    Args:
      curve: :func:`event_pr_curve` output (needs ``threshold``,
        ``false_reject_rate``, ``false_accepts_per_hour``).
      max_false_accepts_per_hour: the budget, e.g. 1.0.

    Returns:
      dict ``threshold``, ``false_reject_rate``, ``false_accepts_per_hour`` (Python
      floats); all NaN when no threshold meets the budget.
    """
    try:
        thr = np.asarray(curve["threshold"], dtype=np.float64)
        frr = np.asarray(curve["false_reject_rate"], dtype=np.float64)
        fah = np.asarray(curve["false_accepts_per_hour"], dtype=np.float64)
    except KeyError as err:
        raise KeyError(f"curve lacks {err}; pass the output of event_pr_curve") from None
    if not (thr.ndim == 1 and thr.shape == frr.shape == fah.shape):
        raise ValueError(f"curve arrays must be 1-D of one length, got {thr.shape}, "
                         f"{frr.shape}, {fah.shape}")
    ok = np.flatnonzero((fah <= float(max_false_accepts_per_hour))
                        & ~np.isnan(frr) & ~np.isnan(thr))
    if ok.size == 0:
        return {"threshold": math.nan, "false_reject_rate": math.nan,
                "false_accepts_per_hour": math.nan}
    best = ok[np.lexsort((-thr[ok], fah[ok], frr[ok]))[0]]
    return {"threshold": float(thr[best]), "false_reject_rate": float(frr[best]),
            "false_accepts_per_hour": float(fah[best])}
