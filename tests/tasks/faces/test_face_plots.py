"""Face plots: pair-distance histograms and embedding scatters."""

import numpy as np
import pytest

from conftest import legend_texts, read_png
from jaxdl.tasks.faces import plots


def test_distance_histograms_show_both_sides_and_the_threshold(tmp_path):
    rng = np.random.default_rng(0)
    fig = plots._distance_histograms_figure(rng.normal(0.5, 0.1, 300),
                                            rng.normal(1.2, 0.1, 300), 0.8,
                                            "Pair distances", "L2")
    ax = fig.axes[0]
    assert legend_texts(ax) == ["matched pairs (n = 300)", "mismatched pairs (n = 300)",
                                 "threshold 0.8"]
    assert ax.get_xlabel() == "distance (L2)"
    path = plots.distance_histograms(rng.normal(0.5, 0.1, 300), rng.normal(1.2, 0.1, 300),
                                     tmp_path / "a" / "hist.png", threshold=0.8)
    read_png(path)
    with pytest.raises(ValueError, match="matched and mismatched"):
        plots.distance_histograms([], [1.0], tmp_path / "x.png")


def test_embedding_scatter_colours_each_identity(tmp_path):
    rng = np.random.default_rng(0)
    points = rng.normal(size=(60, 2))
    labels = np.repeat(np.arange(6), 10)
    fig = plots._embedding_scatter_figure(points, labels, "Embeddings", 20)
    ax = fig.axes[0]
    assert len(ax.collections) == 6 and legend_texts(ax) == [str(i) for i in range(6)]
    assert "6 identities, 60 images" in ax.get_title()
    read_png(plots.embedding_scatter(points, labels, tmp_path / "b" / "pca.png"))
    with pytest.raises(ValueError, match=r"\[N, 2\]"):
        plots.embedding_scatter(rng.normal(size=(5, 3)), np.arange(5), tmp_path / "y.png")


def test_retrieval_rows_are_probe_then_neighbours(tmp_path):
    images = np.stack([np.full((8, 8, 3), v, np.uint8) for v in range(0, 250, 25)])
    labels = np.array([0, 0, 1, 1, 2, 2, 3, 3, 4, 4])
    emb = np.arange(10, dtype=np.float32)[:, None] * np.array([[1.0, 0.0]])
    path = plots.retrieval(images, labels, emb, probes=[0, 2], neighbours=[[1, 3], [3, 0]],
                           path=tmp_path / "r.png", shown_neighbours=2)
    read_png(path)
    assert plots.retrieval_rows(labels, emb, [0, 2], [[1, 3], [3, 0]], shown_neighbours=2) == [
        (0, "probe", "black"), (1, "d=1.00", "green"), (3, "d=3.00", "red"),
        (2, "probe", "black"), (3, "d=1.00", "green"), (0, "d=2.00", "red")]
    assert plots.retrieval(images, labels, emb, probes=[], neighbours=np.zeros((0, 2), int),
                           path=tmp_path / "none.png") is None
    assert not (tmp_path / "none.png").exists()


def test_principal_components_of_a_line_and_a_plane():
    # points on a line along (3, 4) / 5: one component carries everything
    points = np.outer(np.arange(-2.0, 3.0), [3.0, 4.0]) + 10.0
    pc = plots.principal_components(points, k=2)
    np.testing.assert_allclose(np.abs(pc[:, 0]), 5.0 * np.abs(np.arange(-2.0, 3.0)),
                               atol=1e-9)
    np.testing.assert_allclose(pc[:, 1], 0.0, atol=1e-9)
    # distances between points are kept when k = D
    rng = np.random.default_rng(0)
    x = rng.normal(size=(20, 3))
    y = plots.principal_components(x, k=3)
    np.testing.assert_allclose(np.linalg.norm(y[:, None] - y[None], axis=-1),
                               np.linalg.norm(x[:, None] - x[None], axis=-1), atol=1e-9)
