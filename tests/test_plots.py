"""Tests for jaxdl.plots: each plot writes a non-blank PNG, draws what it promises,
and rejects malformed input with a clear message."""

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from conftest import legend_texts, read_png
from jaxdl import plots

# --------------------------------------------------------------------------- helpers


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


# ------------------------------------------------------------------ learning curves


def test_learning_curve_series_sorts_rows_and_skips_missing_values():
    x_name, series = plots.learning_curve_series(HISTORY)
    assert x_name == "step"
    assert list(series) == ["loss", "accuracy"]
    assert list(series["loss"]) == ["train", "val"]
    np.testing.assert_array_equal(series["loss"]["train"][0], [0, 100, 200])
    np.testing.assert_allclose(series["loss"]["train"][1], [0.70, 0.50, 0.30])
    np.testing.assert_array_equal(series["loss"]["val"][0], [100, 300, 400])
    np.testing.assert_allclose(series["loss"]["val"][1], [0.55, 0.40, 0.45])
    np.testing.assert_array_equal(series["accuracy"]["train"][0], [0, 200])
    np.testing.assert_array_equal(series["accuracy"]["val"][0], [100, 300])
    assert "lr" not in series  # keys without "split/" are not metrics


def test_learning_curve_series_later_row_wins_and_loss_comes_first():
    rows = [
        {"step": 20, "train/accuracy": 0.6, "train/loss": 0.9},
        {"step": 10, "train/accuracy": 0.5, "train/loss": 1.0},
        {"step": 20, "train/accuracy": 0.65, "train/loss": 0.8},  # resumed run re-logs 20
    ]
    _, series = plots.learning_curve_series(rows)
    assert list(series) == ["loss", "accuracy"]
    np.testing.assert_array_equal(series["accuracy"]["train"][0], [10, 20])
    np.testing.assert_allclose(series["accuracy"]["train"][1], [0.5, 0.65])


def test_learning_curve_series_falls_back_to_epoch_then_row_index():
    rows = [{"epoch": 1, "val/f1": 0.5}, {"epoch": 2, "val/f1": 0.6}]
    x_name, series = plots.learning_curve_series(rows)
    assert x_name == "epoch"
    np.testing.assert_array_equal(series["f1"]["val"][0], [1, 2])
    x_name, series = plots.learning_curve_series([{"train/loss": 3.0}, {"train/loss": 2.0}])
    assert x_name == "row"
    np.testing.assert_array_equal(series["loss"]["train"][0], [0, 1])


def test_learning_curves_writes_png_with_panels_and_markers(tmp_path):
    path = tmp_path / "run" / "plots" / "nested" / "learning_curves.png"
    returned = plots.learning_curves(HISTORY, path, markers={"early stop": 350})
    assert returned == path
    read_png(path)

    fig = plots._learning_curves_figure(HISTORY, title="Day/night", markers={"early stop": 350})
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["loss", "accuracy"]
    assert fig.get_suptitle() == "Day/night"
    for ax in visible:
        assert ax.get_xlabel() == "step"
        assert ax.get_ylabel() == ax.get_title()
        # the last "best": true row is the checkpoint that was kept
        assert legend_texts(ax) == [
            "train", "val", "best checkpoint (step 300)", "early stop (step 350)",
        ]


def test_learning_curves_with_only_train_rows(tmp_path):
    rows = [{"step": s, "train/loss": 1.0 / (1 + s)} for s in range(0, 500, 10)]
    path = plots.learning_curves(rows, tmp_path / "a" / "b" / "train_only.png")
    read_png(path)
    fig = plots._learning_curves_figure(rows)
    (ax,) = fig.axes
    assert ax.get_title() == "loss"
    assert ax.get_legend() is None  # one series: nothing to tell apart
    assert ax.get_yscale() == "log"  # the loss spans more than two decades


def test_learning_curves_rejects_history_without_metrics(tmp_path):
    with pytest.raises(ValueError, match="no metric values"):
        plots.learning_curves([{"step": 1, "epoch": 0}], tmp_path / "x.png")
    with pytest.raises(ValueError, match="no metric values"):
        plots.learning_curves([], tmp_path / "x.png")
    with pytest.raises(ValueError, match="marker 'stop' must be a number"):
        plots.learning_curves(HISTORY, tmp_path / "x.png", markers={"stop": "late"})


# ----------------------------------------------------------------- confusion matrix


def test_confusion_cell_text_counts_and_row_percentages():
    cm = [[8, 2], [1, 9]]
    assert plots.confusion_cell_text(cm) == [["8", "2"], ["1", "9"]]
    assert plots.confusion_cell_text(cm, normalize=True) == [
        ["8\n80.0%", "2\n20.0%"],
        ["1\n10.0%", "9\n90.0%"],
    ]
    # A class with no examples has no percentages (0/0), and averaged folds are floats.
    assert plots.confusion_cell_text(np.array([[0, 0], [3, 1]]), normalize=True) == [
        ["0", "0"],
        ["3\n75.0%", "1\n25.0%"],
    ]
    assert plots.confusion_cell_text([[2.5, 0.5], [0.0, 3.0]]) == [["2.5", "0.5"], ["0", "3"]]


