"""PNG plots that experiments leave in ``WORKDIR/plots/``.

Every public plot function takes numpy arrays, lists or jax arrays (converted with
``np.asarray``), writes one PNG at 120 dpi (parent directories are created) and
returns the path it wrote as a :class:`pathlib.Path`.

Figures are built as :class:`matplotlib.figure.Figure` objects rendered by the Agg
canvas: no pyplot, no global backend switch, no windows, safe to call from threads.
Each figure has a title, labelled axes, a legend where there is more than one series
and matplotlib's constrained layout (the successor of ``tight_layout``, which also
makes room for colour bars and suptitles); the PNG is cropped to its content.

Each ``foo(...)`` has a private ``_foo_figure(...)`` twin that returns the unsaved
figure, so tests can inspect what is drawn. This module holds the plots that any
case study uses; a case study's own plots live in its package
(``jaxdl.tasks.faces.plots``, ``jaxdl.tasks.trigger_word.plots``) and follow the same
shape with the helpers here: validate, :func:`new_figure`, draw, :func:`save_figure`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

__all__ = [
    "DPI",
    "confusion_cell_text",
    "confusion_matrix",
    "fold_scores",
    "image_grid",
    "is_number",
    "learning_curve_series",
    "learning_curves",
    "new_figure",
    "roc_curve",
    "save_figure",
]

DPI = 120
"""Resolution of every saved PNG, in dots per inch."""

# Fixed colours per split, so "val" is the same colour in every panel and every run.
_SPLIT_COLORS = {"train": "tab:blue", "val": "tab:orange", "test": "tab:green"}
_MARKER_COLORS = ("tab:red", "tab:purple", "tab:brown", "tab:gray", "tab:olive")
# Keys of a metrics row that describe the row rather than being a metric.
_ROW_KEYS = ("step", "epoch", "best")


# --------------------------------------------------------------------------- helpers


def new_figure(width: float, height: float) -> Figure:
    """A figure of ``width`` x ``height`` inches on its own Agg canvas."""
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: str | os.PathLike) -> Path:
    """Write ``fig`` as a PNG to ``path`` (creating parent directories), release it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fig.savefig(path, dpi=DPI, format="png", facecolor="white",
                    bbox_inches="tight", pad_inches=0.1)
    finally:
        # Without pyplot nothing holds a reference to the figure; clearing it frees
        # the artists now instead of at the next garbage collection.
        fig.clear()
    return path


def is_number(value: Any) -> bool:
    """Whether ``value`` is a finite real scalar (bools and NaN/inf are not)."""
    if isinstance(value, bool | np.bool_):
        return False
    try:
        value = float(np.asarray(value).item()) if np.ndim(value) == 0 else None
    except (TypeError, ValueError):
        return False
    return value is not None and math.isfinite(value)


# ------------------------------------------------------------------ learning curves


def learning_curve_series(
    history: Sequence[Mapping[str, Any]],
) -> tuple[str, dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]]:
    """Sort the rows of ``metrics.jsonl`` into one series per (metric, split).

    A key ``"split/name"`` (``"train/loss"``, ``"val/accuracy"``) is metric ``name``
    of split ``split``; keys without a ``/`` other than ``step``/``epoch``/``best``
    are ignored, and so are values that are not finite scalars (missing keys, None,
    NaN, strings, arrays). The x value of a row is its ``step``; if no row has a
    step, its ``epoch``; if none has either, its index in ``history``. When the same
    x appears twice for a series (a resumed run re-logging steps) the later row wins.

    Args:
      history: rows (dicts), in the order they were logged.

    Returns:
      ``(x_name, series)``: ``x_name`` is ``"step"``, ``"epoch"`` or ``"row"``;
      ``series[name][split] = (x [T], y [T])``, float64 arrays sorted by x. Metric
      names are ordered with ``loss`` first, then by first appearance; splits by
      first appearance.
    """
    if any("step" in row for row in history):
        x_name = "step"
    elif any("epoch" in row for row in history):
        x_name = "epoch"
    else:
        x_name = "row"
    points: dict[str, dict[str, dict[float, float]]] = {}
    for index, row in enumerate(history):
        x = index if x_name == "row" else row.get(x_name)
        if not is_number(x):
            continue
        for key, value in row.items():
            if "/" not in key or not is_number(value):
                continue
            split, name = key.split("/", 1)
            points.setdefault(name, {}).setdefault(split, {})[float(x)] = float(value)
    names = sorted(points, key=lambda n: n != "loss")  # stable: keeps first appearance
    series = {}
    for name in names:
        series[name] = {}
        for split, xy in points[name].items():
            xs = np.array(sorted(xy), dtype=np.float64)
            series[name][split] = (xs, np.array([xy[x] for x in xs], dtype=np.float64))
    return x_name, series


