"""The synthesised trigger-word clips as a TFDS dataset, prepared once on disk.

Each split's words are synthesised by that split's voices only
(`trigger_word.speech_bank`); clip i of a split has the layout
`ClipLayouts(bank, spec, seed, split, size)[i]` and is rendered with
`render_clips`, so a stored clip equals the on-the-fly clip i up to int16
quantisation. Written as `array_record`, read with `as_data_source` (no
TensorFlow needed).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from typing import Sequence

import jax
import numpy as np
import tensorflow_datasets as tfds

from jaxdl.data.generated import SPLIT_INDEX, prepare_builder
from jaxdl.tasks.trigger_word.voices import NEGATIVE_WORDS, TRIGGER_WORD
from jaxdl.tasks.trigger_word.generator import ClipLayouts, ClipSpec, render_clips, speech_bank

RENDER_CHUNK = 64
INT16_SCALE = 32767.0

# ClipSpec fields a config stores (label_steps only shapes the targets, which are
# computed from the stored segments, so it is not part of the dataset).
SPEC_FIELDS = tuple(f.name for f in dataclasses.fields(ClipSpec) if f.name != "label_steps")
_SPEC = ClipSpec()  # the defaults below are ClipSpec's


@dataclasses.dataclass
class TriggerWordClipsConfig(tfds.core.BuilderConfig):
    """Split sizes, generator seed, vocabulary, word-bank sizes and the mixing spec.

    num_positive_words / num_negative_words: words synthesised per split (the
    validation and test banks have the same sizes as the train bank).
    """

    train_size: int = 4000
    validation_size: int = 500
    test_size: int = 500
    seed: int = 0
    trigger: str = TRIGGER_WORD
    negatives: tuple[str, ...] = NEGATIVE_WORDS
    num_positive_words: int = 200
    num_negative_words: int = 400
    max_word_seconds: float = 1.5
    sample_rate: int = _SPEC.sample_rate
    seconds: float = _SPEC.seconds
    max_positives: int = _SPEC.max_positives
    max_negatives: int = _SPEC.max_negatives
    word_db: tuple[float, float] = _SPEC.word_db
    background_db: tuple[float, float] = _SPEC.background_db
    target_dbfs: float = _SPEC.target_dbfs
    min_gap_seconds: float = _SPEC.min_gap_seconds
    tail_seconds: float = _SPEC.tail_seconds
    babble_words: int = _SPEC.babble_words
    kinds: tuple[str, ...] = _SPEC.kinds
    placement_tries: int = _SPEC.placement_tries
    room_probability: float = _SPEC.room_probability
    rt60: tuple[float, float] = _SPEC.rt60
    drr_db: tuple[float, float] = _SPEC.drr_db
    lowpass_probability: float = _SPEC.lowpass_probability
    lowpass_hz: tuple[float, float] = _SPEC.lowpass_hz
    eq_probability: float = _SPEC.eq_probability
    eq_db: float = _SPEC.eq_db

    @property
    def spec(self) -> ClipSpec:
        """The ClipSpec the clips are rendered with."""
        return ClipSpec(**{f: getattr(self, f) for f in SPEC_FIELDS})

    @property
    def sizes(self) -> dict[str, int]:
        return {"train": self.train_size, "validation": self.validation_size,
                "test": self.test_size}


# The fields of a config (besides TFDS's own), with their defaults.
CONFIG_FIELDS = {f.name: f.default for f in dataclasses.fields(TriggerWordClipsConfig)
                 if f.name not in {g.name for g in dataclasses.fields(tfds.core.BuilderConfig)}}


def _normalise(fields: dict) -> dict:
    """Fields with canonical types (tuples, ints, floats), unknown names refused."""
    unknown = set(fields) - set(CONFIG_FIELDS)
    if unknown:
        raise TypeError(f"unknown trigger-word dataset field(s) {sorted(unknown)}; "
                        f"known: {sorted(CONFIG_FIELDS)}")
    out = dict(CONFIG_FIELDS, **fields)
    for name in ("word_db", "background_db", "rt60", "drr_db", "lowpass_hz"):
        out[name] = tuple(float(x) for x in out[name])
    out["negatives"] = tuple(str(w) for w in out["negatives"])
    out["kinds"] = tuple(str(k) for k in out["kinds"])
    for name in ("seconds", "target_dbfs", "min_gap_seconds", "tail_seconds",
                 "max_word_seconds", "room_probability", "lowpass_probability",
                 "eq_probability", "eq_db"):
        out[name] = float(out[name])
    for name in ("train_size", "validation_size", "test_size", "seed", "num_positive_words",
                 "num_negative_words", "sample_rate", "max_positives", "max_negatives",
                 "babble_words", "placement_tries"):
        out[name] = int(out[name])
    return out


def builder_config(**fields) -> TriggerWordClipsConfig:
    """A named config from keyword fields (see TriggerWordClipsConfig; missing ones
    take their defaults). The name holds the sizes, seed, trigger and clip length
    readably, plus a short sha1 of every field, so each variant is prepared once
    in its own folder and reused.

    Raises ValueError for an invalid spec or vocabulary, or for kind "file"
    (synthesised banks have no background recordings).
    """
    from jaxdl.tasks.trigger_word.voices import check_vocabulary
    f = _normalise(fields)
    check_vocabulary(f["trigger"], f["negatives"])
    spec = ClipSpec(**{k: f[k] for k in SPEC_FIELDS})        # validates the spec
    if "file" in spec.kinds:
        raise ValueError("background kind 'file' needs recordings; synthesised word "
                         "banks have none")
    for name in ("train_size", "validation_size", "test_size"):
        if f[name] < 0:
            raise ValueError(f"{name} must be >= 0, got {f[name]}")
    if f["max_positives"] and f["num_positive_words"] < 1:
        raise ValueError("num_positive_words must be >= 1 when clips hold trigger words")
    if f["num_negative_words"] < 1:
        raise ValueError("num_negative_words must be >= 1")
    digest = hashlib.sha1(json.dumps(f, sort_keys=True).encode("utf-8")).hexdigest()[:10]
    trigger = re.sub(r"[^A-Za-z0-9]", "", f["trigger"])[:20] or "word"
    seconds = f"{f['seconds']:g}".replace(".", "p")
    name = (f"{f['train_size']}-{f['validation_size']}-{f['test_size']}-{trigger}-"
            f"{seconds}s-{f['sample_rate']}hz-w{f['num_positive_words']}-"
            f"{f['num_negative_words']}-seed{f['seed']}-{digest}")
    return TriggerWordClipsConfig(name=name, **f)


def _stack(layouts: Sequence[dict]) -> dict:
    return {k: np.stack([l[k] for l in layouts]) for k in layouts[0]}


def to_int16(clips: np.ndarray) -> np.ndarray:
    """float clips [..., N] -> int16 [..., N]: round(clip * 32767) after clipping
    to [-1, 1]."""
    return np.rint(np.clip(np.asarray(clips, np.float64), -1.0, 1.0)
                   * INT16_SCALE).astype(np.int16)


class TriggerWordClips(tfds.core.GeneratorBasedBuilder):
    """Synthesised trigger-word clips: audio int16 [N], the word segments [K]."""

    VERSION = tfds.core.Version("1.0.0")
    BUILDER_CONFIGS = [builder_config()]

    def _info(self) -> tfds.core.DatasetInfo:
        c = self.builder_config
        spec = c.spec
        k = spec.slots
        return tfds.core.DatasetInfo(
            builder=self,
            description=("Synthesised trigger-word clips (jaxdl.tasks.trigger_word.generator): "
                         f"{spec.seconds:g} s at {spec.sample_rate} Hz, trigger "
                         f"{c.trigger!r}; int16 audio = round(clip * 32767); start / end "
                         "in samples, word = index into the split's word bank."),
            features=tfds.features.FeaturesDict({
                "audio": tfds.features.Tensor(shape=(spec.num_samples,), dtype=np.int16),
                "start": tfds.features.Tensor(shape=(k,), dtype=np.int32),
                "end": tfds.features.Tensor(shape=(k,), dtype=np.int32),
                "positive": tfds.features.Tensor(shape=(k,), dtype=np.bool_),
                "active": tfds.features.Tensor(shape=(k,), dtype=np.bool_),
                "word": tfds.features.Tensor(shape=(k,), dtype=np.int32),
                "index": tfds.features.Tensor(shape=(), dtype=np.int64),
            }),
            disable_shuffling=True)  # stored in key order: source[i] is clip i

    def _split_generators(self, dl_manager):
        del dl_manager  # nothing is downloaded
        return {split: self._generate_examples(split, n)
                for split, n in self.builder_config.sizes.items()}

    def _generate_examples(self, split: str, n: int):
        if n == 0:
            return
        layouts = split_layouts(self.builder_config, split)
        spec = layouts.spec
        arrays = layouts.bank.arrays()
        for lo in range(0, n, RENDER_CHUNK):
            chunk = [layouts[i] for i in range(lo, min(n, lo + RENDER_CHUNK))]
            audio = to_int16(jax.device_get(render_clips(_stack(chunk), arrays["words"],
                                                         arrays["backgrounds"], spec)))
            for j, layout in enumerate(chunk):
                i = lo + j
                yield i, {"audio": audio[j],
                          "start": layout["start"].astype(np.int32),
                          "end": layout["end"].astype(np.int32),
                          "positive": layout["positive"].astype(bool),
                          "active": layout["active"].astype(bool),
                          "word": layout["word"].astype(np.int32),
                          "index": np.int64(i)}


def split_bank(config: TriggerWordClipsConfig, split: str):
    """The word bank of `split` for `config` (synthesised; deterministic)."""
    spec = config.spec
    bank = speech_bank(split, trigger=config.trigger, negatives=config.negatives,
                       num_positive=config.num_positive_words,
                       num_negative=config.num_negative_words, seed=config.seed,
                       sample_rate=spec.sample_rate, num_samples=spec.num_samples,
                       max_seconds=config.max_word_seconds)
    bank.check(spec)
    return bank


def split_layouts(config: TriggerWordClipsConfig, split: str) -> ClipLayouts:
    """The on-the-fly layouts of `split` that the stored clips were rendered from:
    `ClipLayouts(split_bank(config, split), config.spec, config.seed, split, size)`."""
    if split not in SPLIT_INDEX:
        raise ValueError(f"unknown split {split!r}; expected one of {tuple(SPLIT_INDEX)}")
    return ClipLayouts(split_bank(config, split), config.spec, config.seed, split,
                       config.sizes[split])


def prepare(*, data_dir: str | None = None, **fields):
    """Generates the dataset for the config of `fields` (see
    TriggerWordClipsConfig; e.g. train_size=..., seconds=...) on disk once;
    later calls reuse the files. Returns its builder."""
    return prepare_builder(TriggerWordClips, builder_config(**fields), data_dir)


@dataclasses.dataclass
class ClipSource:
    """A prepared split as a random-access source of float clips.

    `source[i]` -> {"audio": float32 [N] (int16 / 32767), "start", "end": int32
    [K] (samples), "positive", "active": bool [K], "word": int32 [K] (index into
    the split's word bank), "index": int64}.
    """

    source: object

    def __len__(self) -> int:
        return len(self.source)

    @staticmethod
    def _convert(item: dict) -> dict:
        out = {k: np.asarray(v) for k, v in item.items()}
        out["audio"] = out["audio"].astype(np.float32) / np.float32(INT16_SCALE)
        return out

    def __getitem__(self, i: int) -> dict:
        if not -len(self) <= int(i) < len(self):
            raise IndexError(f"clip {i} of {len(self)}")
        return self._convert(self.source[int(i) % len(self)])

    def __getitems__(self, indices: Sequence[int]) -> list[dict]:
        if hasattr(self.source, "__getitems__"):
            return [self._convert(x) for x in self.source.__getitems__(list(indices))]
        return [self[i] for i in indices]


def load_splits(*, data_dir: str | None = None, **fields) -> dict[str, ClipSource]:
    """{"train", "validation", "test"} -> ClipSource of the prepared dataset for
    the config of `fields` (prepared first if needed; same arguments as
    `prepare`)."""
    builder = prepare(data_dir=data_dir, **fields)
    sources = builder.as_data_source()
    return {split: ClipSource(sources[split]) for split in SPLIT_INDEX}