def test_confusion_matrix_draws_counts_labels_and_colour_bar(tmp_path):
    cm = np.array([[50, 3, 2], [4, 40, 6], [0, 5, 40]])
    names = ["cat", "dog", "bird"]
    path = plots.confusion_matrix(cm, names, tmp_path / "p" / "q" / "cm.png", normalize=True)
    read_png(path)

    fig = plots._confusion_matrix_figure(cm, names, normalize=True)
    ax, colorbar_ax = fig.axes
    assert ax.get_xlabel() == "predicted"
    assert ax.get_ylabel() == "true"
    assert colorbar_ax.get_ylabel() == "fraction of true class"
    assert ax.get_title() == "Confusion matrix\nn = 150, accuracy = 86.7%"
    cell_texts = [t.get_text() for t in ax.texts]
    assert cell_texts == [c for row in plots.confusion_cell_text(cm, normalize=True) for c in row]
    assert cell_texts[0] == "50\n90.9%"
    assert [t.get_text() for t in ax.get_xticklabels()] == names
    assert [t.get_text() for t in ax.get_yticklabels()] == names


def test_confusion_matrix_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match=r"square \[C, C\].*shape \(2, 3\)"):
        plots.confusion_matrix(np.zeros((2, 3), int), ["a", "b"], tmp_path / "x.png")
    with pytest.raises(ValueError, match="3 class names for a 2x2 matrix"):
        plots.confusion_matrix(np.eye(2, dtype=int), ["a", "b", "c"], tmp_path / "x.png")
    with pytest.raises(ValueError, match="non-negative"):
        plots.confusion_matrix([[1, -1], [0, 2]], ["a", "b"], tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


# ----------------------------------------------------------------------- ROC curve


def test_roc_curve_png_with_auc_and_operating_point(tmp_path):
    fpr = np.array([0.0, 0.0, 0.1, 0.3, 0.6, 1.0])
    tpr = np.array([0.0, 0.5, 0.75, 0.9, 0.95, 1.0])
    path = plots.roc_curve(fpr, tpr, tmp_path / "d" / "roc.png", auc=0.875,
                           operating_point=(0.1, 0.75, "threshold 0.7"))
    read_png(path)

    fig = plots._roc_curve_figure(fpr, tpr, auc=0.875, operating_point=(0.1, 0.75, "threshold 0.7"))
    (ax,) = fig.axes
    assert ax.get_xlabel() == "false positive rate"
    assert ax.get_ylabel() == "true positive rate"
    assert legend_texts(ax) == [
        "chance (AUC = 0.5)", "ROC (AUC = 0.875)", "threshold 0.7 (FPR 0.100, TPR 0.750)",
    ]
    assert legend_texts(plots._roc_curve_figure(fpr, tpr).axes[0]) == ["chance (AUC = 0.5)", "ROC"]


def test_roc_curve_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="same length"):
        plots.roc_curve([0, 0.5, 1], [0, 1], tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"tpr must hold rates in \[0, 1\]"):
        plots.roc_curve([0, 1], [0, 1.5], tmp_path / "x.png")
    with pytest.raises(ValueError, match="operating_point"):
        plots.roc_curve([0, 1], [0, 1], tmp_path / "x.png", operating_point=(0.1,))


# ---------------------------------------------------------------------- image grid


def test_image_grid_partial_last_row_titles_and_colours(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (13, 16, 16, 3), dtype=np.uint8)
    titles = [f"night p={p:.2f}" for p in rng.uniform(size=13)]
    colors = ["green" if i % 3 else "red" for i in range(13)]
    path = plots.image_grid(images, tmp_path / "e" / "f" / "grid.png", titles=titles,
                            title_colors=colors, ncols=5, suptitle="predictions")
    read_png(path)

    fig = plots._image_grid_figure(images, titles=titles, title_colors=colors, ncols=5)
    assert len(fig.axes) == 15  # 3 rows of 5
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == 13
    assert [ax.get_title() for ax in shown] == titles
    assert shown[0].title.get_color() == "red" and shown[1].title.get_color() == "green"


