"""SVOX Pico voices: settings, determinism within a process, mixing into a bank."""

import numpy as np
import pytest

from jaxdl.tasks.trigger_word import pico

needs_pico = pytest.mark.skipif(not pico.available(), reason="ttspico is not installed")


def test_settings_are_validated_and_sampled_in_range():
    with pytest.raises(ValueError, match="language"):
        pico.PicoSetting("de-DE")
    with pytest.raises(ValueError, match="pitch"):
        pico.PicoSetting("en-US", pitch=300)
    with pytest.raises(ValueError, match="speed"):
        pico.PicoSetting("en-US", speed=True)
    settings = pico.sample_settings(np.random.default_rng(0), 200, speed=(80, 120),
                                    pitch=(70, 150))
    assert {s.language for s in settings} == set(pico.LANGUAGES)
    assert all(80 <= s.speed <= 120 and 70 <= s.pitch <= 150 for s in settings)
    assert settings == pico.sample_settings(np.random.default_rng(0), 200, speed=(80, 120),
                                            pitch=(70, 150))
    assert settings[0].name.startswith("pico:en-")


@needs_pico
def test_the_same_word_and_setting_give_the_same_samples():
    s = pico.PicoSetting("en-US", speed=90, pitch=120)
    a = pico.synthesize("activate", s, 16000)
    b = pico.synthesize("activate", s, 16000)     # Pico's own engine would differ here
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float32 and 0.3 < len(a) / 16000 < 1.5
    assert np.abs(a).max() <= 1.0
    higher = pico.synthesize("activate", pico.PicoSetting("en-US", speed=90, pitch=180))
    slower = pico.synthesize("activate", pico.PicoSetting("en-US", speed=60, pitch=120))
    assert not np.array_equal(a[:len(higher)], higher[:len(a)])
    assert len(slower) > 1.2 * len(a)
    # at another rate: resampled, about the same duration
    c = pico.synthesize("activate", s, 8000)
    assert abs(len(c) * 2 - len(a)) < 400


@needs_pico
def test_bank_with_pico_fraction_is_deterministic_and_mixes_voices():
    from jaxdl.tasks.trigger_word.generator import speech_bank
    kw = dict(trigger="go", negatives=("stop", "yes"), num_positive=6, num_negative=6,
              seed=0, sample_rate=16000, num_samples=32000, pico_fraction=0.5)
    a, b = speech_bank("train", **kw), speech_bank("train", **kw)
    np.testing.assert_array_equal(a.audio, b.audio)
    picos = [s for s in a.speakers if s.startswith("pico:")]
    assert 0 < len(picos) < len(a.speakers)
    assert a.texts == speech_bank("train", **(kw | {"pico_fraction": 0.0})).texts
