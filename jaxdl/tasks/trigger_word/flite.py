"""A third synthetic voice family: CMU Flite's voices of real speakers.

Flite (CMU's small synthesiser) ships English voices built from recordings of real
people in the CMU ARCTIC databases: `awb` (a Scottish man), `rms` (an American man)
and `slt` (an American woman) are statistical-parametric (clustergen) voices, and
`kal16` an American man's diphones. Varying each utterance's duration and pitch
(and `generator.speed_perturb` afterwards) gives more speakers than four. They are
further from eSpeak NG's formant voices than from people, which is what a detector
trained on synthesised words needs.

Licence: Flite and its voices are under a BSD-style licence (CMU, free to use,
modify and redistribute). It is a system program, not a Python package: Debian and
Ubuntu `apt install flite`, Fedora `dnf install flite`, macOS `brew install flite`.
It is optional: without a `flite` on the PATH, `available()` is False and the word
banks are spoken by the other voices (runs record which voices they used).

Determinism: each utterance is a fresh `flite` process, and Flite draws nothing at
random: the samples are a pure function of (text, setting).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import tempfile
from typing import Sequence

import numpy as np

from jaxdl.data.audio_files import load_audio

VOICES = ("awb", "rms", "slt", "kal16")
# Each voice's own mean pitch (Hz, as Flite reports it): settings scale it.
_VOICE_PITCH = {"awb": 110.0, "rms": 105.0, "slt": 160.0, "kal16": 105.0}
STRETCH_LIMITS = (0.5, 2.0)            # duration multiplier (1 = the voice's own)
PITCH_LIMITS = (0.5, 2.0)              # pitch multiplier (1 = the voice's own)


def available() -> bool:
    """Whether a `flite` program is on the PATH."""
    return shutil.which("flite") is not None


@dataclasses.dataclass(frozen=True)
class FliteSetting:
    """How Flite says one utterance: voice (VOICES), duration stretch and pitch as
    multipliers of the voice's own (Flite 2.2 ignores the pitch target for `rms`)."""

    voice: str
    stretch: float = 1.0
    pitch: float = 1.0

    def __post_init__(self):
        if self.voice not in VOICES:
            raise ValueError(f"Flite voice must be one of {VOICES}, got {self.voice!r}")
        for field, (lo, hi) in (("stretch", STRETCH_LIMITS), ("pitch", PITCH_LIMITS)):
            value = getattr(self, field)
            if isinstance(value, bool) or not lo <= float(value) <= hi:
                raise ValueError(f"FliteSetting.{field} must be in [{lo}, {hi}], got {value!r}")
            object.__setattr__(self, field, float(value))

    @property
    def name(self) -> str:
        return f"flite:{self.voice}"


def sample_settings(rng: np.random.Generator, n: int, *, voices: Sequence[str] = VOICES,
                    stretch: tuple[float, float] = (0.85, 1.25),
                    pitch: tuple[float, float] = (0.75, 1.35)) -> list[FliteSetting]:
    """`n` random settings: a voice drawn uniformly, stretch and pitch uniform in
    the given ranges (rounded to 0.01)."""
    if not voices:
        raise ValueError("give at least one Flite voice")
    which = rng.integers(0, len(voices), n)
    stretches = np.round(rng.uniform(*stretch, n), 2)
    pitches = np.round(rng.uniform(*pitch, n), 2)
    return [FliteSetting(voices[i], float(s), float(p))
            for i, s, p in zip(which, stretches, pitches)]


def synthesize(text: str, setting: FliteSetting, sample_rate: int = 16000) -> np.ndarray:
    """`text` said by Flite with `setting`: float32 [N] in [-1, 1] at `sample_rate`,
    leading and trailing silence trimmed. Raises SpeechError if Flite is missing,
    fails or says nothing."""
    from jaxdl.tasks.trigger_word.voices import SpeechError, trim_silence
    if not available():
        raise SpeechError("CMU Flite is not installed (apt install flite, brew install "
                          "flite, ...), or leave data.flite_fraction at 0")
    f0 = _VOICE_PITCH[setting.voice] * setting.pitch
    with tempfile.TemporaryDirectory(prefix="jaxdl_flite_") as tmp:
        out = os.path.join(tmp, "word.wav")
        cmd = ["flite", "-voice", setting.voice,
               "--setf", f"duration_stretch={setting.stretch:.2f}",
               "--setf", f"int_f0_target_mean={f0:.1f}", "-t", text, "-o", out]
        try:
            proc = subprocess.run(cmd, capture_output=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise SpeechError(f"Flite could not say {text!r} with {setting}: {e}") from None
        if proc.returncode != 0 or not os.path.exists(out):
            raise SpeechError(f"Flite could not say {text!r} with {setting}: "
                              f"{proc.stderr.decode(errors='replace').strip()[-300:]}")
        audio = trim_silence(load_audio(out, sample_rate), sample_rate)
    if not len(audio):
        raise SpeechError(f"Flite said nothing for {text!r} with {setting}")
    return audio
