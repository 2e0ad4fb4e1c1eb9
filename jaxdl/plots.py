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
figure, so tests can inspect what is drawn. New plots (face verification, style
transfer, trigger words) follow the same shape: validate, build the figure, ``_save``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import matplotlib
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

__all__ = [
    "DPI",
    "confusion_cell_text",
    "confusion_matrix",
    "fold_scores",
    "image_grid",
    "learning_curve_series",
    "learning_curves",
    "roc_curve",
]

DPI = 120
"""Resolution of every saved PNG, in dots per inch."""

# Fixed colours per split, so "val" is the same colour in every panel and every run.
_SPLIT_COLORS = {"train": "tab:blue", "val": "tab:orange", "test": "tab:green"}
_MARKER_COLORS = ("tab:red", "tab:purple", "tab:brown", "tab:gray", "tab:olive")
# Keys of a metrics row that describe the row rather than being a metric.
_ROW_KEYS = ("step", "epoch", "best")


# --------------------------------------------------------------------------- helpers


def _new_figure(width: float, height: float) -> Figure:
    """A figure of ``width`` x ``height`` inches on its own Agg canvas."""
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str | os.PathLike) -> Path:
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


def _is_number(value: Any) -> bool:
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
        if not _is_number(x):
            continue
        for key, value in row.items():
            if "/" not in key or not _is_number(value):
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
        if row.get("best") is True and _is_number(row.get("step")):
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
        if not _is_number(x):
            raise ValueError(f"learning_curves: marker {label!r} must be a number, got {x!r}")
        if all(float(x) != seen or label != seen_label for seen_label, seen in vlines):
            vlines.append((str(label), float(x)))

    n = len(series)
    ncols = min(n, 3)
    nrows = math.ceil(n / ncols)
    fig = _new_figure(4.6 * ncols, 3.4 * nrows + 0.4)
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
    return _save(_learning_curves_figure(history, title=title, markers=markers), path)


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
    fig = _new_figure(side + 1.2, side)
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
    return _save(fig, path)


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

    fig = _new_figure(5.2, 5.0)
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
    return _save(fig, path)


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
    fig = _new_figure(max(cell_w * ncols, 2.5), cell_h * nrows + (0.45 if suptitle else 0.0))
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
    return _save(fig, path)


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

    # The y axis is zoomed onto the scores: fold-to-fold differences of a percent are
    # what a reader looks for, and bars from zero would flatten them. Bars therefore
    # start at the bottom of the axis, and the value is written in each bar.
    # Equal scores get a range of 5% of their value, so a 0.1% difference would look small.
    span = max(float(flat.max() - flat.min()), 2.0 * std, 0.05 * abs(mean) or 1.0)
    floor = float(flat.min()) - 0.8 * span
    if flat.min() >= 0.0:
        floor = max(floor, 0.0)  # scores that cannot be negative never get a negative axis
    top = max(float(flat.max()), mean + std) + 0.35 * span

    fig = _new_figure(min(max(5.5, 0.5 * k + 3.0), 16.0), 4.2)
    ax = fig.add_subplot()
    xs = np.arange(k)
    colors = [f"C{(i // folds) % 10}" for i in range(k)] if repeats > 1 else ["tab:blue"] * k
    ax.bar(xs, flat - floor, bottom=floor, color=colors, alpha=0.85, width=0.7)
    ax.axhspan(mean - std, mean + std, color="gray", alpha=0.25, zorder=0,
               label=f"± 1 std ({std:.2g})")
    ax.axhline(mean, color="black", ls="--", lw=1.4, label=f"mean ({mean:.4g})")
    if k <= 30:  # each value just inside the top of its bar
        for x, score in zip(xs, flat):
            ax.annotate(f"{score:.3g}", (x, score), xytext=(0, -4), textcoords="offset points",
                        ha="center", va="top", color="white", fontsize=8 if k <= 12 else 7,
                        rotation=0 if k <= 12 else 90)
    handles, labels = ax.get_legend_handles_labels()
    if repeats > 1:
        handles += [Patch(color=f"C{r % 10}", alpha=0.85) for r in range(repeats)]
        labels += [f"repeat {r + 1}" for r in range(repeats)]
        tick_labels = [f"{i // folds + 1}.{i % folds + 1}" for i in range(k)]
        ax.set_xlabel("repeat.fold")
    else:
        tick_labels = [str(i + 1) for i in range(k)]
        ax.set_xlabel("fold")
    step = max(1, math.ceil(k / 25))  # at most ~25 tick labels
    ax.set_xticks(xs[::step], tick_labels[::step])
    ax.set_xlim(-0.6, k - 0.4)
    ax.set_ylim(floor, top)
    ax.set_ylabel(metric)
    folds_text = f"{k} folds" if k > 1 else "1 fold"
    ax.set_title(f"{title}\n{metric}: {mean:.4g} ± {std:.2g} over {folds_text}")
    ax.grid(True, axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0),
              fontsize="small", frameon=False)
    return fig


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
    return _save(_fold_scores_figure(scores, metric=metric, title=title), path)


