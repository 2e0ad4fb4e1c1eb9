"""Face verification plots: pair-distance histograms and embedding scatters.

Same conventions as :mod:`jaxdl.plots` (one PNG per call, 120 dpi, the path
returned; a private ``_foo_figure`` twin returns the unsaved figure for tests).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from jaxdl.plots import image_grid, new_figure, save_figure


# ------------------------------------------------------------ distance histograms


def _distance_histograms_figure(matched, mismatched, threshold, title, unit) -> Figure:
    matched = np.asarray(matched, np.float64).ravel()
    mismatched = np.asarray(mismatched, np.float64).ravel()
    if matched.size == 0 or mismatched.size == 0:
        raise ValueError("distance histograms need matched and mismatched distances")
    if not (np.all(np.isfinite(matched)) and np.all(np.isfinite(mismatched))):
        raise ValueError("distances must be finite")
    fig = new_figure(7.0, 4.2)
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
    return save_figure(_distance_histograms_figure(matched, mismatched, threshold, title, unit),
                 path)


# ------------------------------------------------------------ embedding scatter


def _embedding_scatter_figure(points, labels, title, max_legend) -> Figure:
    points = np.asarray(points, np.float64)
    labels = np.asarray(labels)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points must be [N, 2] (e.g. a 2-D PCA), got {points.shape}")
    if labels.shape != (points.shape[0],):
        raise ValueError(f"labels must be [{points.shape[0]}], got {labels.shape}")
    fig = new_figure(6.5, 5.5)
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


def principal_components(points: Any, k: int = 2) -> np.ndarray:
    """`points` [N, D] projected on their first k principal components: [N, k]."""
    centred = np.asarray(points, np.float64) - np.mean(points, axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:k].T


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
    return save_figure(_embedding_scatter_figure(points, labels, title, max_legend), path)


# ------------------------------------------------------------------------- retrieval


def retrieval_rows(labels: Any, embeddings: Any, probes: Any, neighbours: Any, *,
                   max_probes: int = 6, shown_neighbours: int = 4
                   ) -> list[tuple[int, str, str]]:
    """(picture index, title, title colour) of each cell of the retrieval grid: a
    probe ("probe", black), then its nearest gallery pictures with their embedding
    distance, green when the same person and red when not. Empty when there is no
    probe or no neighbour to show."""
    labels, embeddings = np.asarray(labels), np.asarray(embeddings)
    neighbours = np.asarray(neighbours)
    n_probes = min(max_probes, len(probes))
    if not n_probes or neighbours.ndim != 2 or not neighbours.shape[1]:
        return []
    cells = []
    for p, nbrs in zip(probes[:n_probes], neighbours[:n_probes]):
        cells.append((int(p), "probe", "black"))
        for n in nbrs[:shown_neighbours]:
            cells.append((int(n), f"d={np.linalg.norm(embeddings[p] - embeddings[n]):.2f}",
                          "green" if labels[n] == labels[p] else "red"))
    return cells


def retrieval(
    images: Any,
    labels: Any,
    embeddings: Any,
    probes: Any,
    neighbours: Any,
    path: str | os.PathLike,
    *,
    max_probes: int = 6,
    shown_neighbours: int = 4,
) -> Path | None:
    """A grid of probes, each followed by its nearest gallery faces with their
    embedding distance, green when the same person and red when not.

    Args:
      images: pictures [N, H, W, 3] (uint8 or floats in [0, 1]).
      labels: identity [N] of each picture.
      embeddings: embedding [N, D] of each picture.
      probes: indices [P] of the probe pictures.
      neighbours: indices [P, K] of each probe's nearest gallery pictures.
      path: where to write the PNG.

    Returns:
      The path written, or None when there is no probe or no neighbour to show.
    """
    rows = retrieval_rows(labels, embeddings, probes, neighbours, max_probes=max_probes,
                          shown_neighbours=shown_neighbours)
    if not rows:
        return None
    indices, titles, colours = zip(*rows)
    images = np.asarray(images)
    return image_grid(images[list(indices)], path, titles=list(titles),
                      title_colors=list(colours),
                      ncols=shown_neighbours + 1,
                      suptitle=f"Probe and its {shown_neighbours} nearest gallery faces "
                               "(green = same person)")


# ------------------------------------------------------------ a run's plots


def run_plots(workdir: str | os.PathLike, data, test_images: np.ndarray,
              test_emb: np.ndarray, report) -> None:
    """Every plot of a face run into workdir/plots: learning curves, test ROC, pair
    distance histograms, embeddings (PCA), retrieval, and a sheet of training faces.

    data: the run's `sources.IdentityImages`; test_images uint8 [N, S, S, 3] and
    test_emb [N, D] of the test split, in order; report: its `EmbeddingReport`.
    """
    from jaxdl import metrics, plots
    from jaxdl.train.metric_writers import read_metrics
    workdir = Path(workdir)
    out = workdir / "plots"
    labels = data.labels["test"]
    plots.learning_curves(read_metrics(workdir / "metrics.jsonl"),
                          out / "learning_curves.png",
                          title="Face verification: learning curves")
    fpr, tpr, _ = metrics.roc_curve(report.pair_same, -report.pair_distances)
    plots.roc_curve(np.asarray(fpr), np.asarray(tpr), out / "roc_curve.png",
                    auc=report.results["verification"]["auc"],
                    title="Verification ROC on unseen people (same person = positive)")
    distance_histograms(report.pair_distances[report.pair_same],
                        report.pair_distances[~report.pair_same],
                        out / "distance_histograms.png", threshold=report.threshold,
                        title="Test pairs: embedding distances",
                        unit="L2 between unit embeddings")
    shown = np.isin(labels, np.unique(labels)[:12])
    embedding_scatter(principal_components(test_emb[shown]), labels[shown],
                      out / "embeddings_pca.png",
                      title="Test embeddings, first 2 principal components")
    retrieval(test_images, labels, test_emb, report.probes, report.probe_neighbours,
              out / "retrieval.png")
    sheet = [i for person in np.unique(data.labels["train"])[:8]
             for i in np.flatnonzero(data.labels["train"] == person)[:6]]
    image_grid(np.stack([data.train[int(i)]["image"] for i in sheet]),
               out / "sample_faces.png", ncols=6,
               suptitle="Training faces: one person per row")
