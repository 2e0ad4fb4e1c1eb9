"""Tests for the trigger-word plots (jaxdl.tasks.trigger_word.plots): PNGs are written
and not blank, the figures draw what they promise, malformed input is rejected
clearly."""

import numpy as np
import pytest

from conftest import read_png
from jaxdl.tasks.trigger_word import plots

SAMPLE_RATE = 800  # small, to keep the test fast; the layout does not care
DURATION = 10.0
TX, FREQS, TY = 200, 32, 496


def _clip(seed=0, name="clip"):
    rng = np.random.default_rng(seed)
    audio = rng.normal(0, 0.1, int(SAMPLE_RATE * DURATION))
    truths = [(1.0, 1.6, "activate"), (4.0, 4.5, "banana"), (7.0, 7.7, "Activate")]
    labels = np.zeros(TY)
    probs = np.full(TY, 0.05) + rng.random(TY) * 0.05
    for start, end, word in truths:
        audio[int(start * SAMPLE_RATE):int(end * SAMPLE_RATE)] *= 5
        if word.lower() == "activate":
            first = int(end * TY / DURATION) + 1
            labels[first:first + 50] = 1
            probs[first:first + 40] = 0.8
    return {"audio": audio, "sample_rate": SAMPLE_RATE,
            "features": rng.normal(size=(TX, FREQS)), "labels": labels, "probs": probs,
            "detections": np.array([1.7, 7.8]), "truths": truths, "name": name}


@pytest.mark.parametrize("n", [1, 4])
def test_trigger_word_clips_writes_png(tmp_path, n):
    clips = [_clip(i, f"clip {i}") for i in range(n)]
    out = plots.trigger_word_clips(clips, tmp_path / "sub" / f"clips{n}.png",
                                   threshold=0.5, title="dev clips")
    assert out == tmp_path / "sub" / f"clips{n}.png"
    pixels = read_png(out)
    if n == 4:  # 2 x 2 grid: roughly as wide as tall
        assert 0.6 < pixels.shape[1] / pixels.shape[0] < 1.8


def test_trigger_word_clips_figure_contents():
    fig = plots._trigger_word_clips_figure([_clip()], threshold=0.6)
    axes = fig.get_axes()
    assert len(axes) == 3
    wave, spec, prob = axes
    # two trigger words and one other word shaded; detections drawn as lines.
    assert len(wave.patches) == 3
    colors = {tuple(np.round(p.get_facecolor()[:3], 3)) for p in wave.patches}
    assert len(colors) == 2
    image = spec.get_images()[0]
    np.testing.assert_allclose(image.get_extent(), [0, DURATION, 0, FREQS])
    assert prob.get_xlabel() == "time (s)"
    assert any(line.get_label() == "detection" for line in prob.get_lines())
    assert any(np.allclose(line.get_ydata(), 0.6) for line in prob.get_lines()
               if len(line.get_ydata()) == 2)
    fig.clear()


def test_trigger_word_clips_rejects_malformed(tmp_path):
    path = tmp_path / "bad.png"
    with pytest.raises(ValueError, match="non-empty"):
        plots.trigger_word_clips([], path)
    clip = _clip()
    del clip["features"]
    with pytest.raises(ValueError, match="features"):
        plots.trigger_word_clips([clip], path)
    clip = _clip()
    clip["probs"] = clip["probs"][:-1]
    with pytest.raises(ValueError, match="labels and probs"):
        plots.trigger_word_clips([clip], path)
    clip = _clip()
    clip["truths"] = [(2.0, 1.0, "activate")]
    with pytest.raises(ValueError, match="start <= end"):
        plots.trigger_word_clips([clip], path)
    with pytest.raises(TypeError):
        plots.trigger_word_clips([[1, 2, 3]], path)
    assert not path.exists()


CURVE = {"threshold": np.linspace(0.1, 0.9, 9),
         "precision": np.linspace(0.3, 1.0, 9),
         "recall": np.linspace(1.0, 0.2, 9)}


@pytest.mark.parametrize("mark", [None, 0.52])
def test_precision_recall_writes_png(tmp_path, mark):
    out = plots.precision_recall(CURVE, tmp_path / "pr.png", mark_threshold=mark)
    read_png(out)


def test_precision_recall_marks_nearest_threshold():
    fig = plots._precision_recall_figure(CURVE, mark_threshold=0.52, title="dev")
    ax = fig.get_axes()[0]
    assert ax.get_title() == "dev"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "threshold 0.50" in labels
    fig.clear()


def test_precision_recall_single_point(tmp_path):
    curve = {k: v[:1] for k, v in CURVE.items()}
    read_png(plots.precision_recall(curve, tmp_path / "one.png", mark_threshold=0.1))


def test_precision_recall_rejects_malformed(tmp_path):
    with pytest.raises(ValueError, match="lacks"):
        plots.precision_recall({"precision": [1.0]}, tmp_path / "x.png")
    with pytest.raises(ValueError, match="one"):
        plots.precision_recall(dict(CURVE, recall=CURVE["recall"][:-1]), tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        plots.precision_recall(dict(CURVE, precision=CURVE["precision"] + 1),
                               tmp_path / "x.png")
    with pytest.raises(TypeError):
        plots.precision_recall([0.1, 0.2], tmp_path / "x.png")
