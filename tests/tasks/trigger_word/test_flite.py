"""CMU Flite voices: settings, determinism, mixing into a bank, and its absence."""

import numpy as np
import pytest

from jaxdl.tasks.trigger_word import flite

needs_flite = pytest.mark.skipif(not flite.available(), reason="no flite program installed")


def test_settings_are_validated_and_sampled_in_range():
    with pytest.raises(ValueError, match="voice"):
        flite.FliteSetting("kal")            # the 8 kHz diphone voice is not offered
    with pytest.raises(ValueError, match="pitch"):
        flite.FliteSetting("slt", pitch=3.0)
    with pytest.raises(ValueError, match="stretch"):
        flite.FliteSetting("slt", stretch=True)
    rng = lambda: np.random.default_rng(0)
    settings = flite.sample_settings(rng(), 200, stretch=(0.9, 1.1), pitch=(0.8, 1.2))
    assert {s.voice for s in settings} == set(flite.VOICES)
    assert all(0.9 <= s.stretch <= 1.1 and 0.8 <= s.pitch <= 1.2 for s in settings)
    assert settings == flite.sample_settings(rng(), 200, stretch=(0.9, 1.1), pitch=(0.8, 1.2))
    assert settings[0].name.startswith("flite:")


@needs_flite
def test_the_same_word_and_setting_give_the_same_samples():
    s = flite.FliteSetting("rms", stretch=1.0, pitch=1.0)
    a = flite.synthesize("activate", s, 16000)
    np.testing.assert_array_equal(a, flite.synthesize("activate", s, 16000))
    assert a.dtype == np.float32 and 0.3 < len(a) / 16000 < 1.5
    assert np.abs(a).max() <= 1.0
    slower = flite.synthesize("activate", flite.FliteSetting("rms", stretch=1.6))
    assert len(slower) > 1.3 * len(a)
    # pitch moves slt, awb and kal16 (rms keeps its own: Flite ignores it there)
    low, high = (flite.synthesize("activate", flite.FliteSetting("slt", pitch=p))
                 for p in (0.8, 1.6))
    assert not np.array_equal(low[:len(high)], high[:len(low)])
    assert abs(len(flite.synthesize("activate", s, 8000)) * 2 - len(a)) < 400


@needs_flite
def test_bank_with_flite_fraction_is_deterministic_and_mixes_voices():
    from jaxdl.tasks.trigger_word.generator import speech_bank
    kw = dict(trigger="go", negatives=("stop", "yes"), num_positive=6, num_negative=6,
              seed=0, sample_rate=16000, num_samples=32000, flite_fraction=0.5)
    a, b = speech_bank("train", **kw), speech_bank("train", **kw)
    np.testing.assert_array_equal(a.audio, b.audio)
    flites = [s for s in a.speakers if s.startswith("flite:")]
    assert 0 < len(flites) < len(a.speakers)
    off = speech_bank("train", **(kw | {"flite_fraction": 0.0}))
    assert a.texts == off.texts
    # the eSpeak words Flite did not take are the same utterances as without Flite
    for i, (x, y) in enumerate(zip(a.speakers, off.speakers)):
        if not x.startswith("flite:"):
            assert x == y and a.lengths[i] == off.lengths[i]
            np.testing.assert_array_equal(a.audio[i, :a.lengths[i]],
                                          off.audio[i, :off.lengths[i]])


def test_without_flite_a_bank_falls_back_and_synthesize_says_why(monkeypatch, caplog):
    from jaxdl.tasks.trigger_word import voices
    from jaxdl.tasks.trigger_word.generator import speech_bank
    monkeypatch.setattr(flite.shutil, "which", lambda name: None)
    assert not flite.available()
    with pytest.raises(voices.SpeechError, match="apt install flite"):
        flite.synthesize("go", flite.FliteSetting("slt"))
    kw = dict(trigger="go", negatives=("stop", "yes"), num_positive=3, num_negative=3,
              seed=0, sample_rate=16000, num_samples=32000)
    with caplog.at_level("WARNING"):
        bank = speech_bank("train", flite_fraction=0.5, **kw)
    assert "Flite is not installed" in caplog.text
    np.testing.assert_array_equal(bank.audio, speech_bank("train", **kw).audio)
