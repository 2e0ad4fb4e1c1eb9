"""Tests for jaxdl.tasks.trigger_word.voices: vocabulary, speaker pools, and eSpeak NG synthesis."""

import importlib.util
import sys

import numpy as np
import pytest

from jaxdl.tasks.trigger_word import voices as speech
from jaxdl.tasks.trigger_word.voices import (ENGLISH_VOICES, NEGATIVE_WORDS, TRIGGER_WORD, VARIANTS,
                               SpeechError, VoiceSetting, check_vocabulary, sample_settings,
                               synthesize, synthesize_many, trim_silence, voice_pools)

needs_espeak = pytest.mark.skipif(importlib.util.find_spec("espeakng_loader") is None,
                                  reason="espeakng-loader is not installed")

SR = 16000
BASE = VoiceSetting("en-us", "f3", 175, 50, 50)


# -- vocabulary ---------------------------------------------------------------

def test_vocabulary_is_clean_and_has_near_misses():
    check_vocabulary(TRIGGER_WORD, NEGATIVE_WORDS)
    assert TRIGGER_WORD == "activate"
    assert len(NEGATIVE_WORDS) >= 60
    for word in ("active", "captivate", "activity", "motivate", "cultivate", "activist",
                 "actor", "navigate", "elevate", "accurate", "create", "attract"):
        assert word in NEGATIVE_WORDS
    assert all(TRIGGER_WORD not in w.lower() for w in NEGATIVE_WORDS)


def test_check_vocabulary_rejects_bad_sets():
    with pytest.raises(ValueError, match="deactivate"):
        check_vocabulary("activate", ["hello", "deactivate"])
    with pytest.raises(ValueError, match="contains"):
        check_vocabulary("activate", ["ACTIVATE"])
    with pytest.raises(ValueError, match="duplicate"):
        check_vocabulary("activate", ["hello", "world", "Hello"])
    with pytest.raises(ValueError, match="non-empty"):
        check_vocabulary("  ", ["hello"])
    with pytest.raises(ValueError, match="non-empty"):
        check_vocabulary("activate", ["hello", ""])


# -- settings and pools ---------------------------------------------------------

def test_voice_setting_name_and_validation():
    assert BASE.name == "en-us+f3"
    with pytest.raises(ValueError, match="rate"):
        VoiceSetting("en-us", "f3", 20, 50, 50)
    with pytest.raises(ValueError, match="pitch"):
        VoiceSetting("en-us", "f3", 175, 100, 50)
    with pytest.raises(ValueError, match="variant"):
        VoiceSetting("en-us", "f3+m1", 175, 50, 50)


def test_voice_pools_disjoint_complete_and_seeded():
    pools = voice_pools(0)
    assert set(pools) == {"train", "validation", "test"}
    assert all(len(p) > 0 for p in pools.values())
    sets = [set(p) for p in pools.values()]
    assert sum(len(s) for s in sets) == len(set().union(*sets))  # disjoint, no repeats
    assert set().union(*sets) == {(v, m) for v in ENGLISH_VOICES for m in VARIANTS}
    assert len(pools["train"]) > len(pools["test"])
    assert voice_pools(0) == pools
    assert voice_pools(1) != pools
    with pytest.raises(ValueError, match="fractions"):
        voice_pools(0, (0.5, 0.5, 0.0))
    with pytest.raises(ValueError, match="too few"):
        voice_pools(0, (0.1, 0.45, 0.45), voices=("en",), variants=("m1", "f1"))


def test_sample_settings_ranges_and_reproducibility():
    pool = voice_pools(3)["train"]
    settings = sample_settings(np.random.default_rng(7), pool, 400, rate=(120, 200),
                               pitch=(30, 70), pitch_range=(20, 80))
    assert len(settings) == 400
    assert all((s.voice, s.variant) in pool for s in settings)
    rates = [s.rate for s in settings]
    assert min(rates) >= 120 and max(rates) <= 200
    assert all(30 <= s.pitch <= 70 and 20 <= s.pitch_range <= 80 for s in settings)
    assert len({(s.voice, s.variant) for s in settings}) > len(pool) // 2
    again = sample_settings(np.random.default_rng(7), pool, 400, rate=(120, 200))
    assert again == settings
    assert sample_settings(np.random.default_rng(8), pool, 400, rate=(120, 200)) != settings
    narrow = sample_settings(np.random.default_rng(0), pool, 200, rate=(150, 152),
                             pitch=(40, 40), pitch_range=(0, 1))
    assert {s.rate for s in narrow} == {150, 151, 152}  # both ends are inclusive
    assert {s.pitch for s in narrow} == {40} and {s.pitch_range for s in narrow} == {0, 1}
    with pytest.raises(ValueError, match="rate"):
        sample_settings(np.random.default_rng(0), pool, 1, rate=(50, 100))
    with pytest.raises(ValueError, match="empty"):
        sample_settings(np.random.default_rng(0), [], 1)