def _best_step(history: Sequence[Mapping[str, Any]]) -> float | None:
    """Step of the last row marked ``"best": true`` (the checkpoint that was kept)."""
    best = None
    for row in history:
        if row.get("best") is True and is_number(row.get("step")):
            best = float(row["step"])
    return best


def _learning_curves_figure(
    history: Sequence[Mapping[str, Any]],
    *,
    title: str = "Learning curves",
    markers: Mapping[str, float] | None = None,
) -> Figure:
    x_name, series = learning_curve_series(history)
    if not series:
        raise ValueError(
            "learning_curves: history has no metric values; expected rows such as "
            '{"step": 100, "train/loss": 0.4} (keys "split/metric" with finite numbers)'
        )
    vlines: list[tuple[str, float]] = []
    best = _best_step(history)
    if best is not None:
        vlines.append(("best checkpoint", best))
    for label, x in (markers or {}).items():
        if not is_number(x):
            raise ValueError(f"learning_curves: marker {label!r} must be a number, got {x!r}")
        if all(float(x) != seen or label != seen_label for seen_label, seen in vlines):
            vlines.append((str(label), float(x)))

    n = len(series)
    ncols = min(n, 3)
    nrows = math.ceil(n / ncols)
    fig = new_figure(4.6 * ncols, 3.4 * nrows + 0.4)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, (name, by_split) in zip(axes, series.items()):
        for i, (split, (xs, ys)) in enumerate(by_split.items()):
            color = _SPLIT_COLORS.get(split, f"C{(i + 3) % 10}")
            if split == "train" and len(xs) > 1:
                ax.plot(xs, ys, color=color, lw=1.4, label=split)
            else:  # evaluation points are sparse: show each one
                ax.plot(xs, ys, color=color, lw=1.4, marker="o", ms=4, label=split)
        for j, (label, x) in enumerate(vlines):
            ax.axvline(
                x, color=_MARKER_COLORS[j % len(_MARKER_COLORS)], ls="--", lw=1.2,
                label=f"{label} ({x_name} {x:g})",
            )
        all_y = np.concatenate([ys for _, ys in by_split.values()])
        if "loss" in name and all_y.min() > 0 and all_y.max() / all_y.min() > 100:
            ax.set_yscale("log")  # losses spanning decades are unreadable on a linear axis
        ax.set_title(name)
        ax.set_xlabel(x_name)
        ax.set_ylabel(name)
        ax.grid(True, alpha=0.3)
        if len(ax.get_legend_handles_labels()[1]) > 1:
            ax.legend(fontsize="small")
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize="x-large")
    return fig


