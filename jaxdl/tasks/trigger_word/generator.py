"""Trigger-word clips, synthesised as the course does.

A clip is a 10-second background bed with 0-4 trigger words ("positives") and 0-2
other words ("negatives") inserted at random, non-overlapping positions; the label
is 1 for the `label_steps` output steps after each positive ends; the mix is
normalised to a target loudness (dBFS).

The work is split in two, so that clips are cheap and deterministic:

- `sample_layout(rng, ...)` (numpy, host): which words, where, how loud, which
  background and its level: a few small fixed-size arrays drawn from a seeded
  `np.random.Generator`. Clip `i` of a split always gets the same layout.
- `render_clips(layouts, bank, spec)` (pure JAX, jit + vmap): the noise bed
  (white, pink, brown noise, mains hum, babble of many overlapped words, or a
  user's recording), the inserted words, the loudness normalisation; and
  `clip_labels(...)`, the per-step targets.

Words come from a `WordBank`: speech synthesised with eSpeak NG (`speech_bank`),
or a user's wav folders, or TFDS `speech_commands` (`jaxdl.tasks.trigger_word.sources`).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl.audio import FeatureSpec
from jaxdl.data.sources import DataError

BACKGROUND_KINDS = ("white", "pink", "brown", "hum", "babble", "file")


@dataclasses.dataclass(frozen=True)
class ClipSpec:
    """How clips are laid out and mixed (static: hashable, a jit argument).

    Levels are in dB: each word is normalised to RMS 1 and scaled by a level drawn
    from `word_db`; the background bed (RMS 1) by one drawn from `background_db`
    (the course lowers its backgrounds by 20 dB); the mix is then scaled to an RMS
    of `target_dbfs` dB full scale (the course's -20 dBFS).
    """

    sample_rate: int = 16000
    seconds: float = 10.0
    max_positives: int = 4
    max_negatives: int = 2
    label_steps: int = 50
    word_db: tuple[float, float] = (-6.0, 0.0)
    background_db: tuple[float, float] = (-30.0, -15.0)
    target_dbfs: float = -20.0
    min_gap_seconds: float = 0.1     # between inserted words
    tail_seconds: float = 0.3        # every word ends this long before the clip ends
    babble_words: int = 10           # overlapped words in a babble bed
    kinds: tuple[str, ...] = ("white", "pink", "brown", "hum", "babble")
    placement_tries: int = 100
    # Rooms and microphones, applied to the words (not the bed) of a clip: with
    # probability room_probability, a simulated room impulse response (reverberation
    # time rt60 seconds, direct-to-reverberant ratio drr_db); with probability
    # lowpass_probability, a low-pass at a cutoff drawn from lowpass_hz (telephone
    # and 8 kHz recordings carry nothing above 3.4-4 kHz).
    room_probability: float = 0.0
    rt60: tuple[float, float] = (0.15, 0.8)
    drr_db: tuple[float, float] = (0.0, 12.0)
    lowpass_probability: float = 0.0
    lowpass_hz: tuple[float, float] = (3000.0, 4000.0)
    # and with probability eq_probability a microphone's colouring: a random smooth
    # gain curve over log frequency, within +-eq_db
    eq_probability: float = 0.0
    eq_db: float = 6.0

    def __post_init__(self):
        unknown = set(self.kinds) - set(BACKGROUND_KINDS)
        if unknown or not self.kinds:
            raise ValueError(f"background kinds must be among {BACKGROUND_KINDS}, "
                             f"got {self.kinds}")
        if self.max_positives < 0 or self.max_negatives < 0 or self.label_steps < 1:
            raise ValueError("max_positives and max_negatives must be >= 0, label_steps >= 1")
        for name in ("word_db", "background_db", "rt60", "drr_db", "lowpass_hz"):
            lo, hi = getattr(self, name)
            if lo > hi:
                raise ValueError(f"{name} must be (low, high), got {(lo, hi)}")
        if self.seconds <= 0 or self.sample_rate <= 0:
            raise ValueError("seconds and sample_rate must be positive")
        for name in ("room_probability", "lowpass_probability", "eq_probability"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.rt60[0] <= 0:
            raise ValueError(f"rt60 must be positive seconds, got {self.rt60}")
        if self.lowpass_probability and not (
                0 < self.lowpass_hz[0] and self.lowpass_hz[1] < self.sample_rate / 2):
            raise ValueError(f"lowpass_hz must lie in (0, {self.sample_rate / 2}) Hz, "
                             f"got {self.lowpass_hz}")

    @property
    def num_samples(self) -> int:
        return int(round(self.seconds * self.sample_rate))

    @property
    def slots(self) -> int:
        """Word slots in a layout: max_positives + max_negatives."""
        return self.max_positives + self.max_negatives


AUGMENTATIONS = ("room_probability", "rt60", "drr_db", "lowpass_probability", "lowpass_hz",
                 "eq_probability", "eq_db")


def clip_spec(config, split: str = "train") -> ClipSpec:
    """The ClipSpec of a run's config (its `clip` group) for `split`. Rooms,
    microphones (AUGMENTATIONS), `clip.train_background_db` and
    `clip.train_max_negatives` (if set) shape the training clips only: validation and
    test clips are the course's (background at `clip.background_db`, up to
    `clip.max_negatives` other words, no room), so their scores mean the same
    whatever the training recipe."""
    c = config.clip
    train = split == "train"
    background = tuple(c.get("train_background_db", ()) or ()) if train else ()
    max_negatives = (c.get("train_max_negatives", 0) if train else 0) or c.max_negatives
    return ClipSpec(
        sample_rate=c.sample_rate, seconds=c.seconds, max_positives=c.max_positives,
        max_negatives=max_negatives, label_steps=c.label_steps,
        word_db=tuple(c.word_db), background_db=background or tuple(c.background_db),
        target_dbfs=c.target_dbfs, kinds=tuple(c.kinds), babble_words=c.babble_words,
        **{k: (tuple(c[k]) if isinstance(c[k], (tuple, list)) else c[k])
           for k in AUGMENTATIONS if k in c and (train or not k.endswith("probability"))})


FRONT_ENDS = ("spectrogram", "speech_embedding")


def feature_spec(config):
    """The front end of a run's config (`features`, at the clip rate): the log
    spectrogram's FeatureSpec, or the frozen SpeechEmbedding; both map audio
    [..., N] to features [..., Tx, F] and say num_frames(N) and num_bins."""
    f = config.features
    front_end = f.get("front_end", "spectrogram")
    if front_end == "speech_embedding":
        from jaxdl.tasks.trigger_word.speech_embedding import SpeechEmbedding
        return SpeechEmbedding(model_dir=f.get("embedding_dir", ""),
                               sample_rate=config.clip.sample_rate)
    if front_end != "spectrogram":
        raise ValueError(f"features.front_end must be one of {FRONT_ENDS}, got {front_end!r}")
    return FeatureSpec(sample_rate=config.clip.sample_rate, window_length=f.window_length,
                       hop=f.hop, nfft=f.nfft or None, mel_bins=f.mel_bins)


# -- word banks ---------------------------------------------------------------------
@dataclasses.dataclass
class WordBank:
    """Recorded or synthesised words of one split, padded to one length.

    audio: float32 [W, L], each word at RMS 1, zero after its length;
    lengths: int32 [W]; positive: bool [W] (the trigger word); texts, speakers:
    W strings (what was said, by which voice or file); backgrounds: float32
    [G, num_samples] user background beds at RMS 1 (G may be 0).
    """

    audio: np.ndarray
    lengths: np.ndarray
    positive: np.ndarray
    texts: tuple[str, ...]
    speakers: tuple[str, ...]
    backgrounds: np.ndarray
    sample_rate: int

    @classmethod
    def from_words(cls, words: Sequence[np.ndarray], positive: Sequence[bool],
                   texts: Sequence[str], speakers: Sequence[str], *, sample_rate: int,
                   num_samples: int, max_seconds: float = 1.5,
                   backgrounds: Sequence[np.ndarray] = ()) -> "WordBank":
        """Pads `words` (float [n_i] each) into a bank; backgrounds are tiled or cut
        to `num_samples`. Words longer than max_seconds are cut to it; silent words
        are refused."""
        if not len(words):
            raise DataError("a word bank needs at least one word")
        limit = int(max_seconds * sample_rate)
        words = [np.asarray(w, np.float32)[:limit] for w in words]
        longest = max(len(w) for w in words)
        audio = np.zeros((len(words), longest), np.float32)
        for i, w in enumerate(words):
            rms = float(np.sqrt(np.mean(np.square(w)))) if len(w) else 0.0
            if rms <= 1e-6:
                raise DataError(f"word {i} ({texts[i]!r} by {speakers[i]}) is silent")
            audio[i, :len(w)] = w / rms
        beds = np.zeros((len(backgrounds), num_samples), np.float32)
        for i, b in enumerate(backgrounds):
            b = np.asarray(b, np.float32)
            if not len(b):
                raise DataError(f"background {i} is empty")
            b = np.tile(b, -(-num_samples // len(b)))[:num_samples]
            rms = float(np.sqrt(np.mean(np.square(b))))
            if rms <= 1e-6:
                raise DataError(f"background {i} is silent")
            beds[i] = b / rms
        return cls(audio=audio, lengths=np.array([len(w) for w in words], np.int32),
                   positive=np.asarray(positive, bool), texts=tuple(texts),
                   speakers=tuple(speakers), backgrounds=beds, sample_rate=sample_rate)

    def __len__(self) -> int:
        return len(self.lengths)

    @property
    def positives(self) -> np.ndarray:
        return np.flatnonzero(self.positive)

    @property
    def negatives(self) -> np.ndarray:
        return np.flatnonzero(~self.positive)

    def check(self, spec: ClipSpec) -> None:
        """Refuses a bank that cannot fill clips of `spec`."""
        if self.sample_rate != spec.sample_rate:
            raise DataError(f"the word bank is at {self.sample_rate} Hz, clips at "
                            f"{spec.sample_rate} Hz")
        if spec.max_positives and not len(self.positives):
            raise DataError("the word bank has no trigger words (positives)")
        if (spec.max_negatives or "babble" in spec.kinds) and not len(self.negatives):
            raise DataError("the word bank has no negative words")
        if "file" in spec.kinds and not len(self.backgrounds):
            raise DataError("background kind 'file' needs background recordings")
        usable = spec.num_samples - int(spec.tail_seconds * spec.sample_rate)
        if int(self.lengths.max()) > usable:
            raise DataError(f"the longest word ({self.lengths.max()} samples) does not "
                            f"fit a clip of {spec.num_samples} samples")

    def arrays(self) -> dict:
        """The arrays `render_clips` reads, on the default device."""
        beds = self.backgrounds if len(self.backgrounds) else np.zeros((1, 1), np.float32)
        return {"words": jnp.asarray(self.audio), "backgrounds": jnp.asarray(beds)}


def _hand_over(settings: list, rng: np.random.Generator, fraction: float, family,
               missing: str) -> None:
    """Gives a `fraction` of the eSpeak settings in `settings` (drawn at random) to
    another voice family (a module with `available()` and `sample_settings(rng, n)`),
    in place; logs `missing` instead when the family is not installed."""
    if not fraction:
        return
    if not family.available():
        import logging
        logging.getLogger(__name__).warning(missing)
        return
    from jaxdl.tasks.trigger_word.voices import VoiceSetting
    free = [i for i, s in enumerate(settings) if isinstance(s, VoiceSetting)]
    chosen = [i for i, u in zip(free, rng.uniform(size=len(free))) if u < fraction]
    for i, setting in zip(chosen, family.sample_settings(rng, len(chosen))):
        settings[i] = setting


def speech_bank(split: str, *, trigger: str, negatives: Sequence[str], num_positive: int,
                num_negative: int, seed: int, sample_rate: int, num_samples: int,
                near_misses: Sequence[str] = (), near_miss_fraction: float = 0.0,
                speed: tuple[float, float] = (1.0, 1.0), pico_fraction: float = 0.0,
                flite_fraction: float = 0.0, max_seconds: float = 1.5,
                progress: bool = False) -> WordBank:
    """Words synthesised with eSpeak NG by the voices of `split` only.

    Voice settings (accent + variant) are split disjointly between train,
    validation and test (`speech.voice_pools(seed)`), so the test split hears voices
    never trained on; speed, pitch and pitch range are drawn per utterance.
    Negatives cycle through `negatives` so each word is said about equally often;
    with `near_misses`, a `near_miss_fraction` of the negative utterances cycle
    through those instead (hard negatives: words that sound like the trigger).
    `speed` (low, high): each utterance is also played at a speed factor drawn from
    it (`speed_perturb`: tempo, pitch and formants together, so a shorter or longer
    vocal tract); (1, 1) leaves the words as eSpeak says them. `pico_fraction`: this
    fraction of the utterances (drawn at random) is said by SVOX Pico's voices
    (`jaxdl.tasks.trigger_word.pico`; both of them, whatever the split) with their
    own random speed and pitch, instead of eSpeak (if Pico is not installed: a
    warning, and eSpeak says them all; the bank's speakers tell which voice said
    what). `flite_fraction`: likewise, a fraction of the utterances that Pico does not
    say is said by CMU Flite's voices of real speakers (`jaxdl.tasks.trigger_word.
    flite`, if a `flite` program is installed).
    """
    from jaxdl.tasks.trigger_word import voices as speech
    from jaxdl.data.generated import SPLIT_INDEX
    speech.check_vocabulary(trigger, negatives)
    pool = speech.voice_pools(seed)[split]
    rng = np.random.default_rng([seed, SPLIT_INDEX[split], 7])
    if not 0.0 <= near_miss_fraction <= 1.0 or (near_miss_fraction and not near_misses):
        raise ValueError("near_miss_fraction must be in [0, 1], with near_misses given")
    num_near = int(round(near_miss_fraction * num_negative))
    speech.check_vocabulary(trigger, tuple(near_misses))
    texts = ([trigger] * num_positive
             + [near_misses[i % len(near_misses)] for i in range(num_near)]
             + [negatives[i % len(negatives)] for i in range(num_negative - num_near)])
    settings = speech.sample_settings(rng, pool, len(texts))
    from jaxdl.tasks.trigger_word import flite, pico
    # Some utterances by SVOX Pico's voices instead, then some of the rest by CMU
    # Flite's (each drawn after the last, so turning one on moves nothing before it).
    for family, fraction, missing in (
            (pico, pico_fraction, "SVOX Pico is not installed (pip install ttspico, or "
                                  "jaxdl[voices])"),
            (flite, flite_fraction, "CMU Flite is not installed (apt install flite, ...)")):
        _hand_over(settings, rng, fraction, family, f"{missing}: the {split} words it "
                   "would say are spoken by the other voices")
    audio = speech.synthesize_many(texts, settings, sample_rate, progress=progress,
                                   desc=f"speech ({split})")
    if tuple(speed) != (1.0, 1.0):
        factors = rng.uniform(speed[0], speed[1], len(audio))
        audio = [speed_perturb(a, f) for a, f in zip(audio, factors)]
    return WordBank.from_words(audio, [t == trigger for t in texts], texts,
                               [s.name for s in settings], sample_rate=sample_rate,
                               num_samples=num_samples, max_seconds=max_seconds)


def speed_perturb(audio: np.ndarray, factor: float) -> np.ndarray:
    """`audio` played `factor` times faster (1.1: 10% shorter, pitch and formants 10%
    higher), by polyphase resampling; the factor is rounded to 1/100."""
    from jaxdl.data.audio_files import resample
    hundredths = int(round(float(factor) * 100))
    if hundredths <= 0:
        raise ValueError(f"speed factor must be positive, got {factor}")
    if hundredths == 100:
        return np.asarray(audio, np.float32)
    return resample(audio, hundredths, 100)


# -- layouts (host) -----------------------------------------------------------------
def _place(rng: np.random.Generator, length: int, usable: int, taken: list, gap: int,
           tries: int) -> int | None:
    """A random start for a word of `length` samples in [0, usable) that keeps `gap`
    samples from every interval in `taken`; None after `tries` failures."""
    if length > usable:
        return None
    for _ in range(tries):
        start = int(rng.integers(0, usable - length + 1))
        end = start + length
        if all(end + gap <= s or start >= e + gap for s, e in taken):
            return start
    return None


def sample_layout(rng: np.random.Generator, bank: WordBank, spec: ClipSpec) -> dict:
    """One clip's random layout: fixed-size numpy arrays (see `render_clips`).

    Like the course: 0..max_positives trigger words, then 0..max_negatives other
    words, each at a random position that overlaps nothing placed before (a word
    that finds no room in `placement_tries` tries is left out).
    """
    k, n = spec.slots, spec.num_samples
    usable = n - int(spec.tail_seconds * spec.sample_rate)
    gap = int(spec.min_gap_seconds * spec.sample_rate)
    word = np.zeros(k, np.int32)
    start = np.zeros(k, np.int32)
    active = np.zeros(k, bool)
    positive = np.zeros(k, bool)
    n_pos = int(rng.integers(0, spec.max_positives + 1))
    n_neg = int(rng.integers(0, spec.max_negatives + 1))
    taken: list[tuple[int, int]] = []
    choices = [(True, i) for i in range(n_pos)] + [(False, spec.max_positives + i)
                                                  for i in range(n_neg)]
    for is_pos, slot in choices:
        w = int(rng.choice(bank.positives if is_pos else bank.negatives))
        s = _place(rng, int(bank.lengths[w]), usable, taken, gap, spec.placement_tries)
        if s is None:
            continue
        taken.append((s, s + int(bank.lengths[w])))
        word[slot], start[slot], active[slot], positive[slot] = w, s, True, is_pos
    lo, hi = spec.word_db
    gain = np.where(active, 10.0 ** (rng.uniform(lo, hi, k) / 20.0), 0.0).astype(np.float32)
    kind = BACKGROUND_KINDS.index(spec.kinds[int(rng.integers(len(spec.kinds)))])
    babble_word = (rng.choice(bank.negatives, spec.babble_words).astype(np.int32)
                   if len(bank.negatives) else np.zeros(spec.babble_words, np.int32))
    babble_start = rng.integers(0, max(n - int(bank.lengths.max()), 1),
                                spec.babble_words).astype(np.int32)
    babble_gain = (10.0 ** (rng.uniform(-10.0, 0.0, spec.babble_words) / 20.0)).astype(np.float32)
    return {
        "word": word, "start": start, "end": start + bank.lengths[word] * active,
        "active": active, "positive": positive, "gain": gain,
        "background": np.int32(kind),
        "background_gain": np.float32(10.0 ** (rng.uniform(*spec.background_db) / 20.0)),
        "background_file": np.int32(rng.integers(max(len(bank.backgrounds), 1))),
        "babble_word": babble_word, "babble_start": babble_start,
        "babble_gain": babble_gain,
        "noise_seed": np.uint32(rng.integers(0, 2**32, dtype=np.uint64)),
        # drawn last, so the fields above do not depend on the room settings
        **_room_layout(rng, spec),
    }


def _room_layout(rng: np.random.Generator, spec: ClipSpec) -> dict:
    """The room and microphone of one clip (see ClipSpec)."""
    room, rt60, drr, lowpass, cutoff, eq = rng.uniform(size=6)
    lo, hi = spec.rt60
    return {
        "room": np.bool_(room < spec.room_probability),
        "rt60": np.float32(lo + (hi - lo) * rt60),
        "drr_db": np.float32(spec.drr_db[0] + (spec.drr_db[1] - spec.drr_db[0]) * drr),
        "lowpass": np.bool_(lowpass < spec.lowpass_probability),
        "lowpass_hz": np.float32(spec.lowpass_hz[0]
                                 + (spec.lowpass_hz[1] - spec.lowpass_hz[0]) * cutoff),
        "eq_db": np.float32(spec.eq_db if eq < spec.eq_probability else 0.0),
    }


@dataclasses.dataclass
class ClipLayouts:
    """`len(self)` clips of one split; `self[i]` is clip i's layout, drawn from
    `default_rng([seed, split index, i])`, so any clip is reproducible alone."""

    bank: WordBank
    spec: ClipSpec
    seed: int
    split: str
    size: int

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, i: int) -> dict:
        from jaxdl.data.generated import SPLIT_INDEX
        if not 0 <= int(i) < self.size:
            raise IndexError(f"clip {i} of {self.size}")
        rng = np.random.default_rng([self.seed, SPLIT_INDEX[self.split], int(i)])
        return dict(sample_layout(rng, self.bank, self.spec), index=np.int64(i))


def stack(source, indices) -> dict:
    """Clips `indices` of a random-access source as one batch: {key: [B, ...]}."""
    items = [source[int(i)] for i in indices]
    return {k: np.stack([x[k] for x in items]) for k in items[0]}


def segments(layout: dict, sample_rate: int) -> list[tuple[float, float, bool, int]]:
    """(start s, end s, is trigger word, bank index) of each word in one layout,
    in time order."""
    out = [(float(s) / sample_rate, float(e) / sample_rate, bool(p), int(w))
           for s, e, p, w, a in zip(layout["start"], layout["end"], layout["positive"],
                                    layout["word"], layout["active"]) if a]
    return sorted(out)


# What render_clips reads from a layout.
_LAYOUT_KEYS = ("word", "start", "gain", "background", "background_gain",
                "background_file", "babble_word", "babble_start", "babble_gain",
                "noise_seed", "room", "rt60", "drr_db", "lowpass", "lowpass_hz", "eq_db")
RIR_SECONDS = 0.5   # simulated impulse responses are cut here (-37 dB at rt60 0.8 s)


# -- rendering (pure JAX) -------------------------------------------------------------
def _unit_rms(x: jax.Array) -> jax.Array:
    return x / jnp.sqrt(jnp.mean(jnp.square(x)) + 1e-12)


def _coloured_noise(key: jax.Array, n: int, exponent: float) -> jax.Array:
    """Noise with power spectrum ~ 1 / f**exponent (0 white, 1 pink, 2 brown)."""
    spectrum = jnp.fft.rfft(jax.random.normal(key, (n,)))
    f = jnp.arange(spectrum.shape[0], dtype=jnp.float32)
    scale = jnp.maximum(f, 1.0) ** (-exponent / 2.0)
    return _unit_rms(jnp.fft.irfft(spectrum * scale, n))


def _hum(key: jax.Array, n: int, sample_rate: int) -> jax.Array:
    """Mains hum: 50 or 60 Hz and five harmonics with random amplitudes and phases,
    plus a little white noise."""
    k_f, k_a, k_p, k_n = jax.random.split(key, 4)
    base = jnp.where(jax.random.bernoulli(k_f), 50.0, 60.0)
    harmonics = jnp.arange(1, 7, dtype=jnp.float32)
    amps = jax.random.uniform(k_a, (6,), minval=0.2, maxval=1.0) / harmonics
    phases = jax.random.uniform(k_p, (6,), maxval=2 * jnp.pi)
    t = jnp.arange(n, dtype=jnp.float32) / sample_rate
    tone = jnp.sum(amps[:, None] * jnp.sin(2 * jnp.pi * base * harmonics[:, None] * t
                                           + phases[:, None]), axis=0)
    return _unit_rms(_unit_rms(tone) + 0.05 * jax.random.normal(k_n, (n,)))


def _add_words(audio: jax.Array, words: jax.Array, index: jax.Array, start: jax.Array,
               gain: jax.Array) -> jax.Array:
    """audio [n] plus gain[k] * words[index[k]] starting at start[k], for every k."""
    n, length = audio.shape[0], words.shape[1]
    padded = jnp.concatenate([audio, jnp.zeros((length,), audio.dtype)])

    def add(buf, args):
        i, s, g = args
        seg = jax.lax.dynamic_slice(buf, (s,), (length,)) + g * words[i]
        return jax.lax.dynamic_update_slice(buf, seg, (s,)), None

    padded, _ = jax.lax.scan(add, padded, (index, start, gain))
    return padded[:n]


def room_response(key: jax.Array, rt60: jax.Array, drr_db: jax.Array, length: int,
                  sample_rate: int) -> jax.Array:
    """A simulated room impulse response float32 [length]: the direct sound (1 at
    t = 0) and a diffuse tail of Gaussian noise decaying by 60 dB in `rt60` seconds
    (Polack's statistical model), starting 2.5 ms later, scaled so that the direct
    sound's energy is `drr_db` above the tail's."""
    t = jnp.arange(length, dtype=jnp.float32) / sample_rate
    tail = jax.random.normal(key, (length,)) * jnp.exp(-3.0 * jnp.log(10.0) * t / rt60)
    tail = jnp.where(t >= 0.0025, tail, 0.0)
    tail = tail * jnp.sqrt(10.0 ** (-drr_db / 10.0) / (jnp.sum(jnp.square(tail)) + 1e-12))
    return tail.at[0].add(1.0)


def lowpass_mask(num_bins: int, fft_length: int, cutoff_hz: jax.Array,
                 sample_rate: int, transition_hz: float = 300.0) -> jax.Array:
    """A real-FFT gain [num_bins]: 1 below cutoff_hz, a raised-cosine fall to 0 over
    `transition_hz` above it."""
    f = jnp.arange(num_bins, dtype=jnp.float32) * sample_rate / fft_length
    x = jnp.clip((f - cutoff_hz) / transition_hz, 0.0, 1.0)
    return 0.5 * (1.0 + jnp.cos(jnp.pi * x))


def eq_curve(key: jax.Array, num_bins: int, fft_length: int, max_db: jax.Array,
             sample_rate: int, bands: int = 6) -> jax.Array:
    """A random smooth gain [num_bins]: `bands` raised-cosine bumps spaced evenly
    in log frequency from 50 Hz to Nyquist, each with a gain uniform in
    [-max_db, max_db] dB (0 dB for max_db = 0)."""
    f = jnp.maximum(jnp.arange(num_bins, dtype=jnp.float32) * sample_rate / fft_length, 50.0)
    x = jnp.log(f / 50.0) / jnp.log(sample_rate / 100.0) * (bands - 1)   # 0 .. bands-1
    db = jax.random.uniform(key, (bands,), minval=-1.0, maxval=1.0) * max_db
    weights = jnp.clip(1.0 - jnp.abs(x[:, None] - jnp.arange(bands)), 0.0, 1.0)
    return 10.0 ** (weights @ db / 20.0)


def apply_room(speech: jax.Array, key: jax.Array, layout: dict, sample_rate: int
               ) -> jax.Array:
    """`speech` [n] through the clip's room (if layout["room"]), microphone
    low-pass (if layout["lowpass"]) and colouring (layout["eq_db"], 0 = none), at
    its own RMS: one FFT convolution."""
    n = speech.shape[0]
    length = int(RIR_SECONDS * sample_rate)
    size = n + length
    spectrum = jnp.fft.rfft(speech, size)
    rir = room_response(key, layout["rt60"], layout["drr_db"], length, sample_rate)
    gain = jnp.where(layout["room"], jnp.fft.rfft(rir, size), 1.0)
    if "eq_db" in layout:
        gain = gain * eq_curve(jax.random.fold_in(key, 1), spectrum.shape[0], size,
                               layout["eq_db"], sample_rate)
    gain = gain * jnp.where(layout["lowpass"],
                            lowpass_mask(spectrum.shape[0], size, layout["lowpass_hz"],
                                         sample_rate), 1.0)
    out = jnp.fft.irfft(spectrum * gain, size)[:n]
    level = jnp.sqrt(jnp.mean(jnp.square(speech)) / (jnp.mean(jnp.square(out)) + 1e-12))
    return (out * level).astype(speech.dtype)


def render_clip(layout: dict, words: jax.Array, backgrounds: jax.Array,
                spec: ClipSpec) -> jax.Array:
    """One clip's audio, float32 [spec.num_samples], from its layout (see
    `sample_layout`), words [W, L] and user backgrounds [G, num_samples] (any
    shape if kind 'file' is not used). Pure."""
    n = spec.num_samples
    key = jax.random.key(layout["noise_seed"])

    def babble(k):
        bed = _add_words(jnp.zeros((n,)), words, layout["babble_word"],
                         layout["babble_start"], layout["babble_gain"])
        return _unit_rms(bed + 0.1 * _coloured_noise(k, n, 1.0))

    def user(k):
        if backgrounds.shape[-1] != n:
            return jnp.zeros((n,))
        return backgrounds[layout["background_file"]]

    beds = [lambda k: _coloured_noise(k, n, 0.0), lambda k: _coloured_noise(k, n, 1.0),
            lambda k: _coloured_noise(k, n, 2.0), lambda k: _hum(k, n, spec.sample_rate),
            babble, user]
    assert len(beds) == len(BACKGROUND_KINDS)
    # Only the clip's own kind is computed (lax.switch, one clip at a time).
    room_key = jax.random.fold_in(key, 1)
    bed = jax.lax.switch(layout["background"], beds, key) * layout["background_gain"]
    speech = _add_words(jnp.zeros((n,)), words, layout["word"], layout["start"],
                        layout["gain"])
    if "room" in layout:    # the words through a room and microphone (see ClipSpec)
        coloured = layout["room"] | layout["lowpass"]
        if "eq_db" in layout:
            coloured = coloured | (layout["eq_db"] > 0)
        speech = jax.lax.cond(coloured,
                              lambda s: apply_room(s, room_key, layout, spec.sample_rate),
                              lambda s: s, speech)
    mix = bed + speech
    target = 10.0 ** (spec.target_dbfs / 20.0)
    return (mix * (target / jnp.sqrt(jnp.mean(jnp.square(mix)) + 1e-12))).astype(jnp.float32)


@functools.partial(jax.jit, static_argnames=("spec",))
def render_clips(layouts: dict, words: jax.Array, backgrounds: jax.Array,
                 spec: ClipSpec) -> jax.Array:
    """`render_clip` over a batch of layouts (every array with a leading axis B):
    float32 [B, num_samples].

    A `lax.map`, not a vmap: one clip at a time, each computes only its own
    background and inserts its words in place (under vmap, the switch would
    compute every kind and the insertions would become scatters: 4x slower on CPU).
    """
    return jax.lax.map(lambda l: render_clip(l, words, backgrounds, spec),
                       {k: v for k, v in layouts.items() if k in _LAYOUT_KEYS})


def end_steps(end_samples, num_samples: int, num_steps: int):
    """The output step at which a word ending at sample `end` ends: the course's
    floor(end * Ty / n)."""
    return jnp.asarray(end_samples) * num_steps // num_samples


def clip_labels(end: jax.Array, positive: jax.Array, active: jax.Array, *,
                num_samples: int, num_steps: int, label_steps: int) -> jax.Array:
    """Per-step targets float32 [..., num_steps]: 1 for the `label_steps` steps after
    each active positive ends (steps e+1 .. e+label_steps, e = its end step), as the
    course labels them; 0 elsewhere. end, positive, active: [..., K]."""
    e = end_steps(end, num_samples, num_steps)[..., None]              # [..., K, 1]
    t = jnp.arange(num_steps)
    on = (t > e) & (t <= e + label_steps) & (positive & active)[..., None]
    return jnp.any(on, axis=-2).astype(jnp.float32)


# -- model batches ------------------------------------------------------------------
@dataclasses.dataclass
class BatchMaker:
    """Clips (layouts or stored audio) -> the model's batch: normalised log
    spectrograms `inputs` [B, Tx, F], per-step `labels` [B, Ty], and the words'
    positions; a pure jitted function of the batch and the split's word bank."""

    bank: WordBank | None   # None: every batch carries its audio
    spec: ClipSpec
    features: FeatureSpec
    num_steps: int
    mean: np.ndarray | None = None
    std: np.ndarray | None = None

    def __post_init__(self):
        self._arrays = self.bank.arrays() if self.bank is not None else None

    def audio(self, batch: dict) -> jax.Array:
        if "audio" in batch:
            return jnp.asarray(batch["audio"])
        if self._arrays is None:
            raise ValueError("clips without audio need a word bank to render them")
        return render_clips(batch, self._arrays["words"],
                                         self._arrays["backgrounds"], self.spec)

    def labels(self, batch: dict) -> jax.Array:
        """Per-step targets [B, Ty] of a batch (see `clip_labels`)."""
        return clip_labels(jnp.asarray(batch["end"]), jnp.asarray(batch["positive"]),
                           jnp.asarray(batch["active"]), num_samples=self.spec.num_samples,
                           num_steps=self.num_steps, label_steps=self.spec.label_steps)

    def __call__(self, batch: dict) -> dict:
        x = spectrogram(self.audio(batch), self.features, self.mean, self.std)
        y = self.labels(batch)
        out = {"inputs": np.asarray(x), "labels": np.asarray(y)}
        for k in ("id", "mask", "start", "end", "positive", "active", "word", "index"):
            if k in batch:
                out[k] = np.asarray(batch[k])
        return out


@dataclasses.dataclass
class CachedBatches:
    """A BatchMaker's inputs and labels computed once for every clip of a source, so
    that training on a frozen, costly front end (the speech embedding) pays for it
    once per clip instead of once per step. Called on a batch of layouts (which
    carry their clip `index`), it returns what the BatchMaker would, by lookup.

    inputs float32 [C, Tx, F], labels float32 [C, Ty], for clips 0..C-1.
    """

    inputs: np.ndarray
    labels: np.ndarray

    def __call__(self, batch: dict) -> dict:
        index = np.asarray(batch["index"])
        out = {"inputs": self.inputs[index], "labels": self.labels[index]}
        for k in ("id", "mask", "start", "end", "positive", "active", "word", "index"):
            if k in batch:
                out[k] = np.asarray(batch[k])
        return out


def cache_batches(maker: BatchMaker, source, *, batch_size: int = 32,
                  progress: bool = False, desc: str = "features") -> CachedBatches:
    """Every clip of `source` through `maker` once (in order, `batch_size` at a time)."""
    from tqdm.auto import tqdm
    n = len(source)
    inputs = labels = None
    with tqdm(total=n, desc=desc, unit="clip", disable=not progress) as bar:
        for lo in range(0, n, batch_size):
            b = maker(stack(source, range(lo, min(n, lo + batch_size))))
            if inputs is None:
                inputs = np.empty((n,) + b["inputs"].shape[1:], np.float32)
                labels = np.empty((n,) + b["labels"].shape[1:], np.float32)
            inputs[lo:lo + len(b["inputs"])] = b["inputs"]
            labels[lo:lo + len(b["labels"])] = b["labels"]
            bar.update(len(b["inputs"]))
    return CachedBatches(inputs, labels)


@functools.partial(jax.jit, static_argnames=("features",))
def spectrogram(audio, features: FeatureSpec, mean=None, std=None):
    """Log spectrogram [..., Tx, F] of audio [..., N], normalised per bin if mean
    and std are given."""
    x = features(audio)
    return x if mean is None else (x - mean) / std


def feature_stats(maker: BatchMaker, source, n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Per-bin mean and std of the log spectrogram over the first n training clips."""
    batch = stack(source, range(min(n, len(source))))
    x = np.asarray(spectrogram(maker.audio(batch), maker.features))
    return x.mean(axis=(0, 1)), np.maximum(x.std(axis=(0, 1)), 1e-3)


def trigger_spans(batch: dict, sample_rate: int) -> list[list[tuple[float, float]]]:
    """Per clip of a batch of layouts, the (start, end) seconds of its trigger words."""
    return [[(s, e) for s, e, p, _ in segments({k: v[i] for k, v in batch.items()},
                                               sample_rate) if p]
            for i in range(len(batch["start"]))]
