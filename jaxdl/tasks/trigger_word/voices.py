"""Synthetic speech for the trigger-word case study: words spoken by eSpeak NG.

The trigger-word data set is built by inserting the trigger word ("activate")
and negative words into background noise. The spoken words come from eSpeak NG,
a formant synthesiser with several English accents ("voices") and speaker
variants (male and female), whose speaking rate, pitch and pitch range can be
varied per utterance.

Licence: eSpeak NG is GPL-3.0. It is not bundled with jaxdl: the shared library
and its data are loaded at run time from the `espeakng-loader` PyPI package
(`pip install espeakng-loader`), driven through ctypes.

Determinism. eSpeak keeps synthesis state between utterances (a pitch flutter
index, glottal cycle counters, an automatic gain), so the same word spoken twice
in one process does not give the same samples. To make `synthesize` a pure
function of (text, setting), the library runs in a small worker subprocess (one
per `ESpeak` engine: the module `espeak_worker`, run with `python -m`) that
initialises eSpeak once and then forks a fresh child from that pristine state for
every utterance. This also keeps the non-thread-safe library out of the calling
process (which may be running JAX threads); calls on one engine are serialised by
a lock. Requires `os.fork` (Linux, macOS).

Some variants (seen with f2, f3 and f5) add breath noise from eSpeak's own random
generator, which espeak_ng_Initialize seeds with the current time in seconds; the
worker reseeds it with a fixed seed (espeak_ng_SetRandSeed) right after, so words
are the same in every worker process, whenever it starts.

Main entry points:
    TRIGGER_WORD, NEGATIVE_WORDS, check_vocabulary   the vocabulary
    ENGLISH_VOICES, VARIANTS, VoiceSetting           who speaks, and how
    voice_pools, sample_settings                     speaker splits and sampling
    synthesize, synthesize_many, espeak_version      speech (default engine)
    ESpeak, default_engine                           the engine itself
    trim_silence                                     the silence-trimming rule
"""

from __future__ import annotations

import dataclasses
import json
import os
import struct
import subprocess
import sys
import tempfile
import threading
import weakref
from typing import Sequence

import numpy as np

from jaxdl.errors import UserError
from jaxdl.data.audio_files import resample
# Standard library only, and it loads nothing at import: the status codes of its replies.
from jaxdl.tasks.trigger_word import espeak_worker


class SpeechError(UserError, RuntimeError):
    """eSpeak NG is unavailable, a voice is unknown, or synthesis failed."""


# ----------------------------------------------------------------------------
# Vocabulary
# ----------------------------------------------------------------------------

TRIGGER_WORD = "activate"

# Near misses first (similar sounds or spelling), then plain common words of
# varied length and sound. None contains the trigger word (see check_vocabulary).
NEAR_MISSES: tuple[str, ...] = (
    # near misses of "activate"
    "active", "captivate", "activity", "motivate", "cultivate", "activist",
    "actor", "navigate", "elevate", "accurate", "create", "attract",
    "action", "actual", "captive", "vacate", "dictate", "agitate",
    "calculate", "estimate", "rotate", "indicate", "tactic", "practice",
    "cactus", "react", "relate", "evacuate", "fact", "acrobat",
)
NEGATIVE_WORDS: tuple[str, ...] = NEAR_MISSES + (
    # plain common words
    "hello", "weather", "music", "kitchen", "window", "morning", "yellow",
    "banana", "computer", "telephone", "garden", "river", "mountain",
    "water", "coffee", "table", "pencil", "basket", "summer", "winter",
    "orange", "purple", "dog", "cat", "house", "tree", "book", "light",
    "door", "street", "happy", "sleep", "dinner", "bicycle", "elephant",
    "umbrella", "question", "library", "yesterday", "tomorrow", "beautiful",
    "chocolate", "rain", "sun", "moon", "green", "seven", "twelve", "yes",
    "no", "stop", "please", "thanks", "goodbye", "people", "money", "school",
)


def check_vocabulary(trigger: str, negatives: Sequence[str]) -> None:
    """Raises ValueError unless `negatives` is a clean set of non-trigger words.

    Checks (case-insensitive, ignoring surrounding whitespace): the trigger is
    not empty; no negative is empty; no negative equals or contains the
    trigger (e.g. "deactivate" for "activate"); there are no duplicates.
    """
    if not isinstance(trigger, str) or not trigger.strip():
        raise ValueError(f"the trigger word must be a non-empty string, got {trigger!r}")
    key = trigger.strip().lower()
    seen: dict[str, str] = {}
    for word in negatives:
        if not isinstance(word, str) or not word.strip():
            raise ValueError(f"negative words must be non-empty strings, got {word!r}")
        w = word.strip().lower()
        if key in w:
            raise ValueError(f"negative word {word!r} equals or contains the trigger "
                             f"{trigger!r}")
        if w in seen:
            raise ValueError(f"duplicate negative word {word!r} (also as {seen[w]!r})")
        seen[w] = word