def test_trim_silence_removes_padding():
    sr = 16000
    t = np.arange(sr // 2) / sr
    tone = (0.5 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    padded = np.concatenate([np.zeros(sr // 4, np.float32), tone,
                             np.zeros(sr // 3, np.float32)])
    out = trim_silence(padded, sr, window_ms=10.0, margin_ms=5.0)
    # at most one window plus the margin (15 ms = 240 samples) kept on each side
    assert len(tone) <= len(out) <= len(tone) + 2 * 240
    assert np.array_equal(out[np.abs(out) > 0][:10], tone[np.abs(tone) > 0][:10])
    assert trim_silence(np.zeros(100, np.float32), sr).size == 0


def _rms(x):
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def _max_rms(x, window=SR // 100):
    return max(_rms(x[i:i + window]) for i in range(0, len(x) - window + 1, window // 4))


# -- synthesis ------------------------------------------------------------------

@needs_espeak
def test_synthesis_is_deterministic_even_after_other_words():
    first = synthesize("activate", BASE)
    again = synthesize("activate", BASE)
    synthesize("hello there", VoiceSetting("en-gb-x-rp", "m3", 200, 30, 80))
    synthesize("captivate", VoiceSetting("en", "f1", 140, 70, 20))
    later = synthesize("activate", BASE)
    assert first.tobytes() == again.tobytes() == later.tobytes()


@needs_espeak
def test_noisy_variants_are_the_same_in_workers_started_in_other_seconds():
    # f5 adds breath noise from eSpeak's random generator, which eSpeak seeds with
    # the clock: two workers started in different seconds must still agree.
    import time
    setting = VoiceSetting("en-us-nyc", "f5", 175, 50, 50)
    first = speech.ESpeak()
    try:
        a = first.synthesize_native(TRIGGER_WORD, setting)
    finally:
        first.close()
    time.sleep(1.1)
    second = speech.ESpeak()
    try:
        b = second.synthesize_native(TRIGGER_WORD, setting)
    finally:
        second.close()
    assert a.tobytes() == b.tobytes()


@needs_espeak
def test_output_format_duration_and_no_edge_silence():
    for setting in (BASE, VoiceSetting("en-gb-scotland", "m1", 130, 30, 20),
                    VoiceSetting("en-us-nyc", "f5", 210, 70, 80)):
        audio = synthesize(TRIGGER_WORD, setting, SR)
        assert audio.dtype == np.float32 and audio.ndim == 1
        assert 0.3 <= len(audio) / SR <= 1.5, (setting, len(audio) / SR)
        peak = np.abs(audio).max()
        assert 0.01 < peak <= 1.0
        # no silence at the edges: the first and last 20 ms carry at least 0.5%
        # of the loudest 10 ms RMS (trimming keeps <= 15 ms below 1% of it)
        assert _rms(audio[:SR // 50]) >= 0.005 * _max_rms(audio)
        assert _rms(audio[-SR // 50:]) >= 0.005 * _max_rms(audio)
        padded = np.concatenate([np.zeros(SR // 10, np.float32), audio])
        assert _rms(padded[:SR // 50]) < 0.005 * _max_rms(padded)  # the check can fail


@needs_espeak
def test_rate_and_variant_change_the_audio():
    slow = synthesize(TRIGGER_WORD, VoiceSetting("en-us", "m1", 100, 50, 50))
    fast = synthesize(TRIGGER_WORD, VoiceSetting("en-us", "m1", 300, 50, 50))
    assert len(fast) < 0.8 * len(slow)
    a = synthesize(TRIGGER_WORD, VoiceSetting("en-us", "m1", 175, 50, 50))
    b = synthesize(TRIGGER_WORD, VoiceSetting("en-us", "f2", 175, 50, 50))
    n = min(len(a), len(b))
    assert len(a) != len(b) or not np.array_equal(a, b)
    assert np.abs(a[:n] - b[:n]).mean() > 0.01


@needs_espeak
def test_sample_rate_and_synthesize_many():
    words = ["activate", "motivate", "garden"]
    settings = sample_settings(np.random.default_rng(0), voice_pools(0)["test"], 3)
    many = synthesize_many(words, settings, 8000, progress=True, desc="test")
    assert len(many) == 3
    for word, setting, audio in zip(words, settings, many):
        assert np.array_equal(audio, synthesize(word, setting, 8000))
    at16 = synthesize(words[0], settings[0], 16000)
    assert abs(len(at16) - 2 * len(many[0])) <= 2
    with pytest.raises(ValueError, match="settings"):
        synthesize_many(words, settings[:2])


@needs_espeak
def test_unknown_voice_or_variant_raises_naming_it():
    with pytest.raises(SpeechError, match="xx-nowhere"):
        synthesize("hello", VoiceSetting("xx-nowhere", "m1", 175, 50, 50))
    with pytest.raises(SpeechError, match="nosuchvariant"):
        synthesize("hello", VoiceSetting("en-us", "nosuchvariant", 175, 50, 50))
    with pytest.raises(ValueError, match="text"):
        synthesize("   ", BASE)
    assert len(synthesize("hello", BASE)) > 0  # the engine survives errors


@needs_espeak
def test_espeak_version():
    version = speech.espeak_version()
    assert version and version[0].isdigit()


@needs_espeak
def test_missing_package_raises_without_breaking_default_engine(monkeypatch):
    before = synthesize("activate", BASE)
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "espeakng_loader", None)  # `import` now fails
        with pytest.raises(SpeechError, match="pip install espeakng-loader"):
            speech.ESpeak().synthesize("activate", BASE)
    assert synthesize("activate", BASE).tobytes() == before.tobytes()