def test_image_grid_float_input_is_drawn(tmp_path):
    # One pure-red float image: the PNG must contain (nearly) pure red pixels.
    image = np.zeros((1, 8, 8, 3), np.float32)
    image[..., 0] = 1.0
    pixels = read_png(plots.image_grid(image, tmp_path / "g" / "red.png", titles=["red"]))
    red = (pixels[..., 0] > 240) & (pixels[..., 1] < 15) & (pixels[..., 2] < 15)
    assert red.mean() > 0.3

    # float [0, 1] and uint8 of the same picture are displayed identically.
    rng = np.random.default_rng(1)
    as_uint8 = rng.integers(0, 256, (3, 4, 4, 3), dtype=np.uint8)
    np.testing.assert_allclose(plots._as_display_images(as_uint8),
                               plots._as_display_images(as_uint8 / 255.0), atol=1e-6)
    # Grey images come in as [N, H, W] or [N, H, W, 1].
    grey = rng.uniform(size=(5, 12, 12, 1))
    assert plots._as_display_images(grey).shape == (5, 12, 12)
    read_png(plots.image_grid(grey, tmp_path / "grey.png", ncols=3))


def test_image_grid_rejects_bad_input(tmp_path):
    images = np.zeros((4, 8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="got 3 titles for 4 images"):
        plots.image_grid(images, tmp_path / "x.png", titles=["a", "b", "c"])
    with pytest.raises(ValueError, match="got 5 title_colors for 4 images"):
        plots.image_grid(images, tmp_path / "x.png", title_colors=["red"] * 5)
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\].*divide by 255"):
        plots.image_grid(np.full((2, 8, 8, 3), 255.0), tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"\[N, H, W, 3\]"):
        plots.image_grid(np.zeros((2, 8, 8, 4), np.uint8), tmp_path / "x.png")
    with pytest.raises(ValueError, match="no images"):
        plots.image_grid(np.zeros((0, 8, 8, 3), np.uint8), tmp_path / "x.png")


# --------------------------------------------------------------------- fold scores


def test_fold_scores_mean_and_population_std(tmp_path):
    path = plots.fold_scores([0.8, 0.9, 1.0], tmp_path / "h" / "i" / "folds.png")
    read_png(path)

    fig = plots._fold_scores_figure([0.8, 0.9, 1.0])
    (ax,) = fig.axes
    # mean 0.9, population std sqrt(((-0.1)^2 + 0 + 0.1^2) / 3) = 0.0816
    assert ax.get_title() == "Cross-validation scores\naccuracy: 0.9 ± 0.082 over 3 folds"
    assert legend_texts(ax) == ["± 1 std (0.082)", "mean (0.9)"]
    assert ax.get_xlabel() == "fold" and ax.get_ylabel() == "accuracy"
    assert [t.get_text() for t in ax.texts] == ["0.8", "0.9", "1"]
    assert len(ax.patches) == 3 + 1  # three bars and the std band


def test_fold_scores_iterated_k_fold(tmp_path):
    scores = np.array([[0.90, 0.92], [0.91, 0.89], [0.93, 0.88]])  # 3 repeats x 2 folds
    read_png(plots.fold_scores(scores, tmp_path / "iter.png", metric="F1"))
    (ax,) = plots._fold_scores_figure(scores, metric="F1").axes
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    assert ticks == ["1.1", "1.2", "2.1", "2.2", "3.1", "3.2"]
    assert legend_texts(ax)[2:] == ["repeat 1", "repeat 2", "repeat 3"]
    # the same scores flat give the same statistics
    flat_title = plots._fold_scores_figure(scores.ravel(), metric="F1").axes[0].get_title()
    assert ax.get_title() == flat_title


def test_fold_scores_single_fold_has_zero_std():
    (ax,) = plots._fold_scores_figure([0.9]).axes
    assert ax.get_title().endswith("accuracy: 0.9 ± 0 over 1 fold")
    low, high = ax.get_ylim()
    assert low < 0.9 < high and high - low > 0.01  # a readable range, not a 1e-6 sliver


def test_fold_scores_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="got shape \\(0,\\)"):
        plots.fold_scores([], tmp_path / "x.png")
    with pytest.raises(ValueError, match="must be finite"):
        plots.fold_scores([0.9, float("nan")], tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"\[K\] or \[R, K\]"):
        plots.fold_scores(np.zeros((2, 2, 2)), tmp_path / "x.png")


# ------------------------------------------------------------------- global state


def test_plots_use_no_pyplot_and_work_from_threads(tmp_path):
    """Plots must not touch pyplot's global state (no backend switch, no windows),
    so they can run in worker threads next to a user's own interactive session."""
    code = textwrap.dedent(
        f"""
        import sys
        from concurrent.futures import ThreadPoolExecutor
        import numpy as np
        from jaxdl import plots

        def work(i):
            return plots.fold_scores(np.linspace(0.8, 0.9, 5) + i / 100,
                                     r"{tmp_path}/thread_%d/folds.png" % i)

        with ThreadPoolExecutor(4) as pool:
            paths = list(pool.map(work, range(8)))
        assert all(p.is_file() for p in paths), paths
        assert "matplotlib.pyplot" not in sys.modules, "jaxdl.plots imported pyplot"
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parents[1])
    assert result.returncode == 0, result.stderr