# ----------------------------------------------------------------------------
# Voices and settings
# ----------------------------------------------------------------------------

# eSpeak NG English voices (espeak-ng-data/lang/gmw/; names are case-insensitive).
ENGLISH_VOICES: tuple[str, ...] = (
    "en", "en-us", "en-029", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan",
    "en-gb-x-gbcwmd", "en-us-nyc",
)

# Speaker variants (espeak-ng-data/voices/!v/): different pitch ranges,
# formant scalings and voice qualities; seven male, five female.
VARIANTS: tuple[str, ...] = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7",
    "f1", "f2", "f3", "f4", "f5",
)

# eSpeak's parameter limits (speak_lib.h): words per minute, 0..99 scales.
RATE_LIMITS = (80, 450)
PITCH_LIMITS = (0, 99)
RANGE_LIMITS = (0, 99)
VOLUME = 100  # fixed eSpeak amplitude; loudness is normalised later by the mixer


@dataclasses.dataclass(frozen=True)
class VoiceSetting:
    """How one utterance is spoken.

    voice: an eSpeak voice name, e.g. "en-us"; variant: a variant name from
    espeak-ng-data/voices/!v, e.g. "f3"; rate: words per minute (80..450);
    pitch: base pitch (0..99, 50 is the voice's default); pitch_range: pitch
    variation (0..99, 0 is monotone, 50 the default).
    """

    voice: str
    variant: str
    rate: int
    pitch: int
    pitch_range: int

    def __post_init__(self):
        for field in ("voice", "variant"):
            value = getattr(self, field)
            if not isinstance(value, str) or not value or "+" in value or value != value.strip():
                raise ValueError(f"VoiceSetting.{field} must be a plain non-empty name "
                                 f"without '+', got {value!r}")
        for field, (lo, hi) in (("rate", RATE_LIMITS), ("pitch", PITCH_LIMITS),
                                ("pitch_range", RANGE_LIMITS)):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ValueError(f"VoiceSetting.{field} must be an int, got {value!r}")
            if not lo <= value <= hi:
                raise ValueError(f"VoiceSetting.{field} must be in [{lo}, {hi}], got {value}")
            object.__setattr__(self, field, int(value))

    @property
    def name(self) -> str:
        """The eSpeak voice specification, e.g. "en-us+f3"."""
        return f"{self.voice}+{self.variant}"


SPLITS = ("train", "validation", "test")


def voice_pools(seed: int, fractions: Sequence[float] = (0.7, 0.15, 0.15), *,
                voices: Sequence[str] = ENGLISH_VOICES,
                variants: Sequence[str] = VARIANTS,
                ) -> dict[str, tuple[tuple[str, str], ...]]:
    """Disjoint speaker pools: every (voice, variant) pair in exactly one split.

    The pairs are shuffled with `np.random.default_rng(seed)` and cut by
    `fractions` (train, validation, test; positive, summing to 1), so the test
    split holds speaker combinations never heard in training. Validation and
    test get round(fraction * n) pairs, at least one each; train the rest
    (at least one, else ValueError). Returns {"train": ((voice, variant), ...),
    "validation": ..., "test": ...}.
    """
    fractions = tuple(float(f) for f in fractions)
    if len(fractions) != 3 or min(fractions) <= 0 or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"fractions must be three positive numbers summing to 1, "
                         f"got {fractions}")
    combos = [(v, var) for v in voices for var in variants]
    if len(set(combos)) != len(combos):
        raise ValueError("voices and variants must not contain duplicates")
    n = len(combos)
    n_val = max(1, round(fractions[1] * n))
    n_test = max(1, round(fractions[2] * n))
    n_train = n - n_val - n_test
    if n_train < 1:
        raise ValueError(f"{n} (voice, variant) combinations are too few for three "
                         f"non-empty splits with fractions {fractions}")
    order = np.random.default_rng(seed).permutation(n)
    shuffled = [combos[i] for i in order]
    return {"train": tuple(shuffled[:n_train]),
            "validation": tuple(shuffled[n_train:n_train + n_val]),
            "test": tuple(shuffled[n_train + n_val:])}