# ------------------------------------------------------------ distance histograms


def _distance_histograms_figure(matched, mismatched, threshold, title, unit) -> Figure:
    matched = np.asarray(matched, np.float64).ravel()
    mismatched = np.asarray(mismatched, np.float64).ravel()
    if matched.size == 0 or mismatched.size == 0:
        raise ValueError("distance histograms need matched and mismatched distances")
    if not (np.all(np.isfinite(matched)) and np.all(np.isfinite(mismatched))):
        raise ValueError("distances must be finite")
    fig = _new_figure(7.0, 4.2)
    ax = fig.add_subplot()
    lo = min(matched.min(), mismatched.min())
    hi = max(matched.max(), mismatched.max())
    bins = np.linspace(lo, hi if hi > lo else lo + 1.0, 41)
    ax.hist(matched, bins=bins, alpha=0.6, color="tab:green",
            label=f"matched pairs (n = {matched.size})")
    ax.hist(mismatched, bins=bins, alpha=0.6, color="tab:red",
            label=f"mismatched pairs (n = {mismatched.size})")
    if threshold is not None:
        ax.axvline(float(threshold), color="black", linestyle="--",
                   label=f"threshold {float(threshold):.3g}")
    ax.set_xlabel(f"distance ({unit})" if unit else "distance")
    ax.set_ylabel("pairs")
    ax.set_title(title)
    ax.legend(loc="best")
    ax.grid(alpha=0.3)
    return fig


def distance_histograms(
    matched: Any,
    mismatched: Any,
    path: str | os.PathLike,
    *,
    threshold: float | None = None,
    title: str = "Pair distances",
    unit: str = "",
) -> Path:
    """Overlaid histograms of matched-pair and mismatched-pair distances.

    Args:
      matched: distances ``[M]`` of pairs of the same identity.
      mismatched: distances ``[U]`` of pairs of different identities.
      path: where to write the PNG.
      threshold: the decision threshold, drawn as a dashed line.
      title: figure title.
      unit: shown on the x axis, e.g. ``"L2 between unit embeddings"``.

    Raises:
      ValueError: either side empty, or a distance not finite.
    """
    return _save(_distance_histograms_figure(matched, mismatched, threshold, title, unit),
                 path)


# ------------------------------------------------------------ embedding scatter


def _embedding_scatter_figure(points, labels, title, max_legend) -> Figure:
    points = np.asarray(points, np.float64)
    labels = np.asarray(labels)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points must be [N, 2] (e.g. a 2-D PCA), got {points.shape}")
    if labels.shape != (points.shape[0],):
        raise ValueError(f"labels must be [{points.shape[0]}], got {labels.shape}")
    fig = _new_figure(6.5, 5.5)
    ax = fig.add_subplot()
    classes = np.unique(labels)
    cmap = matplotlib.colormaps["tab20"]
    for n, c in enumerate(classes):
        sel = labels == c
        ax.scatter(points[sel, 0], points[sel, 1], s=14, color=cmap(n % 20),
                   label=str(c) if len(classes) <= max_legend else None, alpha=0.8)
    ax.set_xlabel("component 1")
    ax.set_ylabel("component 2")
    ax.set_title(f"{title}\n{len(classes)} identities, {len(points)} images")
    if len(classes) <= max_legend:
        ax.legend(title="identity", loc="center left", bbox_to_anchor=(1.0, 0.5),
                  fontsize="small")
    ax.grid(alpha=0.3)
    return fig


def embedding_scatter(
    points: Any,
    labels: Any,
    path: str | os.PathLike,
    *,
    title: str = "Embeddings (PCA)",
    max_legend: int = 20,
) -> Path:
    """Scatter of 2-D points (e.g. the first two principal components of
    embeddings) coloured by label; a legend when there are at most `max_legend`
    labels (colours repeat after 20).

    Raises:
      ValueError: points not [N, 2] or labels not [N].
    """
    return _save(_embedding_scatter_figure(points, labels, title, max_legend), path)


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
    if not _is_number(sample_rate) or float(sample_rate) <= 0:
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
    ax_spec.set_ylabel("frequency bin")

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
    if not _is_number(threshold):
        raise ValueError(f"trigger_word_clips: threshold must be a number, got "
                         f"{threshold!r}")
    if isinstance(trigger_words, str):
        trigger_words = (trigger_words,)
    words = frozenset(w.lower() for w in trigger_words)
    checked = [_check_trigger_clip(i, clip) for i, clip in enumerate(clips)]
    ncols = max(1, min(int(columns), len(checked)))
    nrows = math.ceil(len(checked) / ncols)
    fig = _new_figure(7.0 * ncols, 5.6 * nrows + (0.4 if title else 0.0))
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
    return _save(fig, path)


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

    fig = _new_figure(5.8, 5.0)
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
        if not _is_number(mark_threshold):
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
        length (e.g. :func:`jaxdl.events.event_pr_curve`'s output).
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
    return _save(fig, path)