def learning_curves(
    history: Sequence[Mapping[str, Any]],
    path: str | os.PathLike,
    *,
    title: str = "Learning curves",
    markers: Mapping[str, float] | None = None,
) -> Path:
    """Plot train/val curves from ``metrics.jsonl`` rows, one panel per metric.

    Args:
      history: rows as logged, e.g. ``{"step": 100, "epoch": 1, "train/loss": 0.4}``
        and ``{"step": 100, "val/loss": 0.35, "val/accuracy": 0.86, "best": True}``;
        rows may lack any key (see :func:`learning_curve_series` for the rules).
        Train series are lines; other splits (val, test) are lines with a marker at
        each point. Losses spanning more than two decades get a log y axis.
      path: where to write the PNG.
      title: figure title.
      markers: ``{label: step}`` vertical dashed lines, e.g.
        ``{"early stop": 1500}``. The last row with ``"best": True`` adds a
        ``"best checkpoint"`` line by itself.

    Returns:
      ``path`` as a :class:`~pathlib.Path`.

    Raises:
      ValueError: no row holds a ``"split/metric"`` number, or a marker is not a number.
    """
    return save_figure(_learning_curves_figure(history, title=title, markers=markers), path)


# ----------------------------------------------------------------- confusion matrix


def _check_confusion(cm: Any, class_names: Sequence[str] | None = None) -> np.ndarray:
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] == 0:
        raise ValueError(
            f"confusion_matrix: cm must be a square [C, C] array (rows true, columns "
            f"predicted), got shape {cm.shape}"
        )
    if not np.issubdtype(cm.dtype, np.number) or np.issubdtype(cm.dtype, np.complexfloating):
        raise ValueError(f"confusion_matrix: cm must hold counts, got dtype {cm.dtype}")
    if not np.all(np.isfinite(cm)) or np.any(cm < 0):
        raise ValueError("confusion_matrix: cm must hold non-negative finite counts")
    if class_names is not None and len(class_names) != cm.shape[0]:
        raise ValueError(
            f"confusion_matrix: got {len(class_names)} class names for a "
            f"{cm.shape[0]}x{cm.shape[0]} matrix"
        )
    return cm


def _format_count(value: float) -> str:
    return f"{int(round(value))}" if float(value).is_integer() else f"{value:.3g}"


def confusion_cell_text(cm: Any, *, normalize: bool = False) -> list[list[str]]:
    """The text written in each cell of :func:`confusion_matrix`.

    Args:
      cm: counts ``[C, C]``, rows true class, columns predicted class.
      normalize: also give each cell's share of its row (of its true class), as
        ``"count\\nNN.N%"``; a row with no examples shows only its counts.

    Returns:
      ``[C][C]`` strings, e.g. ``[["8", "2"], ["1", "9"]]`` or, normalised,
      ``[["8\\n80.0%", "2\\n20.0%"], ["1\\n10.0%", "9\\n90.0%"]]``.
    """
    cm = _check_confusion(cm)
    row_sums = cm.sum(axis=1)
    text = []
    for i, row in enumerate(cm):
        cells = []
        for value in row:
            cell = _format_count(value)
            if normalize and row_sums[i] > 0:
                cell += f"\n{100.0 * value / row_sums[i]:.1f}%"
            cells.append(cell)
        text.append(cells)
    return text


