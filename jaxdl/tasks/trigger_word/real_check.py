"""The real-voice check: how a detector trained on synthesised words hears people.

A model can score F1 0.99 on its own synthesised test set and still not hear a
human saying the word. This check measures the transfer on real recordings: it
builds 10-second clips the way the course builds them, but from a folder of real
word recordings (a real trigger word inserted at known times, real other words as
distractors and as babble), over noise beds at fixed signal-to-noise ratios, and
scores the run's chime rule on them (event precision, recall, F1, false accepts per
hour, false-reject rate), per SNR and pooled.

The folder holds one recording per word, labelled either by sub-folder
(`folder/seven/*.wav`, `folder/other/*.wav`) or by file name up to the first
underscore (`7_george_0.wav`, the Free Spoken Digit Dataset's naming). The
trigger is given by its label (`"7"`); every other label is a distractor.

Each clip is a pure function of (seed, SNR, index), like every clip here: the
same folder and seed give the same clips and the same numbers.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path
from typing import Sequence

import numpy as np

from jaxdl.data.audio_files import AudioError, load_audio
from jaxdl.data.sources import DataError
from jaxdl.tasks.trigger_word import events
from jaxdl.tasks.trigger_word.generator import BACKGROUND_KINDS, ClipLayouts, ClipSpec, WordBank

log = logging.getLogger(__name__)

DEFAULT_SNRS = (20.0, 10.0, 5.0)
# The pooled sweep's thresholds (the run's own is scored as well, per SNR).
CURVE_THRESHOLDS = tuple(np.round(np.linspace(0.05, 0.95, 19), 2).tolist())
NOISE_KINDS = ("white", "pink", "brown", "hum", "babble")


def word_label(path: Path, root: Path) -> str:
    """A recording's label: its sub-folder under `root`, else its file name up to the
    first underscore (the whole stem if it has none)."""
    rel = path.relative_to(root)
    if len(rel.parts) > 1:
        return rel.parts[0]
    return path.stem.split("_", 1)[0]


def load_recordings(folder: str | Path, sample_rate: int
                    ) -> tuple[dict[str, list[tuple[str, np.ndarray]]], list[str]]:
    """label -> [(path, mono float32 audio at sample_rate)], and the files skipped
    ("path: reason": unreadable or silent). Raises DataError for a missing or empty
    folder."""
    from jaxdl.tasks.trigger_word.sources import audio_files
    root = Path(folder)
    files = audio_files(root, "word")
    words: dict[str, list[tuple[str, np.ndarray]]] = {}
    skipped = []
    for path in files:
        try:
            audio = load_audio(path, sample_rate)
        except AudioError as e:
            skipped.append(f"{path}: {e.problem}")
            continue
        if not len(audio) or float(np.sqrt(np.mean(np.square(audio)))) <= 1e-6:
            skipped.append(f"{path}: silent")
            continue
        words.setdefault(word_label(path, root), []).append((str(path), audio))
    for line in skipped:
        log.warning("skipping %s", line)
    return words, skipped


def real_bank(recordings: dict[str, list[tuple[str, np.ndarray]]], trigger: str, *,
              sample_rate: int, num_samples: int, max_seconds: float = 1.5) -> WordBank:
    """A WordBank of real recordings: label `trigger` positive, every other label a
    distractor. Raises DataError when either side is empty."""
    if trigger not in recordings:
        raise DataError(f"no recordings labelled {trigger!r}; labels found: "
                        f"{', '.join(sorted(recordings)) or 'none'}")
    others = sorted(label for label in recordings if label != trigger)
    if not others:
        raise DataError(f"only {trigger!r} recordings: the check needs other words too")
    words, positive, texts, speakers = [], [], [], []
    for label in [trigger] + others:
        for path, audio in recordings[label]:
            words.append(audio)
            positive.append(label == trigger)
            texts.append(label)
            speakers.append(path)
    return WordBank.from_words(words, positive, texts, speakers, sample_rate=sample_rate,
                               num_samples=num_samples, max_seconds=max_seconds)


def check_spec(spec: ClipSpec, snr_db: float, max_negatives: int = 4) -> ClipSpec:
    """The run's clip spec, with every word at one level `snr_db` above a generated
    noise bed (white, pink, brown, hum or babble of the real distractors), up to
    `max_negatives` real distractors per clip, and no simulated room or microphone
    (the recordings have their own)."""
    kinds = tuple(k for k in NOISE_KINDS if k in BACKGROUND_KINDS)
    return dataclasses.replace(spec, word_db=(0.0, 0.0), background_db=(-snr_db, -snr_db),
                               max_negatives=max_negatives, kinds=kinds,
                               room_probability=0.0, lowpass_probability=0.0,
                               eq_probability=0.0)


def check_sources(bank: WordBank, spec: ClipSpec, *, snrs: Sequence[float] = DEFAULT_SNRS,
                  clips_per_snr: int = 100, seed: int = 0,
                  max_negatives: int = 4) -> list[tuple[float, ClipLayouts]]:
    """(SNR, clips) for each SNR: `clips_per_snr` clips each, drawn from
    (seed + SNR index, "test", i)."""
    if clips_per_snr < 1:
        raise ValueError(f"clips_per_snr must be at least 1, got {clips_per_snr}")
    if not snrs:
        raise ValueError("give at least one SNR")
    out = []
    for i, snr in enumerate(snrs):
        s = check_spec(spec, float(snr), max_negatives)
        bank.check(s)
        out.append((float(snr), ClipLayouts(bank, s, seed + 1000 * i, "test", clips_per_snr)))
    return out


def evaluate(state, sources: list[tuple[float, ClipLayouts]], features, num_steps: int,
             mean, std, eval_config, *, batch_size: int = 50) -> dict:
    """The run's chime rule on each SNR's clips and on all of them pooled:
    {"snr_20": metrics, ..., "all": metrics}, each metrics dict as
    `detection.event_scores` gives it, plus its clip and trigger-word counts."""
    from jaxdl.tasks.trigger_word import detection
    from jaxdl.tasks.trigger_word.generator import BatchMaker
    results, all_preds = {}, []
    for snr, clips in sources:
        maker = BatchMaker(clips.bank, clips.spec, features, num_steps, mean, std)
        pred = detection.predict_clips(state, clips, maker, batch_size)
        scores, _ = detection.event_scores(eval_config, clips.spec, pred)
        results[f"snr_{snr:g}"] = {**scores, "clips": len(clips)}
        all_preds.append(pred)
    both = {"probs": np.concatenate([p["probs"] for p in all_preds]),
            "truths": [t for p in all_preds for t in p["truths"]]}
    spec = sources[0][1].spec
    scores, _ = detection.event_scores(eval_config, spec, both)
    results["all"] = {**scores, "clips": len(both["truths"])}
    # Pooled, over a sweep of thresholds: what another operating point would give,
    # and the best one within the run's false-accept budget.
    curve = events.event_pr_curve(both["probs"], both["truths"], spec.seconds,
                                  CURVE_THRESHOLDS,
                                  **detection.event_rule(eval_config, spec,
                                                         both["probs"].shape[1]))
    results["curve"] = {k: np.asarray(v).tolist() for k, v in curve.items()}
    results["operating_point"] = operating_point(
        curve, eval_config.get("false_accepts_per_hour", 2.0))
    return results


def operating_point(curve: dict, max_false_accepts_per_hour: float) -> dict:
    """The threshold of `curve` with the best event F1 among those with at most
    `max_false_accepts_per_hour`: {"max_false_accepts_per_hour", "threshold",
    "event_f1", "event_recall", "false_accepts_per_hour"}; NaN values when no
    threshold keeps to the budget."""
    fah = np.asarray(curve["false_accepts_per_hour"], np.float64)
    f1 = np.asarray(curve["f1"], np.float64)
    ok = np.flatnonzero((fah <= max_false_accepts_per_hour) & ~np.isnan(f1))
    out = {"max_false_accepts_per_hour": float(max_false_accepts_per_hour)}
    if not ok.size:
        return out | dict.fromkeys(("threshold", "event_f1", "event_recall",
                                    "false_accepts_per_hour"), math.nan)
    i = ok[np.argmax(f1[ok])]
    return out | {"threshold": float(curve["threshold"][i]), "event_f1": float(f1[i]),
                  "event_recall": float(curve["recall"][i]),
                  "false_accepts_per_hour": float(fah[i])}


def check_folder(state, words_dir: str | Path, trigger: str, *, spec: ClipSpec, features,
                 num_steps: int, mean, std, eval_config, snrs: Sequence[float] = DEFAULT_SNRS,
                 clips_per_snr: int = 100, seed: int = 0) -> dict:
    """The whole check of a trained model on a folder of recordings: the labels'
    counts, the files skipped, and `evaluate`'s metrics per SNR and pooled."""
    recordings, skipped = load_recordings(words_dir, spec.sample_rate)
    bank = real_bank(recordings, trigger, sample_rate=spec.sample_rate,
                     num_samples=spec.num_samples)
    sources = check_sources(bank, spec, snrs=snrs, clips_per_snr=clips_per_snr, seed=seed)
    scores = evaluate(state, sources, features, num_steps, mean, std, eval_config,
                      batch_size=eval_config.batch_size)
    return {"words_dir": str(words_dir), "trigger": trigger,
            "recordings": {k: len(v) for k, v in sorted(recordings.items())},
            "skipped_files": skipped, "seed": seed, **scores}


def summary(results: dict) -> dict:
    """F1, recall and false accepts per hour per SNR and pooled, rounded: the line
    the `check` verb prints."""
    out = {f"{k}/{m}": round(results[k][m], 4) for k in results
           if k.startswith(("snr_", "all"))
           for m in ("event_f1", "event_recall", "false_accepts_per_hour")}
    point = results.get("operating_point")
    if point:
        out.update({f"best_within_budget/{k}": (v if math.isnan(v) else round(v, 4))
                    for k, v in point.items()})
    return out
