"""Trigger-word plots: clips (waveform, spectrogram, labels, predictions and
detections) and the event precision-recall curve over thresholds.

Same conventions as :mod:`jaxdl.plots` (one PNG per call, 120 dpi, the path
returned; a private ``_foo_figure`` twin returns the unsaved figure for tests).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from jaxdl.plots import is_number, new_figure, save_figure


# -------------------------------------------------------------- trigger-word clips

_CLIP_KEYS = ("audio", "sample_rate", "features", "labels", "probs", "detections",
              "truths", "name")
_POSITIVE_COLOR = "tab:green"
_NEGATIVE_COLOR = "tab:gray"
_PROB_COLOR = "tab:blue"
_DETECTION_COLOR = "tab:red"


def _check_trigger_clip(index: int, clip: Mapping[str, Any]) -> dict[str, Any]:
    """One clip of :func:`trigger_word_clips` as validated numpy arrays."""
    where = f"trigger_word_clips: clip {index}"
    if not isinstance(clip, Mapping):
        raise TypeError(f"{where} must be a mapping, got {type(clip).__name__}")
    missing = [key for key in _CLIP_KEYS if key not in clip]
    if missing:
        raise ValueError(f"{where} lacks {missing}; needs {list(_CLIP_KEYS)}")
    audio = np.asarray(clip["audio"], np.float64)
    if audio.ndim != 1 or audio.size == 0:
        raise ValueError(f"{where}: audio must be 1-D non-empty, got {audio.shape}")
    sample_rate = clip["sample_rate"]
    if not is_number(sample_rate) or float(sample_rate) <= 0:
        raise ValueError(f"{where}: sample_rate must be a positive number, got "
                         f"{sample_rate!r}")
    features = np.asarray(clip["features"], np.float64)
    if features.ndim != 2 or 0 in features.shape:
        raise ValueError(f"{where}: features must be [Tx, F], got {features.shape}")
    labels = np.asarray(clip["labels"], np.float64).ravel()
    probs = np.asarray(clip["probs"], np.float64).ravel()
    if labels.size == 0 or labels.shape != probs.shape:
        raise ValueError(f"{where}: labels and probs must be [Ty] of one length >= 1, "
                         f"got {np.shape(clip['labels'])} and {np.shape(clip['probs'])}")
    detections = np.asarray(clip["detections"], np.float64).ravel()
    truths = []
    for item in clip["truths"]:
        if len(item) not in (2, 3):
            raise ValueError(f"{where}: truths must be (start, end[, word]), got {item!r}")
        start, end = float(item[0]), float(item[1])
        if not (math.isfinite(start) and math.isfinite(end) and start <= end):
            raise ValueError(f"{where}: truth {item!r} needs finite start <= end")
        truths.append((start, end, None if len(item) == 2 else str(item[2])))
    return {"audio": audio, "sample_rate": float(sample_rate), "features": features,
            "labels": labels, "probs": probs, "detections": detections,
            "truths": truths, "name": str(clip["name"])}


def _draw_trigger_clip(subfig: Any, clip: dict[str, Any], threshold: float,
                       trigger_words: frozenset[str], legend: bool) -> None:
    """Waveform, spectrogram and labels/probability panels of one clip."""
    audio, rate = clip["audio"], clip["sample_rate"]
    duration = audio.size / rate
    ax_wave, ax_spec, ax_prob = subfig.subplots(
        3, 1, sharex=True, gridspec_kw={"height_ratios": [1.0, 1.2, 1.0]})

    ax_wave.plot(np.arange(audio.size) / rate, audio, color="black", lw=0.4)
    peak = float(np.max(np.abs(audio))) or 1.0
    for start, end, word in clip["truths"]:
        positive = word is None or word.lower() in trigger_words
        color = _POSITIVE_COLOR if positive else _NEGATIVE_COLOR
        ax_wave.axvspan(start, end, color=color, alpha=0.3, lw=0)
        if word is not None:
            ax_wave.text((start + end) / 2, 0.95 * peak, word, ha="center", va="top",
                         fontsize="x-small", color=color, clip_on=True)
    ax_wave.set_ylim(-1.05 * peak, 1.05 * peak)
    ax_wave.set_ylabel("amplitude")
    if legend:
        ax_wave.legend(handles=[Patch(color=_POSITIVE_COLOR, alpha=0.3, label="trigger"),
                                Patch(color=_NEGATIVE_COLOR, alpha=0.3, label="other word")],
                       loc="lower right", fontsize="x-small")

    features = clip["features"]
    ax_spec.imshow(features.T, origin="lower", aspect="auto", cmap="magma",
                   extent=(0.0, duration, 0.0, features.shape[1]), interpolation="nearest")
    ax_spec.set_ylabel(clip.get("features_label", "frequency bin"))

    num_steps = clip["labels"].size
    times = np.arange(num_steps) * duration / num_steps
    ax_prob.step(times, clip["labels"], where="post", color=_POSITIVE_COLOR, lw=1.5,
                 label="label")
    ax_prob.plot(times, clip["probs"], color=_PROB_COLOR, lw=1.0, label="P(trigger)")
    ax_prob.axhline(threshold, color="black", ls="--", lw=0.8,
                    label=f"threshold {threshold:.2f}")
    for n, t in enumerate(clip["detections"]):
        ax_prob.axvline(t, color=_DETECTION_COLOR, lw=1.2,
                        label="detection" if n == 0 else None)
    ax_prob.set_ylim(-0.05, 1.05)
    ax_prob.set_xlim(0.0, duration)
    ax_prob.set_ylabel("probability")
    ax_prob.set_xlabel("time (s)")
    if legend:
        ax_prob.legend(loc="upper left", fontsize="x-small", ncols=2)
    n_pos = sum(1 for _, _, w in clip["truths"] if w is None or w.lower() in trigger_words)
    subfig.suptitle(f"{clip['name']}: {n_pos} trigger word(s), "
                    f"{clip['detections'].size} detection(s)", fontsize="medium")


def _trigger_word_clips_figure(
    clips: Sequence[Mapping[str, Any]],
    *,
    threshold: float = 0.5,
    title: str | None = None,
    trigger_words: str | Sequence[str] = ("activate",),
    columns: int = 2,
) -> Figure:
    if isinstance(clips, Mapping) or not isinstance(clips, Sequence) or not clips:
        raise ValueError("trigger_word_clips: clips must be a non-empty sequence of "
                         "mappings")
    if not is_number(threshold):
        raise ValueError(f"trigger_word_clips: threshold must be a number, got "
                         f"{threshold!r}")
    if isinstance(trigger_words, str):
        trigger_words = (trigger_words,)
    words = frozenset(w.lower() for w in trigger_words)
    checked = [_check_trigger_clip(i, clip) for i, clip in enumerate(clips)]
    ncols = max(1, min(int(columns), len(checked)))
    nrows = math.ceil(len(checked) / ncols)
    fig = new_figure(7.0 * ncols, 5.6 * nrows + (0.4 if title else 0.0))
    subfigs = np.asarray(fig.subfigures(nrows, ncols, squeeze=False)).ravel()
    for n, subfig in enumerate(subfigs):
        if n < len(checked):
            _draw_trigger_clip(subfig, checked[n], float(threshold), words, legend=n == 0)
    if title:
        fig.suptitle(title, fontsize="large")
    return fig


def trigger_word_clips(
    clips: Sequence[Mapping[str, Any]],
    path: str | os.PathLike,
    *,
    threshold: float = 0.5,
    title: str | None = None,
    trigger_words: str | Sequence[str] = ("activate",),
    columns: int = 2,
) -> Path:
    """Trigger-word clips with their truth, spectrogram and predictions.

    Each clip gets three stacked panels sharing the time axis in seconds: the
    waveform with the true words shaded (trigger words green, other words grey,
    labelled with the word), the log spectrogram, and the labels (step) with the
    predicted probability, the threshold (dashed) and the detections (red vertical
    lines). Clips are laid out in a grid of ``columns`` columns (2 x 2 for 4 clips).

    Args:
      clips: mappings with ``audio`` float ``[N]``, ``sample_rate`` (Hz),
        ``features`` float ``[Tx, F]`` (log spectrogram, time first), ``labels``
        ``[Ty]``, ``probs`` ``[Ty]``, ``detections`` seconds ``[D]``, ``truths`` a
        list of ``(start, end, word)`` seconds (a bare ``(start, end)`` counts as a
        trigger word), ``name`` str. The clip lasts ``N / sample_rate`` seconds;
        features and output steps are spread evenly over it.
      path: where to write the PNG.
      threshold: the detection threshold to draw.
      title: figure title, if any (each clip is titled with its name).
      trigger_words: words (case-insensitive) shaded as positives.
      columns: clips per row.

    Returns:
      ``path`` as a :class:`~pathlib.Path`.

    Raises:
      ValueError: no clips, a key missing, or an array of the wrong shape.
      TypeError: a clip is not a mapping.
    """
    fig = _trigger_word_clips_figure(clips, threshold=threshold, title=title,
                                     trigger_words=trigger_words, columns=columns)
    return save_figure(fig, path)


# ------------------------------------------------------- event precision / recall


def _precision_recall_figure(
    curve: Mapping[str, Any],
    *,
    mark_threshold: float | None = None,
    title: str | None = None,
) -> Figure:
    if not isinstance(curve, Mapping):
        raise TypeError(f"precision_recall: curve must be a mapping, got "
                        f"{type(curve).__name__}")
    missing = [k for k in ("precision", "recall", "threshold") if k not in curve]
    if missing:
        raise ValueError(f"precision_recall: curve lacks {missing}")
    precision = np.asarray(curve["precision"], np.float64)
    recall = np.asarray(curve["recall"], np.float64)
    threshold = np.asarray(curve["threshold"], np.float64)
    if precision.ndim != 1 or precision.size == 0 or not (
            precision.shape == recall.shape == threshold.shape):
        raise ValueError(
            f"precision_recall: precision, recall and threshold must be 1-D of one "
            f"length >= 1, got {precision.shape}, {recall.shape}, {threshold.shape}")
    for name, values in (("precision", precision), ("recall", recall)):
        if not np.all(np.isfinite(values)) or values.min() < 0 or values.max() > 1:
            raise ValueError(f"precision_recall: {name} must be finite and in [0, 1]")

    fig = new_figure(5.8, 5.0)
    ax = fig.add_subplot()
    # Faint iso-F1 contours for reference.
    r = np.linspace(0.01, 1.0, 200)
    for f1 in (0.2, 0.4, 0.6, 0.8):
        p = f1 * r / (2 * r - f1)
        keep = (p > 0) & (p <= 1.0) & (2 * r > f1)
        ax.plot(r[keep], p[keep], color="gray", lw=0.6, alpha=0.4)
        ax.annotate(f"F1={f1:.1f}", (1.0, f1 / (2 - f1)), fontsize="x-small",
                    color="gray", xytext=(-2, 2), textcoords="offset points",
                    ha="right", va="bottom")
    order = np.argsort(threshold, kind="stable")
    ax.plot(recall[order], precision[order], color="tab:blue", lw=1.5, label="event PR")
    points = ax.scatter(recall[order], precision[order], c=threshold[order], s=18,
                        cmap="viridis", zorder=3)
    fig.colorbar(points, ax=ax, label="threshold")
    if mark_threshold is not None:
        if not is_number(mark_threshold):
            raise ValueError(f"precision_recall: mark_threshold must be a number, got "
                             f"{mark_threshold!r}")
        k = int(np.nanargmin(np.abs(threshold - float(mark_threshold))))
        ax.plot(recall[k], precision[k], "o", ms=10, mfc="none", mec="tab:red", mew=2,
                zorder=4, label=f"threshold {threshold[k]:.2f}")
        ax.annotate(f"t = {threshold[k]:.2f}\nP = {precision[k]:.2f}, R = {recall[k]:.2f}",
                    (recall[k], precision[k]), xytext=(-12, -14),
                    textcoords="offset points", ha="right", va="top",
                    fontsize="small", color="tab:red",
                    arrowprops={"arrowstyle": "-", "color": "tab:red", "lw": 0.8})
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.05)
    ax.set_xlabel("event recall")
    ax.set_ylabel("event precision")
    ax.set_title(title or "Trigger-word events: precision vs recall")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower left", fontsize="small")
    return fig


def precision_recall(
    curve: Mapping[str, Any],
    path: str | os.PathLike,
    *,
    mark_threshold: float | None = None,
    title: str | None = None,
) -> Path:
    """Event precision against event recall over detection thresholds.

    Points are coloured by threshold and joined in threshold order; faint iso-F1
    curves are drawn for reference.

    Args:
      curve: mapping with 1-D ``precision``, ``recall`` and ``threshold`` of one
        length (e.g. :func:`jaxdl.tasks.trigger_word.events.event_pr_curve`'s output).
      path: where to write the PNG.
      mark_threshold: the point with the threshold nearest to this is circled and
        annotated with its threshold, precision and recall.
      title: figure title (default "Trigger-word events: precision vs recall").

    Returns:
      ``path`` as a :class:`~pathlib.Path`.

    Raises:
      ValueError: a key missing, shapes differ, or a rate outside [0, 1].
      TypeError: ``curve`` is not a mapping.
    """
    fig = _precision_recall_figure(curve, mark_threshold=mark_threshold, title=title)
    return save_figure(fig, path)


# -------------------------------------------------------------- a run's plots

def run_plots(workdir: Path, config, source, maker, pred: dict, detections: list,
              curve: dict) -> None:
    """A finished run's plots in WORKDIR/plots: learning curves, the test events'
    precision-recall curve and the first test clips with their predictions."""
    from jaxdl import plots
    from jaxdl.tasks.trigger_word import detection
    from jaxdl.train.metric_writers import read_metrics
    out = Path(workdir) / "plots"
    plots.learning_curves(read_metrics(Path(workdir) / "metrics.jsonl"),
                          out / "learning_curves.png", title="Trigger word: learning curves")
    precision_recall(curve, out / "precision_recall.png", mark_threshold=config.eval.threshold,
                     title="Test events: precision vs recall over thresholds")
    clips = detection.clip_panels(source, maker, pred, detections, config.data.trigger,
                                  n=min(config.eval.plot_clips, len(source)))
    trigger_word_clips(clips, out / "test_clips.png", threshold=config.eval.threshold,
                       trigger_words=(config.data.trigger,),
                       title="Test clips (unseen voices): truth and prediction")