def _confusion_matrix_figure(
    cm: Any,
    class_names: Sequence[str],
    *,
    title: str = "Confusion matrix",
    normalize: bool = False,
) -> Figure:
    cm = _check_confusion(cm, class_names)
    c = cm.shape[0]
    total = cm.sum()
    row_sums = cm.sum(axis=1, keepdims=True)
    if normalize:
        shown = np.divide(cm, row_sums, out=np.zeros(cm.shape), where=row_sums > 0)
        vmax, bar_label = 1.0, "fraction of true class"
    else:
        shown = cm.astype(np.float64)
        vmax, bar_label = max(float(shown.max()), 1.0), "count"

    side = min(max(4.0, 0.6 * c + 2.5), 13.0)
    fig = new_figure(side + 1.2, side)
    ax = fig.add_subplot()
    image = ax.imshow(shown, cmap="Blues", vmin=0.0, vmax=vmax, interpolation="nearest")
    fig.colorbar(image, ax=ax, label=bar_label, shrink=0.85)

    names = [str(name) for name in class_names]
    # Rotate column names only when they would not fit side by side: a 10 pt character
    # is about 0.09 inch wide.
    rotate = max(map(len, names)) * 0.09 > 0.8 * side / c
    ax.set_xticks(range(c), names, rotation=45 if rotate else 0,
                  ha="right" if rotate else "center", rotation_mode="anchor")
    ax.set_yticks(range(c), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if c <= 30:  # beyond that the numbers would be too small to read anyway
        fontsize = 12 if c <= 4 else 10 if c <= 10 else 7
        for i, row in enumerate(confusion_cell_text(cm, normalize=normalize)):
            for j, cell in enumerate(row):
                dark = shown[i, j] > 0.55 * vmax
                ax.text(j, i, cell, ha="center", va="center", fontsize=fontsize,
                        color="white" if dark else "black")
    subtitle = f"n = {_format_count(total)}"
    if total > 0:
        subtitle += f", accuracy = {100.0 * np.trace(cm) / total:.1f}%"
    ax.set_title(f"{title}\n{subtitle}")
    return fig


def confusion_matrix(
    cm: Any,
    class_names: Sequence[str],
    path: str | os.PathLike,
    *,
    title: str = "Confusion matrix",
    normalize: bool = False,
) -> Path:
    """Plot a confusion matrix with a count in every cell and a colour bar.

    Args:
      cm: counts ``[C, C]`` (int, or float for averaged folds), rows the true
        class, columns the predicted class.
      class_names: ``C`` names, in the order of the rows.
      path: where to write the PNG.
      title: figure title; a second line gives n and accuracy (trace / total).
      normalize: colour by each row's fraction (recall per true class) and add the
        row percentage under each count. Matrices larger than 30x30 are drawn
        without cell text.

    Returns:
      ``path`` as a :class:`~pathlib.Path`.

    Raises:
      ValueError: ``cm`` is not square, holds negative or non-finite values, or the
        number of class names differs from ``C``.
    """
    fig = _confusion_matrix_figure(cm, class_names, title=title, normalize=normalize)
    return save_figure(fig, path)


# ----------------------------------------------------------------------- ROC curve


def _roc_curve_figure(
    fpr: Any,
    tpr: Any,
    *,
    auc: float | None = None,
    title: str = "ROC curve",
    operating_point: Sequence[Any] | None = None,
) -> Figure:
    fpr = np.asarray(fpr, dtype=np.float64)
    tpr = np.asarray(tpr, dtype=np.float64)
    if fpr.ndim != 1 or fpr.shape != tpr.shape or fpr.size < 2:
        raise ValueError(
            f"roc_curve: fpr and tpr must be 1-D of the same length >= 2, got shapes "
            f"{fpr.shape} and {tpr.shape}"
        )
    for name, rate in (("fpr", fpr), ("tpr", tpr)):
        if not np.all(np.isfinite(rate)) or rate.min() < 0 or rate.max() > 1:
            raise ValueError(f"roc_curve: {name} must hold rates in [0, 1]")

    fig = new_figure(5.2, 5.0)
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="gray", ls="--", lw=1, label="chance (AUC = 0.5)")
    label = "ROC" if auc is None else f"ROC (AUC = {float(auc):.3f})"
    ax.plot(fpr, tpr, color="tab:blue", lw=2, label=label)
    if operating_point is not None:
        if len(operating_point) not in (2, 3):
            raise ValueError(
                "roc_curve: operating_point must be (fpr, tpr) or (fpr, tpr, label), "
                f"got {operating_point!r}"
            )
        op_fpr, op_tpr = float(operating_point[0]), float(operating_point[1])
        op_label = str(operating_point[2]) if len(operating_point) == 3 else "operating point"
        ax.plot(op_fpr, op_tpr, "o", color="tab:red", ms=8, zorder=3,
                label=f"{op_label} (FPR {op_fpr:.3f}, TPR {op_tpr:.3f})")
    ax.set_xlim(-0.01, 1.01)
    ax.set_ylim(-0.01, 1.01)
    ax.set_aspect("equal")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    return fig


