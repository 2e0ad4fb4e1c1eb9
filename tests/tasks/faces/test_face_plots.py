"""Face plots: pair-distance histograms and embedding scatters."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from jaxdl.tasks.faces import plots


def _read_png(path):
    """The PNG at ``path`` as a uint8 [H, W, 3] array, after basic sanity checks."""
    path = Path(path)
    assert path.is_file()
    with Image.open(path) as image:
        assert image.format == "PNG"
        pixels = np.asarray(image.convert("RGB"))
    height, width = pixels.shape[:2]
    assert width > 200 and height > 200, f"{path.name} is only {width}x{height} px"
    # A blank (or nearly blank) canvas has almost no pixel variation.
    assert pixels.std() > 10.0, f"{path.name} looks blank (pixel std {pixels.std():.1f})"
    return pixels


def _legend_texts(ax):
    legend = ax.get_legend()
    return [] if legend is None else [t.get_text() for t in legend.get_texts()]


HISTORY = [
    {"step": 0, "epoch": 0, "train/loss": 0.70, "train/accuracy": 0.50},
    {"step": 100, "epoch": 0, "train/loss": 0.50},  # no accuracy in this row
    {"step": 100, "epoch": 1, "val/loss": 0.55, "val/accuracy": 0.70, "best": True},
    {"step": 200, "epoch": 1, "train/loss": 0.30, "train/accuracy": 0.85, "lr": 1e-3},
    {"epoch": 2, "train/loss": 0.1},  # no step: cannot be placed, skipped
    {"step": 200, "val/loss": float("nan"), "val/accuracy": None},  # nothing usable
    {"step": 300, "val/loss": 0.40, "val/accuracy": 0.80, "best": True},
    {"step": 400, "val/loss": 0.45, "val/accuracy": "n/a"},
]


def test_distance_histograms_show_both_sides_and_the_threshold(tmp_path):
    rng = np.random.default_rng(0)
    fig = plots._distance_histograms_figure(rng.normal(0.5, 0.1, 300),
                                            rng.normal(1.2, 0.1, 300), 0.8,
                                            "Pair distances", "L2")
    ax = fig.axes[0]
    assert _legend_texts(ax) == ["matched pairs (n = 300)", "mismatched pairs (n = 300)",
                                 "threshold 0.8"]
    assert ax.get_xlabel() == "distance (L2)"
    path = plots.distance_histograms(rng.normal(0.5, 0.1, 300), rng.normal(1.2, 0.1, 300),
                                     tmp_path / "a" / "hist.png", threshold=0.8)
    _read_png(path)
    with pytest.raises(ValueError, match="matched and mismatched"):
        plots.distance_histograms([], [1.0], tmp_path / "x.png")


def test_embedding_scatter_colours_each_identity(tmp_path):
    rng = np.random.default_rng(0)
    points = rng.normal(size=(60, 2))
    labels = np.repeat(np.arange(6), 10)
    fig = plots._embedding_scatter_figure(points, labels, "Embeddings", 20)
    ax = fig.axes[0]
    assert len(ax.collections) == 6 and _legend_texts(ax) == [str(i) for i in range(6)]
    assert "6 identities, 60 images" in ax.get_title()
    _read_png(plots.embedding_scatter(points, labels, tmp_path / "b" / "pca.png"))
    with pytest.raises(ValueError, match=r"\[N, 2\]"):
        plots.embedding_scatter(rng.normal(size=(5, 3)), np.arange(5), tmp_path / "y.png")