def _check_range(name: str, bounds: tuple[int, int], limits: tuple[int, int]) -> tuple[int, int]:
    lo, hi = (int(b) for b in bounds)
    if not limits[0] <= lo <= hi <= limits[1]:
        raise ValueError(f"{name} range must satisfy {limits[0]} <= low <= high <= "
                         f"{limits[1]}, got {tuple(bounds)}")
    return lo, hi


def sample_settings(rng: np.random.Generator, pool: Sequence[tuple[str, str]], n: int, *,
                    rate: tuple[int, int] = (130, 210),
                    pitch: tuple[int, int] = (30, 70),
                    pitch_range: tuple[int, int] = (20, 80)) -> list[VoiceSetting]:
    """`n` random VoiceSettings: a (voice, variant) pair drawn uniformly from
    `pool`, and rate, pitch and pitch_range uniform integers in the given
    inclusive ranges. Reproducible from the state of `rng`.
    """
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    pool = list(pool)
    if not pool:
        raise ValueError("the voice pool is empty")
    rate = _check_range("rate", rate, RATE_LIMITS)
    pitch = _check_range("pitch", pitch, PITCH_LIMITS)
    pitch_range = _check_range("pitch_range", pitch_range, RANGE_LIMITS)
    idx = rng.integers(0, len(pool), size=n)
    rates = rng.integers(rate[0], rate[1] + 1, size=n)
    pitches = rng.integers(pitch[0], pitch[1] + 1, size=n)
    ranges = rng.integers(pitch_range[0], pitch_range[1] + 1, size=n)
    return [VoiceSetting(pool[i][0], pool[i][1], int(r), int(p), int(g))
            for i, r, p, g in zip(idx, rates, pitches, ranges)]


# ----------------------------------------------------------------------------
# Silence trimming
# ----------------------------------------------------------------------------

def trim_silence(audio: np.ndarray, sample_rate: int, *, threshold: float = 0.01,
                 window_ms: float = 10.0, margin_ms: float = 5.0) -> np.ndarray:
    """`audio` (float [N]) without its leading and trailing silence.

    The envelope is the RMS over sliding `window_ms` windows (1 ms hop); a
    window is active when its RMS is at least `threshold` times the largest
    window RMS (1% = -40 dB). Keeps from `margin_ms` before the first active
    window to `margin_ms` after the last one. All-zero input gives an empty array.
    """
    audio = np.asarray(audio)
    if audio.ndim != 1:
        raise ValueError(f"expected mono audio [N], got shape {audio.shape}")
    n = audio.shape[0]
    win = max(1, int(round(window_ms * sample_rate / 1000)))
    hop = max(1, int(round(sample_rate / 1000)))
    if n == 0 or not np.any(audio):
        return audio[:0]
    if n <= win:
        return audio
    power = np.concatenate([[0.0], np.cumsum(audio.astype(np.float64) ** 2)])
    starts = np.arange(0, n - win + 1, hop)
    rms = np.sqrt((power[starts + win] - power[starts]) / win)
    active = np.nonzero(rms >= threshold * rms.max())[0]
    margin = int(round(margin_ms * sample_rate / 1000))
    begin = max(0, int(starts[active[0]]) - margin)
    end = min(n, int(starts[active[-1]]) + win + margin)
    return audio[begin:end]


# ----------------------------------------------------------------------------
# The engine
# ----------------------------------------------------------------------------

def _loader_paths() -> tuple[str, str]:
    """(shared library path, espeak-ng-data path) from the espeakng-loader package."""
    try:
        import espeakng_loader
    except ImportError as err:
        raise SpeechError("eSpeak NG is not available: the 'espeakng-loader' package is "
                          "missing (pip install espeakng-loader)") from err
    lib_path = str(espeakng_loader.get_library_path())
    data_path = str(espeakng_loader.get_data_path())
    if not os.path.isfile(lib_path) or not os.path.isdir(data_path):
        raise SpeechError(f"espeakng-loader is installed but incomplete: library "
                          f"{lib_path!r}, data {data_path!r}")
    return lib_path, data_path


# The worker program (a module of its own, run with `python -m` so that the GPL
# library is loaded there and never here); its docstring describes the protocol.
_WORKER_MODULE = "jaxdl.tasks.trigger_word.espeak_worker"
# The folder holding the `jaxdl` package this module came from: the worker must
# import the same one, even when jaxdl is not installed and the caller has moved
# to another directory since importing it.
_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))


