"""Where a trigger-word run's words and clips come from.

- `load_banks`: the word banks of a run's config (`data.words`: eSpeak NG voices,
  wav folders or TFDS `speech_commands`), one per split; `clip_sources`: the
  random-access clips of each split (layouts rendered on the fly, or clips stored
  once as a TFDS dataset); `write_labelled_clips`: clips as wav + JSON files.

- `folder_bank`: a user's wav folders (positives = the trigger word said many
  times, negatives = other words, optional background recordings), each file
  assigned to train / validation / test by a stable hash of its path.
- `speech_commands_bank`: TFDS `speech_commands` (16 kHz, 1 s int16 clips of
  yes/no/up/down/... plus "_silence_" and "_unknown_"), using its own
  speaker-disjoint splits; the silence clips become background beds.

The two real-recording banks return a `jaxdl.tasks.trigger_word.generator.WordBank` (host numpy), ready for
`ClipLayouts` and `render_clips`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from jaxdl.data.audio_files import (AudioError, list_audio_files, load_audio, resample,
                                    write_wav)
from jaxdl.data.generated import SPLIT_INDEX
from jaxdl.data.sources import DataError, tfds_source
from jaxdl.tasks.trigger_word import generator
from jaxdl.tasks.trigger_word.generator import ClipSpec, WordBank
from jaxdl.tasks.trigger_word.voices import trim_silence
from jaxdl.workdir import write_json

log = logging.getLogger(__name__)

SPLITS = tuple(SPLIT_INDEX)
SPEECH_COMMANDS_RATE = 16000
MAX_BACKGROUND_BEDS = 20


def _check_split(split: str) -> None:
    if split not in SPLIT_INDEX:
        raise DataError(f"unknown split {split!r}; expected one of {SPLITS}")


def _check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    fractions = tuple(float(f) for f in fractions)
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"fractions must be three non-negative numbers (train, "
                         f"validation, test) summing to 1, got {fractions}")
    return fractions


def hash_split(relative_path: str, seed: int,
               fractions: Sequence[float] = (0.7, 0.15, 0.15)) -> str:
    """The split ("train", "validation" or "test") of a file, from the sha1 of
    `seed` and its path relative to its folder (posix form).

    Stable: it depends on nothing else, so adding or removing other files never
    moves a file to another split (unlike a shuffled, cut list).
    """
    fractions = _check_fractions(fractions)
    digest = hashlib.sha1(f"{int(seed)}:{relative_path}".encode("utf-8")).digest()
    u = int.from_bytes(digest[:8], "big") / 2.0 ** 64          # uniform in [0, 1)
    edges = np.cumsum(fractions)
    for split, edge in zip(SPLITS, edges):
        if u < edge:
            return split
    return SPLITS[-1]


def audio_files(folder, role: str, where: str = "") -> list[Path]:
    """The audio files under `folder` (recursively, sorted); DataError naming the
    `role` folder (and `where`) if it is missing or holds none."""
    root, where = Path(folder), f" ({where})" if where else ""
    if not root.is_dir():
        raise DataError(f"{role} folder {str(folder)!r} does not exist{where}")
    try:
        return list_audio_files(root)
    except AudioError as e:
        raise DataError(f"{role} folder {str(folder)!r}{where}: {e.problem}") from None


def _split_files(folder: str, role: str, split: str, seed: int,
                 fractions) -> list[tuple[Path, str]]:
    """(path, relative posix path) of the wav files of `folder` in `split`."""
    root = Path(folder)
    files = audio_files(folder, role, f"split {split!r}")
    out = []
    for path in files:
        rel = path.relative_to(root).as_posix()
        if hash_split(rel, seed, fractions) == split:
            out.append((path, rel))
    return out


def _load(path: Path, sample_rate: int, skipped: list[str], *,
          trim: bool) -> np.ndarray | None:
    """Mono float32 [N] at sample_rate (trimmed if `trim`), or None when the file
    cannot be read or holds only silence (logged and appended to `skipped`)."""
    try:
        audio = load_audio(path, sample_rate)
    except AudioError as e:
        reason = e.problem
    else:
        if trim:
            audio = trim_silence(audio, sample_rate)
        if len(audio) and float(np.sqrt(np.mean(np.square(audio)))) > 1e-6:
            return audio
        reason = "silent (nothing left after trimming silence)"
    log.warning("skipping %s: %s", path, reason)
    skipped.append(f"{path}: {reason}")
    return None


def folder_bank(split: str, *, positives: str, negatives: str, backgrounds: str = "",
                trigger: str, sample_rate: int, num_samples: int, seed: int,
                fractions: Sequence[float] = (0.7, 0.15, 0.15),
                max_seconds: float = 1.5) -> tuple[WordBank, list[str]]:
    """The `split` word bank from wav folders, and the files skipped.

    Every .wav under `positives` (the trigger word), `negatives` (other words)
    and, if given, `backgrounds` (noise recordings) is searched recursively and
    assigned to a split by `hash_split(path relative to its folder, seed,
    fractions)`, so splits are disjoint and stable as files are added. Words
    are read as mono at `sample_rate` (mixed down, resampled) and trimmed of
    leading / trailing silence; words longer than `max_seconds` are cut.
    Backgrounds are used whole (tiled or cut to `num_samples` by
    `WordBank.from_words`); a split may get none of them.

    texts: `trigger` for positives, the file stem for negatives; speakers: the
    path relative to its folder. Returns (bank, skipped) where skipped lists
    "path: reason" for each unreadable or silent file (also logged).

    Raises DataError when a folder is missing or has no wav files, or when the
    split is left without positives or negatives.
    """
    _check_split(split)
    if not isinstance(trigger, str) or not trigger.strip():
        raise DataError(f"the trigger word must be a non-empty string, got {trigger!r}")
    skipped: list[str] = []
    words, is_pos, texts, speakers = [], [], [], []
    for role, folder in (("positives", positives), ("negatives", negatives)):
        found = 0
        for path, rel in _split_files(folder, role, split, seed, fractions):
            audio = _load(path, sample_rate, skipped, trim=True)
            if audio is None:
                continue
            found += 1
            words.append(audio)
            is_pos.append(role == "positives")
            texts.append(trigger if role == "positives" else path.stem)
            speakers.append(rel)
        if not found:
            raise DataError(f"the {split!r} split has no readable {role}: no usable wav "
                            f"file of folder {folder!r} hashes to it (seed {seed}, "
                            f"fractions {tuple(fractions)}); add more files")
    beds = []
    if backgrounds:
        for path, _ in _split_files(backgrounds, "backgrounds", split, seed, fractions):
            audio = _load(path, sample_rate, skipped, trim=False)
            if audio is not None:
                beds.append(audio)
    bank = WordBank.from_words(words, is_pos, texts, speakers, sample_rate=sample_rate,
                               num_samples=num_samples, max_seconds=max_seconds,
                               backgrounds=beds)
    return bank, skipped


def _subsample(indices: Sequence[int], limit: int, rng: np.random.Generator) -> list[int]:
    """At most `limit` of `indices`, chosen at random, in ascending order."""
    indices = np.asarray(indices, np.int64)
    if len(indices) > limit:
        indices = np.sort(rng.choice(indices, limit, replace=False))
    return [int(i) for i in indices]


def _read(source, indices: Sequence[int], key: str, chunk: int = 256) -> list:
    """source[i][key] for each index, read in chunks (`__getitems__` when the
    source has it)."""
    out = []
    for lo in range(0, len(indices), chunk):
        part = [int(i) for i in indices[lo:lo + chunk]]
        items = (source.__getitems__(part) if hasattr(source, "__getitems__")
                 else [source[i] for i in part])
        out.extend(np.asarray(item[key]) for item in items)
    return out


def speech_commands_bank(split: str, *, trigger: str, tfds_name: str = "speech_commands",
                         data_dir: str | None = None, sample_rate: int, num_samples: int,
                         max_words: int = 2000, seed: int, audio_key: str = "audio",
                         label_key: str = "label", silence_label: str = "_silence_",
                         max_seconds: float = 1.5) -> WordBank:
    """The `split` word bank from a prepared TFDS `speech_commands` dataset.

    Uses the dataset's own (speaker-disjoint) train / validation / test splits.
    Positives: clips whose label name is `trigger`; negatives: every other label
    but `silence_label` (texts = the label names, "_unknown_" included);
    backgrounds: the silence clips concatenated, in a seeded order, into up to
    20 beds of `num_samples`. Audio int16 [16000] -> float / 32768, resampled to
    `sample_rate`, words trimmed of silence; at most `max_words` positives and
    `max_words` negatives, subsampled with a seeded generator. Speakers are
    "<tfds_name>/<split>/<index>" (the dataset has no speaker ids).

    Raises DatasetNotPreparedError when the dataset is not on disk, DataError
    when `trigger` is not a label (listing the labels) or the split has no
    positives or negatives.
    """
    _check_split(split)
    if max_words < 1:
        raise ValueError(f"max_words must be >= 1, got {max_words}")
    source = tfds_source(tfds_name, split, data_dir)
    import tensorflow_datasets as tfds  # heavy import, kept at the edge
    names = list(tfds.builder(tfds_name, data_dir=data_dir).info.features[label_key].names)
    if trigger not in names:
        raise DataError(f"trigger {trigger!r} is not a label of TFDS {tfds_name!r}; "
                        f"available labels: {names}")
    pos_label, silence = names.index(trigger), (names.index(silence_label)
                                                if silence_label in names else -1)
    labels = np.array([int(x) for x in _read(source, range(len(source)), label_key)],
                      np.int64)
    rng = np.random.default_rng([seed, SPLIT_INDEX[split], 11])
    pos_idx = _subsample(np.flatnonzero(labels == pos_label), max_words, rng)
    neg_idx = _subsample(np.flatnonzero((labels != pos_label) & (labels != silence)),
                         max_words, rng)
    for role, idx in (("positives", pos_idx), ("negatives", neg_idx)):
        if not idx:
            raise DataError(f"split {split!r} of TFDS {tfds_name!r} has no {role} for "
                            f"trigger {trigger!r}")

    def to_float(clip: np.ndarray) -> np.ndarray:
        audio = np.asarray(clip, np.float32).reshape(-1) / 32768.0
        return resample(audio, SPEECH_COMMANDS_RATE, sample_rate)

    words, is_pos, texts, speakers = [], [], [], []
    chosen = [(i, True) for i in pos_idx] + [(i, False) for i in neg_idx]
    clips = _read(source, [i for i, _ in chosen], audio_key)
    for (i, positive), clip in zip(chosen, clips):
        word = trim_silence(to_float(clip), sample_rate)
        if not len(word) or float(np.sqrt(np.mean(np.square(word)))) <= 1e-6:
            log.warning("skipping silent clip %d of %s/%s", i, tfds_name, split)
            continue
        words.append(word)
        is_pos.append(positive)
        texts.append(names[labels[i]])
        speakers.append(f"{tfds_name}/{split}/{i}")
    if not any(is_pos) or all(is_pos):
        raise DataError(f"split {split!r} of TFDS {tfds_name!r}: every "
                        f"{'positive' if not any(is_pos) else 'negative'} clip is silent")

    beds = []
    silence_idx = np.flatnonzero(labels == silence)
    if len(silence_idx):
        # Clips are 1 s: read enough for MAX_BACKGROUND_BEDS beds, then concatenate
        # them in order into beds of num_samples (a short last group is dropped,
        # unless it is the only one: WordBank.from_words tiles it).
        per_bed = max(1, -(-num_samples // sample_rate))
        order = rng.permutation(silence_idx)[:MAX_BACKGROUND_BEDS * per_bed]
        group: list[np.ndarray] = []
        for clip in _read(source, order, audio_key):
            piece = to_float(clip)
            if float(np.sqrt(np.mean(np.square(piece)))) <= 1e-6:
                continue
            group.append(piece)
            if sum(len(p) for p in group) >= num_samples:
                beds.append(np.concatenate(group)[:num_samples])
                group = []
        if group and not beds:
            beds.append(np.concatenate(group))
    return WordBank.from_words(words, is_pos, texts, speakers, sample_rate=sample_rate,
                               num_samples=num_samples, max_seconds=max_seconds,
                               backgrounds=beds)


def own_split(files: Sequence[Path], root: Path, seed: int) -> dict[str, list[Path]]:
    """A few recordings split for training: ordered by a hash of (seed, path), then
    15% (at least 1) to validation, 15% (at least 1) to test, the rest (at least 1)
    to train. Needs 3 files."""
    if len(files) < 3:
        raise DataError(f"{root}: {len(files)} recording(s) of the trigger word; give at "
                        "least 3 (one each for train, validation and test), 10 or more "
                        "to train on")
    order = sorted(files, key=lambda p: hashlib.sha1(
        f"{int(seed)}:{p.relative_to(root).as_posix()}".encode()).hexdigest())
    n = len(order)
    n_val = n_test = max(1, round(0.15 * n))
    return {"validation": order[:n_val], "test": order[n_val:n_val + n_test],
            "train": order[n_val + n_test:]}


def own_trigger_bank(split: str, data, *, sample_rate: int, num_samples: int,
                     progress: bool = False) -> tuple[WordBank, list[str]]:
    """The trigger word from your recordings (`data.positives_dir`, split by
    `own_split`), every other word synthesised as in the eSpeak banks. In the
    training bank each recording appears `data.positive_repeats` times, each time
    played at another speed drawn from `data.speed` ((0.9, 1.1) if that is (1, 1)),
    so a few recordings weigh as much as the synthesised words."""
    _check_split(split)
    root = Path(data.positives_dir)
    files = audio_files(root, "positives")
    skipped: list[str] = []
    mine = [a for a in (_load(p, sample_rate, skipped, trim=True)
                        for p in own_split(files, root, data.voice_seed)[split])
            if a is not None]
    if not mine:
        raise DataError(f"no readable recording of the trigger word for the {split!r} split")
    train = split == "train"
    others = generator.speech_bank(
        split, trigger=data.trigger, negatives=tuple(data.negatives), num_positive=0,
        num_negative=data.train_negative_words if train else data.eval_negative_words,
        near_misses=tuple(data.near_misses),
        near_miss_fraction=data.near_miss_fraction if train else 0.0,
        speed=tuple(data.get("speed", (1.0, 1.0))), seed=data.voice_seed,
        pico_fraction=data.get("pico_fraction", 0.0) if train else 0.0,
        flite_fraction=data.get("flite_fraction", 0.0) if train else 0.0,
        sample_rate=sample_rate, num_samples=num_samples, progress=progress)
    if train:
        lo, hi = tuple(data.get("speed", (1.0, 1.0)))
        lo, hi = (0.9, 1.1) if (lo, hi) == (1.0, 1.0) else (lo, hi)
        rng = np.random.default_rng([data.voice_seed, 11])
        mine = [generator.speed_perturb(a, f) for a in mine
                for f in rng.uniform(lo, hi, int(data.get("positive_repeats", 20)))]
    words = mine + [others.audio[i, :others.lengths[i]] for i in range(len(others))]
    return WordBank.from_words(
        words, [True] * len(mine) + [False] * len(others), [data.trigger] * len(mine)
        + list(others.texts), ["yours"] * len(mine) + list(others.speakers),
        sample_rate=sample_rate, num_samples=num_samples), skipped


# -- a run's banks and clips ---------------------------------------------------------
def load_banks(data, spec: ClipSpec, *, progress: bool = True, splits=SPLITS
               ) -> tuple[dict, str, list]:
    """(split -> WordBank, a description, skipped files) for a run's `data` config
    group, by `data.words`: "espeak" (synthesised for `splits` only, voices disjoint
    between splits), "folders" or "speech_commands" (every split)."""
    common = dict(sample_rate=spec.sample_rate, num_samples=spec.num_samples)
    banks, skipped = {}, []
    if data.words == "espeak" and data.positives_dir:
        for split in splits:
            banks[split], bad = own_trigger_bank(split, data, progress=progress, **common)
            skipped += bad
        return banks, (f"your trigger words from {data.positives_dir}, other words by "
                       "eSpeak NG"), skipped
    if data.words == "espeak":
        for split in splits:
            train = split == "train"
            banks[split] = generator.speech_bank(
                split, trigger=data.trigger, negatives=tuple(data.negatives),
                num_positive=data.train_positive_words if train else data.eval_positive_words,
                num_negative=data.train_negative_words if train else data.eval_negative_words,
                # hard negatives for training only: validation and test hear every
                # word equally often
                near_misses=tuple(data.near_misses),
                near_miss_fraction=data.near_miss_fraction if train else 0.0,
                speed=tuple(data.get("speed", (1.0, 1.0))),
                pico_fraction=data.get("pico_fraction", 0.0) if train else 0.0,
                flite_fraction=data.get("flite_fraction", 0.0) if train else 0.0,
                seed=data.voice_seed, progress=progress, **common)
        return banks, "eSpeak NG words, voices disjoint between splits", skipped
    if data.words == "folders":
        for split in SPLITS:
            banks[split], bad = folder_bank(
                split, positives=data.positives_dir, negatives=data.negatives_dir,
                backgrounds=data.backgrounds_dir, trigger=data.trigger,
                seed=data.voice_seed, **common)
            skipped += bad
        return banks, f"wav folders {data.positives_dir}, {data.negatives_dir}", skipped
    if data.words == "speech_commands":
        for split in SPLITS:
            banks[split] = speech_commands_bank(
                split, trigger=data.trigger, tfds_name=data.tfds_name,
                data_dir=data.data_dir or None, seed=data.voice_seed, **common)
        return banks, f"TFDS {data.tfds_name} words", skipped
    raise DataError(f"unknown data.words {data.words!r}; expected espeak, folders or "
                    "speech_commands")


def clip_sources(data, spec, banks: dict, train_clips: int, seed: int) -> dict:
    """split -> random-access clips: layouts rendered on the fly from `banks`, or
    clips stored once as a TFDS dataset (data.storage = "tfds"; banks unused).
    `spec`: one ClipSpec, or split -> ClipSpec (stored clips use the test split's
    for every split)."""
    specs = spec if isinstance(spec, dict) else dict.fromkeys(SPLITS, spec)
    spec = specs["test"]
    sizes = {"train": train_clips, "validation": data.validation_clips,
             "test": data.test_clips}
    if data.storage == "tfds":
        from jaxdl.tasks.trigger_word import dataset
        return dataset.load_splits(
            data_dir=data.data_dir or None, train_size=sizes["train"],
            validation_size=sizes["validation"], test_size=sizes["test"], seed=seed,
            trigger=data.trigger, negatives=tuple(data.negatives),
            num_positive_words=data.train_positive_words,
            num_negative_words=data.train_negative_words,
            **{f: getattr(spec, f) for f in dataset.SPEC_FIELDS})
    return {split: generator.ClipLayouts(banks[split], specs[split], seed, split,
                                         sizes[split]) for split in SPLITS}


@dataclasses.dataclass
class RunData:
    """What a training run reads: the word banks (split -> WordBank, None for stored
    clips), a description of the words and the files skipped; each split's clips and
    BatchMaker (normalised by the training features' per-bin mean and std); and the
    training batches' maker (cached features when `data.cache_train_features`)."""

    banks: dict
    description: str
    skipped: list
    clips: dict
    makers: dict
    mean: np.ndarray
    std: np.ndarray
    train_maker: object


def prepare_run_data(config, spec: ClipSpec, features, num_steps: int, *,
                     progress: bool = True) -> RunData:
    """A run's RunData from its config (`data`, `clip`, `train`, `eval` groups);
    `spec` (the training clips') checks the banks, each split's clips use its own
    (`generator.clip_spec(config, split)`)."""
    import jax.numpy as jnp
    data = config.data
    train_clips = data.train_clips or config.train.steps * config.train.batch_size
    if data.storage == "tfds":
        banks, description, skipped = dict.fromkeys(SPLITS), "stored eSpeak NG clips", []
    else:
        banks, description, skipped = load_banks(data, spec, progress=progress)
        for split, bank in banks.items():
            bank.check(spec)
            log.info("%s words: %d trigger, %d other (%s)", split, len(bank.positives),
                     len(bank.negatives), description)
    specs = {s: generator.clip_spec(config, s) for s in SPLITS}
    clips = clip_sources(data, specs, banks, train_clips, config.seed)
    makers = {s: generator.BatchMaker(banks[s], specs[s], features, num_steps)
              for s in SPLITS}
    mean, std = generator.feature_stats(makers["train"], clips["train"])
    for m in makers.values():
        m.mean, m.std = jnp.asarray(mean), jnp.asarray(std)
    train_maker = makers["train"]
    if data.get("cache_train_features"):      # a frozen front end: once per clip
        train_maker = generator.cache_batches(train_maker, clips["train"],
                                              batch_size=config.eval.batch_size,
                                              progress=progress, desc="train features")
    return RunData(banks, description, skipped, clips, makers, mean, std, train_maker)


def write_labelled_clips(maker: generator.BatchMaker, seed: int, split: str, n: int,
                         out_dir: str | Path, description: str, chunk: int = 32
                         ) -> list[Path]:
    """Renders clips 0..n-1 of `split` (layouts from `seed`) and writes each as
    clip_K.wav and clip_K.json: its words (text, speaker, trigger or not, start and
    end in seconds), background kind and labelled output steps. Returns the wavs."""
    bank, spec, out_dir = maker.bank, maker.spec, Path(out_dir)
    layouts = generator.ClipLayouts(bank, spec, seed, split, n)
    written = []
    for start in range(0, n, chunk):
        idx = range(start, min(start + chunk, n))
        batch = generator.stack(layouts, idx)
        audio = np.asarray(maker.audio(batch))
        labels = np.asarray(maker.labels(batch))
        for j, i in enumerate(idx):
            layout = {k: v[j] for k, v in batch.items()}
            wav = out_dir / f"clip_{i:04d}.wav"
            write_wav(wav, np.clip(audio[j], -1, 1), spec.sample_rate)
            words = [{"word": bank.texts[w], "speaker": bank.speakers[w], "trigger": p,
                      "start": round(s, 4), "end": round(e, 4)}
                     for s, e, p, w in generator.segments(layout, spec.sample_rate)]
            background = generator.BACKGROUND_KINDS[int(layout["background"])]
            write_json(out_dir / f"clip_{i:04d}.json", {
                "wav": wav.name, "sample_rate": spec.sample_rate, "seconds": spec.seconds,
                "split": split, "words": words, "background": background,
                "label_steps": spec.label_steps, "output_steps": int(labels.shape[1]),
                "labelled_steps": np.flatnonzero(labels[j]).tolist(),
                "source": description})
            written.append(wav)
    return written