def roc_curve(
    fpr: Any,
    tpr: Any,
    path: str | os.PathLike,
    *,
    auc: float | None = None,
    title: str = "ROC curve",
    operating_point: Sequence[Any] | None = None,
) -> Path:
    """Plot a ROC curve against the chance diagonal.

    Args:
      fpr: false positive rates ``[T]`` in [0, 1], one per threshold.
      tpr: true positive rates ``[T]`` in [0, 1].
      path: where to write the PNG.
      auc: area under the curve, shown in the legend when given.
      title: figure title.
      operating_point: ``(fpr, tpr)`` or ``(fpr, tpr, label)`` of the chosen
        threshold, e.g. ``(0.05, 0.91, "threshold 0.7")``; drawn as a dot.

    Returns:
      ``path`` as a :class:`~pathlib.Path`.

    Raises:
      ValueError: shapes differ, are not 1-D, or rates fall outside [0, 1].
    """
    fig = _roc_curve_figure(fpr, tpr, auc=auc, title=title, operating_point=operating_point)
    return save_figure(fig, path)


# ---------------------------------------------------------------------- image grid


def _as_display_images(images: Any) -> np.ndarray:
    """``[N, H, W, 3]``, ``[N, H, W, 1]`` or ``[N, H, W]`` -> float ``[N, H, W(, 3)]`` in [0, 1]."""
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] != 3):
        raise ValueError(
            f"image_grid: images must be [N, H, W, 3], [N, H, W, 1] or [N, H, W], got "
            f"shape {images.shape}"
        )
    if images.shape[0] == 0:
        raise ValueError("image_grid: got no images")
    if images.dtype == np.uint8:
        return images.astype(np.float32) / 255.0
    if not np.issubdtype(images.dtype, np.floating):
        raise ValueError(f"image_grid: images must be uint8 or float in [0, 1], got {images.dtype}")
    low, high = float(np.nanmin(images)), float(np.nanmax(images))
    # Small overshoot (e.g. from an optimiser on pixels) is clipped; anything larger is
    # almost surely normalised or 0..255 floats, which would show as garbage.
    if low < -0.02 or high > 1.02:
        raise ValueError(
            f"image_grid: float images must lie in [0, 1], got values in [{low:.3g}, "
            f"{high:.3g}]; undo the input normalisation or divide by 255 first"
        )
    return np.clip(images, 0.0, 1.0)