def _worker_env() -> dict[str, str]:
    """The worker's environment: ours, with _PACKAGE_ROOT first on its path.

    PYTHONSAFEPATH keeps `-m` from putting the working directory (which may hold
    another jaxdl checkout) ahead of it; PYTHONNOUSERSITE keeps user site-packages out.
    """
    path = os.environ.get("PYTHONPATH")
    return dict(os.environ, PYTHONNOUSERSITE="1", PYTHONSAFEPATH="1",
                PYTHONPATH=_PACKAGE_ROOT + (os.pathsep + path if path else ""))


def _shutdown(proc: subprocess.Popen, log) -> None:
    try:
        if proc.poll() is None:
            proc.stdin.close()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for stream in (proc.stdin, proc.stdout):
            if stream is not None and not stream.closed:
                stream.close()
    except Exception:  # interpreter shutdown: best effort
        pass
    finally:
        log.close()


class ESpeak:
    """An eSpeak NG engine: a worker subprocess, started lazily on first use.

    Thread-safe (calls are serialised); every utterance is synthesised from the
    same freshly initialised library state, so results are deterministic. Use
    `default_engine()` for the process-wide instance; `close()` stops the worker
    (a later call starts a new one).
    """

    def __init__(self):
        self._lock = threading.RLock()
        self._proc: subprocess.Popen | None = None
        self._finalizer = None
        self._log = None
        self._native_rate: int | None = None
        self._version = ""
        self._data_path: str | None = None
        self._variants: frozenset[str] | None = None

    # -- lifecycle ------------------------------------------------------------

    def _worker_error(self, what: str) -> SpeechError:
        detail = ""
        if self._log is not None:
            try:
                self._log.seek(0)
                detail = self._log.read().decode("utf-8", "replace")[-2000:].strip()
            except (OSError, ValueError):
                pass
        self.close()
        return SpeechError(f"eSpeak NG worker failed: {what}" + (f"\n{detail}" if detail else ""))

    def _ensure_started(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            return
        if self._proc is not None:
            self.close()
        lib_path, data_path = _loader_paths()
        if not hasattr(os, "fork"):
            raise SpeechError("jaxdl.tasks.trigger_word.voices needs os.fork (Linux or macOS)")
        self._log = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", _WORKER_MODULE, lib_path, data_path],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log,
            env=_worker_env())
        self._finalizer = weakref.finalize(self, _shutdown, self._proc, self._log)
        header = self._proc.stdout.read(8)
        if len(header) != 8:
            raise self._worker_error("no reply at startup")
        rate, length = struct.unpack("<ii", header)
        if rate <= 0:
            raise self._worker_error(f"espeak_Initialize returned {rate} for data {data_path!r}")
        self._native_rate = rate
        self._version = self._proc.stdout.read(length).decode("utf-8", "replace")
        self._data_path = data_path
        variant_dir = os.path.join(data_path, "voices", "!v")
        self._variants = frozenset(os.listdir(variant_dir)) if os.path.isdir(variant_dir) \
            else frozenset()

    def close(self) -> None:
        """Stops the worker subprocess (idempotent)."""
        with self._lock:
            if self._finalizer is not None:
                self._finalizer()
            self._proc = self._finalizer = self._log = None

    # -- queries --------------------------------------------------------------

    @property
    def native_rate(self) -> int:
        """eSpeak's own sample rate in Hz (22050)."""
        with self._lock:
            self._ensure_started()
            return self._native_rate

    @property
    def version(self) -> str:
        """The eSpeak NG version string, e.g. "1.52.0" ("" if not reported)."""
        with self._lock:
            self._ensure_started()
            return self._version

    def variants(self) -> frozenset[str]:
        """Names of the installed variants (files in espeak-ng-data/voices/!v)."""
        with self._lock:
            self._ensure_started()
            return self._variants

    # -- synthesis ------------------------------------------------------------

    def synthesize_native(self, text: str, setting: VoiceSetting) -> np.ndarray:
        """Raw eSpeak output: int16 [N] at `native_rate`, untrimmed."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"text must be a non-empty string, got {text!r}")
        if not isinstance(setting, VoiceSetting):
            raise TypeError(f"setting must be a VoiceSetting, got {type(setting).__name__}")
        request = {"text": text, "voice": setting.name, "rate": setting.rate,
                   "volume": VOLUME, "pitch": setting.pitch, "range": setting.pitch_range}
        line = (json.dumps(request) + "\n").encode("utf-8")
        with self._lock:
            self._ensure_started()
            if setting.variant not in self._variants:
                known = ", ".join(sorted(v for v in self._variants if len(v) <= 3)[:12])
                raise SpeechError(f"unknown eSpeak variant {setting.variant!r} in voice "
                                  f"{setting.name!r} (variants include {known}, ...)")
            try:
                self._proc.stdin.write(line)
                self._proc.stdin.flush()
                header = self._proc.stdout.read(8)
                if len(header) != 8:
                    raise self._worker_error(f"no reply for {text!r} with {setting.name!r}")
                status, length = struct.unpack("<ii", header)
                payload = self._proc.stdout.read(length)
            except (BrokenPipeError, OSError) as err:
                raise self._worker_error(f"lost the worker ({err})") from err
            if len(payload) != length:
                raise self._worker_error(f"truncated reply for {text!r}")
        if status == espeak_worker.STATUS_UNKNOWN_VOICE:
            raise SpeechError(f"unknown eSpeak voice {setting.voice!r} (in {setting.name!r}); "
                              f"English voices: {', '.join(ENGLISH_VOICES)}")
        if status != espeak_worker.STATUS_OK:
            raise SpeechError(f"eSpeak failed on {text!r} with {setting.name!r}: "
                              f"{payload.decode('utf-8', 'replace')}")
        audio = np.frombuffer(payload, dtype="<i2").astype(np.int16)
        if audio.size == 0 or not np.any(audio):
            raise SpeechError(f"eSpeak produced no audio for {text!r} with {setting.name!r}")
        return audio

    def synthesize(self, text: str, setting: VoiceSetting,
                   sample_rate: int = 16000) -> np.ndarray:
        """`text` spoken with `setting`: float32 [N] in [-1, 1] at `sample_rate`.

        int16 samples / 32768, trimmed of leading and trailing silence
        (`trim_silence`: -40 dB on a 10 ms RMS envelope, 5 ms margins), then
        resampled from `native_rate`. Deterministic: the same text and setting
        give the same bits. Raises SpeechError for an unknown voice or variant,
        or when eSpeak produces no audio.
        """
        if int(sample_rate) <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        raw = self.synthesize_native(text, setting)
        native = self.native_rate
        audio = trim_silence(raw.astype(np.float32) / 32768.0, native)
        if audio.size == 0:
            raise SpeechError(f"eSpeak produced only silence for {text!r} with {setting.name!r}")
        audio = resample(audio, native, int(sample_rate))
        return np.clip(audio, -1.0, 1.0).astype(np.float32, copy=False)


_DEFAULT_ENGINE: ESpeak | None = None
_DEFAULT_LOCK = threading.Lock()


def default_engine() -> ESpeak:
    """The process-wide eSpeak engine (created on first use; the worker starts lazily)."""
    global _DEFAULT_ENGINE
    with _DEFAULT_LOCK:
        if _DEFAULT_ENGINE is None:
            _DEFAULT_ENGINE = ESpeak()
        return _DEFAULT_ENGINE


def synthesize(text: str, setting: VoiceSetting, sample_rate: int = 16000) -> np.ndarray:
    """`text` spoken with `setting` by the default engine: float32 [N] in [-1, 1].

    See `ESpeak.synthesize` (trimmed of silence, resampled, deterministic).
    """
    return default_engine().synthesize(text, setting, sample_rate)


def synthesize_many(texts: Sequence[str], settings: Sequence[VoiceSetting],
                    sample_rate: int = 16000, *, progress: bool = False,
                    desc: str = "speech") -> list[np.ndarray]:
    """`synthesize(texts[i], settings[i], sample_rate)` for every i (eSpeak NG for a
    VoiceSetting, SVOX Pico for a `pico.PicoSetting`, CMU Flite for a
    `flite.FliteSetting`): a list of float32 [N_i]
    arrays; a tqdm progress bar when `progress`.
    """
    texts, settings = list(texts), list(settings)
    if len(texts) != len(settings):
        raise ValueError(f"got {len(texts)} texts but {len(settings)} settings")
    from jaxdl.tasks.trigger_word import flite, pico
    engine = default_engine() if any(isinstance(s, VoiceSetting) for s in settings) else None
    pairs = zip(texts, settings)
    if progress:
        from tqdm.auto import tqdm
        pairs = tqdm(pairs, total=len(texts), desc=desc, unit="word", dynamic_ncols=True)

    def say(text, setting):
        if isinstance(setting, pico.PicoSetting):
            return pico.synthesize(text, setting, sample_rate)
        if isinstance(setting, flite.FliteSetting):
            return flite.synthesize(text, setting, sample_rate)
        return engine.synthesize(text, setting, sample_rate)
    return [say(text, setting) for text, setting in pairs]


def espeak_version() -> str:
    """The eSpeak NG library version string (from espeak_Info), e.g. "1.52.0"."""
    return default_engine().version
