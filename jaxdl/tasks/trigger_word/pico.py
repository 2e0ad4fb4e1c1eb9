"""A second, more natural synthetic voice family: SVOX Pico.

eSpeak NG's formant voices are far from human speech; SVOX Pico (Android's
built-in synthesiser) speaks with voices built from recordings of real speakers
(hidden-Markov-model synthesis): an American (en-US) and a British (en-GB) English
woman. Varying pitch (50-200% of the voice's own) and speed, and playing the words
faster or slower afterwards (`generator.speed_perturb`, which also moves the
formants as a shorter or longer vocal tract would), gives many more speakers than
two.

Licence: SVOX Pico is Apache-2.0. It comes from the `ttspico` package on PyPI (a
source distribution: pip compiles its C code, so it needs a C compiler; it ships
the voices). It is optional: without it, `available()` is False and the word
banks are spoken by eSpeak NG alone (runs record which voices they used).

Determinism: Pico keeps state between utterances of one engine (the same word said
twice differs), so every utterance gets a fresh engine (5 ms): the samples are a
pure function of (text, setting).
"""

from __future__ import annotations

import dataclasses
import importlib.util
from typing import Sequence

import numpy as np

from jaxdl.data.audio_files import resample

PICO_RATE = 16000                      # Pico's own sample rate (Hz)
LANGUAGES = ("en-US", "en-GB")
SPEED_LIMITS = (20, 500)               # percent of the voice's own speed
PITCH_LIMITS = (50, 200)               # percent of the voice's own pitch


def available() -> bool:
    """Whether the `ttspico` package (and so Pico) is installed."""
    return importlib.util.find_spec("ttspico") is not None


@dataclasses.dataclass(frozen=True)
class PicoSetting:
    """How Pico says one utterance: language (LANGUAGES), speed and pitch in percent."""

    language: str
    speed: int = 100
    pitch: int = 100

    def __post_init__(self):
        if self.language not in LANGUAGES:
            raise ValueError(f"Pico language must be one of {LANGUAGES}, got {self.language!r}")
        for field, (lo, hi) in (("speed", SPEED_LIMITS), ("pitch", PITCH_LIMITS)):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"PicoSetting.{field} must be an int, got {value!r}")
            if not lo <= value <= hi:
                raise ValueError(f"PicoSetting.{field} must be in [{lo}, {hi}], got {value}")
            object.__setattr__(self, field, int(value))

    @property
    def name(self) -> str:
        return f"pico:{self.language}"


def sample_settings(rng: np.random.Generator, n: int, *,
                    languages: Sequence[str] = LANGUAGES,
                    speed: tuple[int, int] = (75, 130),
                    pitch: tuple[int, int] = (60, 160)) -> list[PicoSetting]:
    """`n` random settings: a language drawn uniformly, speed and pitch uniform
    integers in the given inclusive ranges (percent)."""
    if not languages:
        raise ValueError("give at least one Pico language")
    lang = rng.integers(0, len(languages), n)
    speeds = rng.integers(speed[0], speed[1] + 1, n)
    pitches = rng.integers(pitch[0], pitch[1] + 1, n)
    return [PicoSetting(languages[i], int(s), int(p)) for i, s, p in zip(lang, speeds, pitches)]


def synthesize(text: str, setting: PicoSetting, sample_rate: int = 16000) -> np.ndarray:
    """`text` said by Pico with `setting`: float32 [N] in [-1, 1] at `sample_rate`,
    leading and trailing silence trimmed. Raises SpeechError if Pico is missing or
    says nothing."""
    from jaxdl.tasks.trigger_word.voices import SpeechError, trim_silence
    if not available():
        raise SpeechError("SVOX Pico is not installed: pip install ttspico (needs a C "
                          "compiler), or leave data.pico_fraction at 0")
    import ttspico
    try:
        engine = ttspico.TtsEngine(setting.language)
        engine.rate = setting.speed
        engine.pitch = setting.pitch
        pcm = engine.speak(text) or b""
    except (RuntimeError, ValueError) as e:
        raise SpeechError(f"Pico could not say {text!r} with {setting}: {e}") from None
    finally:
        engine = None       # a fresh engine for every utterance (see the docstring)
    audio = np.frombuffer(pcm, np.int16).astype(np.float32) / 32768.0
    audio = trim_silence(resample(audio, PICO_RATE, sample_rate), sample_rate)
    if not len(audio):
        raise SpeechError(f"Pico said nothing for {text!r} with {setting}")
    return audio