def _image_grid_figure(
    images: Any,
    *,
    titles: Sequence[str] | None = None,
    title_colors: Sequence[Any] | None = None,
    ncols: int = 8,
    suptitle: str | None = None,
) -> Figure:
    images = _as_display_images(images)
    n, h, w = images.shape[:3]
    for name, values in (("titles", titles), ("title_colors", title_colors)):
        if values is not None and len(values) != n:
            raise ValueError(f"image_grid: got {len(values)} {name} for {n} images")
    if ncols < 1:
        raise ValueError(f"image_grid: ncols must be >= 1, got {ncols}")
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    cell_w = 1.8
    cell_h = cell_w * h / w + (0.35 if titles is not None else 0.05)
    fig = new_figure(max(cell_w * ncols, 2.5), cell_h * nrows + (0.45 if suptitle else 0.0))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for k, ax in enumerate(axes):
        ax.set_axis_off()
        if k >= n:
            continue
        if images.ndim == 3:
            ax.imshow(images[k], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        else:
            ax.imshow(images[k], interpolation="nearest")
        if titles is not None:
            color = title_colors[k] if title_colors is not None else "black"
            ax.set_title(str(titles[k]), fontsize=9, color=color)
    if suptitle:
        fig.suptitle(suptitle, fontsize="large")
    return fig


def image_grid(
    images: Any,
    path: str | os.PathLike,
    *,
    titles: Sequence[str] | None = None,
    title_colors: Sequence[Any] | None = None,
    ncols: int = 8,
    suptitle: str | None = None,
) -> Path:
    """Show images in a grid, each with an optional coloured caption.

    Args:
      images: ``[N, H, W, 3]`` uint8 (0..255) or float in [0, 1]; ``[N, H, W]`` or
        ``[N, H, W, 1]`` are shown in grey. Floats up to 0.02 outside [0, 1] are
        clipped.
      path: where to write the PNG.
      titles: ``N`` captions, e.g. ``"night p=0.93"``.
      title_colors: ``N`` matplotlib colours for the captions, e.g. ``"green"``
        for a correct prediction and ``"red"`` for a wrong one.
      ncols: images per row (fewer if ``N < ncols``); the last row may be partial.
      suptitle: title over the whole grid.

    Returns:
      ``path`` as a :class:`~pathlib.Path`.

    Raises:
      ValueError: bad shape or dtype, floats outside [0, 1], no images, or
        ``titles`` / ``title_colors`` not of length ``N``.
    """
    fig = _image_grid_figure(images, titles=titles, title_colors=title_colors,
                             ncols=ncols, suptitle=suptitle)
    return save_figure(fig, path)


# --------------------------------------------------------------------- fold scores


def _fold_scores_figure(
    scores: Any,
    *,
    metric: str = "accuracy",
    title: str = "Cross-validation scores",
) -> Figure:
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim not in (1, 2) or scores.size == 0:
        raise ValueError(
            f"fold_scores: scores must be [K] or [R, K] (R repeats of K folds), got "
            f"shape {scores.shape}"
        )
    if not np.all(np.isfinite(scores)):
        raise ValueError("fold_scores: scores must be finite")
    repeats = scores.shape[0] if scores.ndim == 2 else 1
    folds = scores.shape[-1]
    flat = scores.ravel()
    k = flat.size
    mean = float(flat.mean())
    std = float(flat.std())  # population std (ddof=0), as metrics.mean_and_std

    fig = new_figure(min(max(5.5, 0.5 * k + 3.0), 16.0), 4.2)
    ax = fig.add_subplot()
    colors = [f"C{(i // folds) % 10}" for i in range(k)] if repeats > 1 else ["tab:blue"] * k
    if repeats > 1:
        tick_labels = [f"{i // folds + 1}.{i % folds + 1}" for i in range(k)]
        xlabel = "repeat.fold"
    else:
        tick_labels = [str(i + 1) for i in range(k)]
        xlabel = "fold"
    _score_bars(ax, flat, tick_labels, colors, xlabel=xlabel, metric=metric)
    handles, labels = ax.get_legend_handles_labels()
    if repeats > 1:
        handles += [Patch(color=f"C{r % 10}", alpha=0.85) for r in range(repeats)]
        labels += [f"repeat {r + 1}" for r in range(repeats)]
    folds_text = f"{k} folds" if k > 1 else "1 fold"
    ax.set_title(f"{title}\n{metric}: {mean:.4g} ± {std:.2g} over {folds_text}")
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0),
              fontsize="small", frameon=False)
    return fig


