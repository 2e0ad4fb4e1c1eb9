"""The real-voice check's pieces: labels from folders and names, the bank, the
clips' fixed SNR, and the refusals."""

import numpy as np
import pytest

from jaxdl.data.audio_files import write_wav
from jaxdl.data.sources import DataError
from jaxdl.tasks.trigger_word import generator as tw
from jaxdl.tasks.trigger_word import real_check

SR = 16000


def tone(freq, seconds=0.4, rate=SR):
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t) * np.hanning(len(t))).astype(np.float32)


@pytest.fixture
def folder(tmp_path):
    """FSDD-style names at 8 kHz, plus a sub-folder label and a silent file."""
    for i in range(3):
        write_wav(tmp_path / f"7_george_{i}.wav", tone(300 + 50 * i, rate=8000), 8000)
        write_wav(tmp_path / f"3_lucas_{i}.wav", tone(900 + 50 * i, rate=8000), 8000)
    (tmp_path / "hello").mkdir()
    write_wav(tmp_path / "hello" / "a_b.wav", tone(1500), SR)
    write_wav(tmp_path / "0_silent.wav", np.zeros(4000, np.float32), SR)
    return tmp_path


def test_labels_come_from_subfolders_or_names(folder):
    words, skipped = real_check.load_recordings(folder, SR)
    assert {k: len(v) for k, v in words.items()} == {"7": 3, "3": 3, "hello": 1}
    assert len(skipped) == 1 and "0_silent.wav: silent" in skipped[0]
    # resampled to the run's rate: 0.4 s at 8 kHz is 0.4 s at 16 kHz
    assert all(abs(len(a) - 6400) <= 1 for _, a in words["7"])


def test_bank_and_clips_at_a_fixed_snr(folder):
    words, _ = real_check.load_recordings(folder, SR)
    spec = tw.ClipSpec(sample_rate=SR, seconds=3.0, max_positives=2, max_negatives=2,
                       label_steps=5, room_probability=0.5, lowpass_probability=0.5)
    bank = real_check.real_bank(words, "7", sample_rate=SR, num_samples=spec.num_samples)
    assert bank.positive.sum() == 3 and (~bank.positive).sum() == 4
    assert set(bank.texts) == {"7", "3", "hello"}
    sources = real_check.check_sources(bank, spec, snrs=(20.0, 0.0), clips_per_snr=5)
    assert [snr for snr, _ in sources] == [20.0, 0.0]
    for snr, clips in sources:
        s = clips.spec
        assert s.word_db == (0.0, 0.0) and s.background_db == (-snr, -snr)
        assert s.room_probability == 0.0 and s.lowpass_probability == 0.0
        assert s.max_negatives == 4 and "file" not in s.kinds
        layout = clips[0]
        assert not layout["room"] and not layout["lowpass"]
        np.testing.assert_allclose(layout["background_gain"], 10 ** (-snr / 20), rtol=1e-6)
        assert np.all(layout["gain"][layout["active"]] == 1.0)
    # the two SNRs' clips are drawn independently
    a, b = sources[0][1][0], sources[1][1][0]
    assert a["noise_seed"] != b["noise_seed"]


def test_refusals(folder, tmp_path):
    words, _ = real_check.load_recordings(folder, SR)
    with pytest.raises(DataError, match="labels found: 3, 7, hello"):
        real_check.real_bank(words, "seven", sample_rate=SR, num_samples=SR * 3)
    with pytest.raises(DataError, match="other words"):
        real_check.real_bank({"7": words["7"]}, "7", sample_rate=SR, num_samples=SR * 3)
    with pytest.raises(DataError, match="does not exist"):
        real_check.load_recordings(tmp_path / "nope", SR)
    spec = tw.ClipSpec(sample_rate=SR, seconds=3.0)
    bank = real_check.real_bank(words, "7", sample_rate=SR, num_samples=spec.num_samples)
    with pytest.raises(ValueError, match="at least 1"):
        real_check.check_sources(bank, spec, clips_per_snr=0)


def test_operating_point_is_the_best_f1_within_the_budget():
    curve = {"threshold": [0.1, 0.3, 0.5, 0.7, 0.9],
             "f1": [0.90, 0.88, 0.85, 0.80, float("nan")],
             "recall": [0.95, 0.90, 0.80, 0.70, 0.0],
             "false_accepts_per_hour": [9.0, 3.0, 2.0, 1.0, 0.0]}
    point = real_check.operating_point(curve, 2.0)
    assert point == {"max_false_accepts_per_hour": 2.0, "threshold": 0.5,
                     "event_f1": 0.85, "event_recall": 0.80,
                     "false_accepts_per_hour": 2.0}
    assert real_check.operating_point(curve, 100.0)["threshold"] == 0.1
    none = real_check.operating_point(curve, -1.0)      # no threshold keeps to it
    assert none["max_false_accepts_per_hour"] == -1.0
    assert all(np.isnan(none[k]) for k in ("threshold", "event_f1", "event_recall"))
