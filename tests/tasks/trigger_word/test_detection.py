"""Detection helpers: the chime, mixing it in, and the clip-level scores."""

import numpy as np
import pytest

from jaxdl.tasks.trigger_word.detection import chime, frame_scores, with_chimes


def test_chime_is_a_decaying_two_tone_bell():
    bell = chime(8000, seconds=0.5)
    assert bell.dtype == np.float32 and bell.shape == (4000,)
    assert bell[0] == 0.0 and np.abs(bell).max() < 0.4 * 1.6
    assert np.abs(bell[:400]).max() > 10 * np.abs(bell[-400:]).max()  # it decays
    spectrum = np.abs(np.fft.rfft(bell))
    peaks = sorted(np.argsort(spectrum)[-2:] * 8000 / len(bell))
    assert peaks == pytest.approx([880, 1320], abs=3)


def test_with_chimes_adds_a_bell_at_each_time_and_keeps_the_last_whole():
    rate = 8000
    bell = chime(rate)
    audio = np.full(rate, 0.1, np.float32)
    mixed = with_chimes(audio, [0.25, 0.9], rate)
    assert mixed.shape == (rate + len(bell),)
    np.testing.assert_allclose(mixed[:2000], 0.1)
    np.testing.assert_allclose(mixed[2000:2000 + len(bell)], np.clip(0.1 + bell, -1, 1),
                               atol=1e-6)
    tail = mixed[7200:]  # the second bell runs past the end of the audio
    np.testing.assert_allclose(tail[:800], np.clip(0.1 + bell[:800], -1, 1), atol=1e-6)
    np.testing.assert_allclose(tail[800:len(bell)], bell[800:], atol=1e-6)
    assert not tail[len(bell):].any()  # silence after it
    np.testing.assert_array_equal(with_chimes(audio, [], rate)[:rate], audio)


def test_frame_scores_hand_computed():
    labels = np.array([[0, 0, 1, 1], [0, 0, 0, 0]], np.float32)
    probs = np.array([[0.1, 0.9, 0.8, 0.2], [0.0, 0.0, 0.0, 0.0]], np.float32)
    scores = frame_scores({"labels": labels, "probs": probs}, 0.5)
    # one true positive, one false positive, one false negative, five true negatives
    assert scores == pytest.approx({"frame_accuracy": 6 / 8, "frame_precision": 0.5,
                                    "frame_recall": 0.5, "frame_f1": 0.5,
                                    "all_zero_baseline_accuracy": 6 / 8})