def _score_bars(ax, flat: np.ndarray, tick_labels: Sequence[str], colors: Sequence[str],
                *, xlabel: str, metric: str) -> None:
    """One bar per score on a y axis zoomed onto the scores, their mean (dashed) and
    ± one population std (band), each value written in its bar."""
    k = flat.size
    mean, std = float(flat.mean()), float(flat.std())
    # The y axis is zoomed onto the scores: differences of a percent are what a
    # reader looks for, and bars from zero would flatten them. Bars therefore
    # start at the bottom of the axis, and the value is written in each bar.
    # Equal scores get a range of 5% of their value, so a 0.1% difference would look small.
    span = max(float(flat.max() - flat.min()), 2.0 * std, 0.05 * abs(mean) or 1.0)
    floor = float(flat.min()) - 0.8 * span
    if flat.min() >= 0.0:
        floor = max(floor, 0.0)  # scores that cannot be negative never get a negative axis
    top = max(float(flat.max()), mean + std) + 0.35 * span
    xs = np.arange(k)
    ax.bar(xs, flat - floor, bottom=floor, color=list(colors), alpha=0.85, width=0.7)
    ax.axhspan(mean - std, mean + std, color="gray", alpha=0.25, zorder=0,
               label=f"± 1 std ({std:.2g})")
    ax.axhline(mean, color="black", ls="--", lw=1.4, label=f"mean ({mean:.4g})")
    if k <= 30:  # each value just inside the top of its bar
        for x, score in zip(xs, flat):
            ax.annotate(f"{score:.3g}", (x, score), xytext=(0, -4), textcoords="offset points",
                        ha="center", va="top", color="white", fontsize=8 if k <= 12 else 7,
                        rotation=0 if k <= 12 else 90)
    step = max(1, math.ceil(k / 25))  # at most ~25 tick labels
    ax.set_xticks(xs[::step], list(tick_labels)[::step])
    ax.set_xlim(-0.6, k - 0.4)
    ax.set_ylim(floor, top)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(metric)
    ax.grid(True, axis="y", alpha=0.3)
    ax.set_axisbelow(True)


def seed_scores(per_seed: Mapping[str, Sequence[float]], seeds: Sequence[int],
                path: str | os.PathLike, *, title: str = "Run-to-run variation") -> Path:
    """One panel per metric: a bar per seed, the mean (dashed) and ± one std (band).

    Args:
      per_seed: metric name -> its value for each seed, in the order of `seeds`
        (non-finite values are left out of the panel's mean and std).
      seeds: the seed of each model (the x tick labels).
      path: where to write the PNG.
    Raises:
      ValueError: no metrics, or a metric with a different number of values.
    """
    if not per_seed:
        raise ValueError("seed_scores: no metrics to plot")
    names = list(per_seed)
    if any(len(per_seed[n]) != len(seeds) for n in names):
        raise ValueError("seed_scores: every metric needs one value per seed")
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig = new_figure(4.6 * cols, 3.4 * rows + 0.6)
    for i, name in enumerate(names):
        ax = fig.add_subplot(rows, cols, i + 1)
        values = np.asarray(per_seed[name], np.float64)
        finite = np.isfinite(values)
        shown = np.where(finite, values, np.nan)
        kept = values[finite] if finite.any() else np.zeros(1)
        _score_bars(ax, np.nan_to_num(shown, nan=float(kept.min())),
                    [str(s) for s in seeds], ["tab:blue"] * len(seeds),
                    xlabel="seed", metric=name)
        ax.set_title(f"{name}: {kept.mean():.4g} ± {kept.std():.2g}", fontsize="medium")
        if i == 0:
            ax.legend(loc="lower left", fontsize="x-small", frameon=False)
    fig.suptitle(f"{title}: {len(seeds)} seeds (mean ± population std)")
    return save_figure(fig, path)


def fold_scores(
    scores: Any,
    path: str | os.PathLike,
    *,
    metric: str = "accuracy",
    title: str = "Cross-validation scores",
) -> Path:
    """Plot one bar per fold with the mean (dashed line) and ± one std (band).

    The y axis is zoomed onto the scores (it starts at 0 only for non-negative
    scores that come close to it), so differences between folds are visible; each
    bar carries its value.

    Args:
      scores: the held-out score of each fold, ``[K]``; for iterated K-fold either
        flat ``[R * K]`` or ``[R, K]`` (R repeats, bars coloured by repeat).
      path: where to write the PNG.
      metric: name of the score, the y-axis label.
      title: figure title; a second line gives mean ± std. The std is the
        population standard deviation (ddof=0), the one results.json reports.

    Returns:
      ``path`` as a :class:`~pathlib.Path`.

    Raises:
      ValueError: scores empty, not finite, or more than 2-D.
    """
    return save_figure(_fold_scores_figure(scores, metric=metric, title=title), path)
