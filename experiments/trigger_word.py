"""Case study 4: trigger-word detection.

    python -m experiments.trigger_word --config configs/trigger_word.py --workdir DIR
    python -m experiments.trigger_word detect --workdir DIR CLIP.wav ... [--chime OUT_DIR]
    python -m experiments.trigger_word synthesize --out DIR --n N

The recipe: words (synthesised with eSpeak NG by voices split between train,
validation and test; or your recordings) -> 10 s clips with trigger words and other
words inserted into background noise, labelled 1 for 50 output steps after each
trigger word -> log spectrogram -> Conv1D + 2 GRU -> per-step sigmoid + binary
cross-entropy -> validation on event F1 -> test: frame metrics beside the all-zero
baseline, and events (the chime rule) matched to the true trigger words: precision,
recall, F1, false accepts per hour, false-reject rate -> plots and results.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import cli, losses, metrics, plots
from jaxdl.tasks.trigger_word import events
from jaxdl import config as config_lib
from jaxdl.audio import FeatureSpec
from jaxdl.data import pipeline
from jaxdl.tasks.trigger_word import generator as trigger_word
from jaxdl.data.audio_files import AudioError, load_audio, write_wav
from jaxdl.tasks.trigger_word.model import TriggerWordModel
from jaxdl.train import checkpoint, loop
from jaxdl.train.optim import OPTIMIZERS, SCHEDULES, make_optimizer
from jaxdl.train.parallel import STRATEGIES, Strategy
from jaxdl.train.state import TrainState, params_sha256
from jaxdl.train.steps import predict_step, train_step
from jaxdl.workdir import load_run_config, prepare_workdir, write_json

DEFAULT_CONFIG = "configs/trigger_word.py"
SPLITS = ("train", "validation", "test")
log = logging.getLogger("trigger_word")

CHOICES = {
    "data.words": ("espeak", "folders", "speech_commands"),
    "data.storage": ("on_the_fly", "tfds"),
    "optim.name": OPTIMIZERS,
    "optim.schedule": SCHEDULES,
    "train.parallel": STRATEGIES,
    "train.early_stopping.mode": ("max", "min"),
}


def check_config(config) -> None:
    """Refuses, before any work, values that are not among their choices."""
    config_lib.check_choices(config, CHOICES)
    if config.data.storage == "tfds" and config.data.words != "espeak":
        raise config_lib.ConfigError("data.storage='tfds' stores eSpeak clips; use "
                                     "data.storage='on_the_fly' with your own words")
    try:
        clip_spec(config), feature_spec(config)
        output_steps(config)
    except ValueError as e:
        raise config_lib.ConfigError(str(e)) from None


# -- what the config describes -----------------------------------------------------
def clip_spec(config) -> trigger_word.ClipSpec:
    c = config.clip
    return trigger_word.ClipSpec(
        sample_rate=c.sample_rate, seconds=c.seconds, max_positives=c.max_positives,
        max_negatives=c.max_negatives, label_steps=c.label_steps,
        word_db=tuple(c.word_db), background_db=tuple(c.background_db),
        target_dbfs=c.target_dbfs, kinds=tuple(c.kinds), babble_words=c.babble_words)


def feature_spec(config) -> FeatureSpec:
    f = config.features
    return FeatureSpec(sample_rate=config.clip.sample_rate, window_length=f.window_length,
                       hop=f.hop, nfft=f.nfft or None, mel_bins=f.mel_bins)


def build_model(config) -> TriggerWordModel:
    m = config.model
    return TriggerWordModel(conv_features=m.conv_features, kernel=m.kernel,
                            stride=m.stride, gru_features=tuple(m.gru_features),
                            dropout_rate=m.dropout_rate, unroll=m.get("unroll", 1))


def output_steps(config) -> int:
    """Ty, from the clip length, the spectrogram's window and hop, and the conv."""
    spec, features = clip_spec(config), feature_spec(config)
    return build_model(config).output_steps(features.num_frames(spec.num_samples))


def create_state(config, rng: jax.Array, total_steps: int) -> TrainState:
    features = feature_spec(config)
    frames = features.num_frames(clip_spec(config).num_samples)
    return TrainState.create(
        model=build_model(config), rng=rng,
        example_inputs=jnp.zeros((1, frames, features.num_bins), jnp.float32),
        tx=make_optimizer(config.optim, total_steps),
        objective=losses.per_step_binary_classification(config.train.positive_weight),
        l1=config.train.l1, l2=config.train.l2)


# -- data ---------------------------------------------------------------------------
def load_banks(config, *, progress: bool = True, splits=SPLITS) -> tuple[dict, str, list]:
    """(split -> WordBank, a description, skipped files) for config.data.words, for
    `splits` (eSpeak words: only those are synthesised)."""
    d, spec = config.data, clip_spec(config)
    common = dict(sample_rate=spec.sample_rate, num_samples=spec.num_samples)
    banks, skipped = {}, []
    if d.words == "espeak":
        for split in splits:
            train = split == "train"
            banks[split] = trigger_word.speech_bank(
                split, trigger=d.trigger, negatives=tuple(d.negatives),
                num_positive=d.train_positive_words if train else d.eval_positive_words,
                num_negative=d.train_negative_words if train else d.eval_negative_words,
                # hard negatives for training only: validation and test hear every
                # word equally often
                near_misses=tuple(d.near_misses),
                near_miss_fraction=d.near_miss_fraction if train else 0.0,
                seed=d.voice_seed, progress=progress, **common)
        return banks, "eSpeak NG words, voices disjoint between splits", skipped
    from jaxdl.tasks.trigger_word import sources
    if d.words == "folders":
        for split in SPLITS:
            banks[split], bad = sources.folder_bank(
                split, positives=d.positives_dir, negatives=d.negatives_dir,
                backgrounds=d.backgrounds_dir, trigger=d.trigger, seed=d.voice_seed,
                **common)
            skipped += bad
        return banks, f"wav folders {d.positives_dir}, {d.negatives_dir}", skipped
    for split in SPLITS:
        banks[split] = sources.speech_commands_bank(
            split, trigger=d.trigger, tfds_name=d.tfds_name, data_dir=d.data_dir or None,
            seed=d.voice_seed, **common)
    return banks, f"TFDS {d.tfds_name} words", skipped


def clip_sources(config, banks: dict, train_clips: int) -> dict:
    """split -> random-access clips: layouts rendered on the fly (from `banks`), or
    clips stored once as a TFDS dataset (data.storage = "tfds"; banks unused)."""
    d = config.data
    sizes = {"train": train_clips, "validation": d.validation_clips, "test": d.test_clips}
    if d.storage == "tfds":
        from jaxdl.tasks.trigger_word import dataset
        spec = clip_spec(config)
        return dataset.load_splits(
            data_dir=d.data_dir or None, train_size=sizes["train"],
            validation_size=sizes["validation"], test_size=sizes["test"], seed=config.seed,
            trigger=d.trigger, negatives=tuple(d.negatives),
            num_positive_words=d.train_positive_words,
            num_negative_words=d.train_negative_words,
            **{f: getattr(spec, f) for f in dataset.SPEC_FIELDS})
    return {split: trigger_word.ClipLayouts(banks[split], clip_spec(config), config.seed,
                                            split, sizes[split]) for split in SPLITS}


def predict_clips(state, source, maker: trigger_word.BatchMaker, batch_size: int) -> dict:
    """Logits, probabilities, labels and trigger words of every clip of `source`, in
    order: logits, probs, labels float32 [C, Ty]; truths: C lists of (start, end) s."""
    logits, probs, labels, truths = [], [], [], []
    batches = pipeline.evaluation_batches(source, global_batch_size=batch_size,
                                          transform=lambda ex: ex, process_index=0,
                                          process_count=1)
    for batch in batches:
        keep = np.asarray(batch["mask"]) > 0
        b = maker(batch)
        z, p = _predict(state, b["inputs"])
        logits.append(np.asarray(z)[keep])
        probs.append(np.asarray(p)[keep])
        labels.append(b["labels"][keep])
        truths += [t for t, k in zip(trigger_word.trigger_spans(b, maker.spec.sample_rate),
                                     keep) if k]
    return {"logits": np.concatenate(logits), "probs": np.concatenate(probs),
            "labels": np.concatenate(labels), "truths": truths}


@jax.jit
def _predict(state, inputs):
    """(logits, probabilities) [B, Ty]."""
    logits = predict_step(state, {"inputs": inputs})
    return logits, jax.nn.sigmoid(logits)


def event_rule(config, num_steps: int) -> dict:
    """The chime rule's min_consecutive and refractory, and the matching window:
    from match_slack before a trigger word ends to match_slack after its labels end."""
    e = config.eval
    label_seconds = config.clip.label_steps * config.clip.seconds / num_steps
    return {"min_consecutive": e.min_consecutive, "refractory": e.refractory,
            "before": e.match_slack, "after": label_seconds + e.match_slack}


def event_scores(config, predictions: dict) -> tuple[dict, list]:
    """Event metrics (the chime rule, matched to the true trigger words)."""
    probs = predictions["probs"]
    return events.evaluate_clips(probs, predictions["truths"], config.clip.seconds,
                                 threshold=config.eval.threshold,
                                 **event_rule(config, probs.shape[1]))


def frame_scores(predictions: dict, threshold: float) -> dict:
    labels = predictions["labels"].reshape(-1)
    m = metrics.binary_metrics(labels, predictions["probs"].reshape(-1), threshold)
    return {"frame_accuracy": float(m["accuracy"]), "frame_precision": float(m["precision"]),
            "frame_recall": float(m["recall"]), "frame_f1": float(m["f1"]),
            "all_zero_baseline_accuracy": float(1.0 - labels.mean())}


# -- train and evaluate -----------------------------------------------------------
def train_and_evaluate(config, workdir: str | Path, *, progress: bool = True) -> dict:
    """Runs the whole case study; writes everything into `workdir`; returns results
    (on process 0)."""
    check_config(config)
    strategy = Strategy(config.train.parallel)
    strategy.check_batch_size(config.train.batch_size)
    workdir = prepare_workdir(workdir, config)
    spec, features = clip_spec(config), feature_spec(config)
    num_steps = output_steps(config)
    batch_size, steps = config.train.batch_size, config.train.steps
    log.info("clips: %.1f s at %d Hz = %d samples -> %d spectrogram frames x %d bins -> "
             "%d output steps", spec.seconds, spec.sample_rate, spec.num_samples,
             features.num_frames(spec.num_samples), features.num_bins, num_steps)

    t0 = time.perf_counter()
    train_clips = config.data.train_clips or steps * batch_size
    if config.data.storage == "tfds":
        banks, description, skipped = dict.fromkeys(SPLITS), "stored eSpeak NG clips", []
    else:
        banks, description, skipped = load_banks(config, progress=progress)
        for split, bank in banks.items():
            bank.check(spec)
            log.info("%s words: %d trigger, %d other (%s)", split, len(bank.positives),
                     len(bank.negatives), description)
    sources = clip_sources(config, banks, train_clips)
    makers = {s: trigger_word.BatchMaker(banks[s], spec, features, num_steps) for s in SPLITS}
    mean, std = trigger_word.feature_stats(makers["train"], sources["train"])
    for m in makers.values():
        m.mean, m.std = jnp.asarray(mean), jnp.asarray(std)
    data_seconds = time.perf_counter() - t0

    epochs = -(-steps * batch_size // len(sources["train"]))
    train_batches = pipeline.training_batches(
        sources["train"], global_batch_size=batch_size, seed=config.seed,
        num_epochs=epochs, transform=lambda ex: ex)[:steps].map(makers["train"])
    rng = jax.random.key(config.seed)
    init_rng, step_rng = jax.random.split(rng)
    state = create_state(config, init_rng, steps)

    def validate(placed_state):
        host = strategy.unreplicate(placed_state)
        pred = predict_clips(host, sources["validation"], makers["validation"],
                             config.eval.batch_size)
        scores, _ = event_scores(config, pred)
        bce = float(np.mean(losses.sigmoid_binary_cross_entropy(pred["logits"],
                                                                pred["labels"])))
        return {"val/loss": bce, **{f"val/{k}": float(v) for k, v in scores.items()
                                    if k.startswith("event_") or k == "false_accepts_per_hour"}}

    fit = loop.fit(
        state, train_step=train_step, train_batches=train_batches,
        steps_per_epoch=config.train.eval_every, global_batch_size=batch_size,
        rng=step_rng, strategy=strategy, workdir=workdir, validate=validate,
        early_stopping=loop.EarlyStopping.from_config(config.train.early_stopping),
        log_every=config.train.log_every, progress=progress,
        meta={"normalization": {"mean": mean.tolist(), "std": std.tolist()}})
    if jax.process_index() != 0:
        return {}

    best, _ = checkpoint.restore_params(workdir / "checkpoints", fit.state, "best")
    t_eval = time.perf_counter()
    test_pred = predict_clips(best, sources["test"], makers["test"], config.eval.batch_size)
    test_events, detections = event_scores(config, test_pred)
    e = config.eval
    curve = events.event_pr_curve(
        test_pred["probs"], test_pred["truths"], config.clip.seconds,
        np.round(np.linspace(0.05, 0.95, 19), 2), **event_rule(config, num_steps))
    at_rate = events.false_reject_at_false_accepts(curve, e.false_accepts_per_hour)
    test = {**frame_scores(test_pred, e.threshold), **test_events}
    results = {
        "test": test,
        "test_operating_point": {
            "max_false_accepts_per_hour": e.false_accepts_per_hour,
            **{k: float(v) for k, v in at_rate.items()}},
        "train": {"steps": fit.steps, "seconds": round(fit.seconds, 3),
                  "examples_per_second": round(fit.examples_per_second, 1),
                  "final_loss": fit.final_loss, "params_sha256": params_sha256(fit.state.params),
                  "best_step": fit.best_step, "best_val_event_f1": fit.best_metric,
                  "best_params_sha256": params_sha256(best.params),
                  "data_seconds": round(data_seconds, 1),
                  "eval_seconds": round(time.perf_counter() - t_eval, 1)},
        "data": {"words": description, "skipped_files": skipped,
                 "test_clips": len(sources["test"]),
                 "test_hours": round(len(sources["test"]) * spec.seconds / 3600, 3),
                 "output_steps": num_steps,
                 "spectrogram_frames": features.num_frames(spec.num_samples),
                 "frequency_bins": features.num_bins,
                 **{f"{s}_words": {"trigger": int(len(b.positives)),
                                   "other": int(len(b.negatives))}
                    for s, b in banks.items() if b is not None}},
        "devices": {"strategy": strategy.name, "devices": strategy.num_devices,
                    "processes": jax.process_count(), "platform": jax.default_backend()},
        "config": config_lib.config_to_dict(config),
    }
    write_json(workdir / "results.json", results)
    write_json(workdir / "pr_curve.json", {k: np.asarray(v).tolist() for k, v in curve.items()})
    make_plots(workdir, config, sources["test"], makers["test"], test_pred, detections, curve)
    return results


def make_plots(workdir: Path, config, source, maker: trigger_word.BatchMaker, pred: dict,
               detections: list, curve: dict) -> None:
    from jaxdl.train.metric_writers import read_metrics
    out = workdir / "plots"
    plots.learning_curves(read_metrics(workdir / "metrics.jsonl"),
                          out / "learning_curves.png", title="Trigger word: learning curves")
    plots.precision_recall(curve, out / "precision_recall.png",
                           mark_threshold=config.eval.threshold,
                           title="Test events: precision vs recall over thresholds")
    n = min(config.eval.plot_clips, len(source))
    batch = trigger_word.stack(source, range(n))
    audio = np.asarray(maker.audio(batch))
    spec = maker.spec
    clips = []
    for i in range(n):
        layout = {k: v[i] for k, v in batch.items()}
        words = [(s, e, config.data.trigger if p else "other")
                 for s, e, p, _ in trigger_word.segments(layout, spec.sample_rate)]
        clips.append({"audio": audio[i], "sample_rate": spec.sample_rate,
                      "features": np.asarray(maker.features(audio[i])),
                      "labels": pred["labels"][i], "probs": pred["probs"][i],
                      "detections": detections[i], "truths": words,
                      "name": f"test clip {i}"})
    plots.trigger_word_clips(clips, out / "test_clips.png", threshold=config.eval.threshold,
                             trigger_words=(config.data.trigger,),
                             title="Test clips (unseen voices): truth and prediction")


# -- detect -----------------------------------------------------------------------
def chime(sample_rate: int, seconds: float = 0.35) -> np.ndarray:
    """A two-tone bell (880 + 1320 Hz, exponential decay), float32 [n]."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    tone = np.sin(2 * np.pi * 880 * t) + 0.6 * np.sin(2 * np.pi * 1320 * t)
    return (0.4 * tone * np.exp(-t / (seconds / 4))).astype(np.float32)


def detect_in_audio(state, audio: np.ndarray, config, mean, std) -> np.ndarray:
    """Detection times (seconds) in mono audio of any length at the clip rate.

    Shorter than a clip: zero-padded. Longer: cut into clip-long windows that overlap
    by half; a window's detections in its first quarter are left to the window
    before (which saw more context), and detections within the refractory time of
    one kept are dropped.
    """
    spec, features = clip_spec(config), feature_spec(config)
    n, e = spec.num_samples, config.eval
    hop = n // 2
    starts = list(range(0, max(len(audio) - n, 0) + 1, hop))
    if starts[-1] + n < len(audio):
        starts.append(starts[-1] + hop)
    windows = np.stack([np.pad(audio[s:s + n], (0, max(0, n - len(audio[s:s + n]))))
                        for s in starts]).astype(np.float32)
    x = trigger_word.spectrogram(jnp.asarray(windows), features, mean, std)
    probs = np.asarray(_predict(state, x)[1])
    fires = np.asarray(events.detect(probs, threshold=e.threshold,
                                     min_consecutive=e.min_consecutive,
                                     refractory=e.refractory))
    refractory_seconds = e.refractory * spec.seconds / probs.shape[1]
    found = []
    for w, s in enumerate(starts):
        for t in events.fired_times(fires[w], spec.seconds):
            if w > 0 and t < spec.seconds / 4:
                continue
            found.append(s / spec.sample_rate + t)
    kept: list[float] = []
    for t in sorted(found):
        if t < len(audio) / spec.sample_rate and (not kept or t - kept[-1] > refractory_seconds):
            kept.append(t)
    return np.asarray(kept)


def detect(workdir: str | Path, paths: list[str], *, chime_dir: str | None = None,
           out=sys.stdout) -> int:
    """Prints one JSON line per file; returns the exit code (1 if every file failed)."""
    workdir = Path(workdir)
    config = load_run_config(workdir)
    state, meta = checkpoint.restore_params(
        workdir / "checkpoints", create_state(config, jax.random.key(0), 1), "best")
    norm = meta["normalization"]
    mean, std = jnp.asarray(norm["mean"], jnp.float32), jnp.asarray(norm["std"], jnp.float32)
    rate = config.clip.sample_rate
    failures = 0
    for path in paths:
        try:
            audio = load_audio(path, rate)
        except AudioError as err:
            failures += 1
            print(json.dumps({"path": path, "error": str(err)}), file=out, flush=True)
            continue
        times = detect_in_audio(state, audio, config, mean, std)
        line = {"path": path, "detections": [round(float(t), 3) for t in times]}
        if chime_dir:
            bell = chime(rate)
            mixed = np.concatenate([audio, np.zeros(len(bell), np.float32)])
            for t in times:
                s = int(t * rate)
                mixed[s:s + len(bell)] += bell[:len(mixed) - s]
            target = Path(chime_dir) / f"{Path(path).stem}_chime.wav"
            write_wav(target, np.clip(mixed, -1, 1), rate)
            line["chime"] = str(target)
        print(json.dumps(line), file=out, flush=True)
    return 1 if paths and failures == len(paths) else 0


# -- synthesize --------------------------------------------------------------------
def synthesize(config, out_dir: str | Path, n: int, split: str = "test",
               *, progress: bool = True) -> list[Path]:
    """Writes n labelled clips of `split`: clip_K.wav and clip_K.json (its words)."""
    check_config(config)
    out_dir = Path(out_dir)
    banks, description, _ = load_banks(config, progress=progress)
    bank, spec = banks[split], clip_spec(config)
    bank.check(spec)
    layouts = trigger_word.ClipLayouts(bank, spec, config.seed, split, n)
    maker = trigger_word.BatchMaker(bank, spec, feature_spec(config), output_steps(config))
    written = []
    for start in range(0, n, 32):
        idx = range(start, min(start + 32, n))
        batch = trigger_word.stack(layouts, idx)
        audio = np.asarray(maker.audio(batch))
        labels = np.asarray(maker.labels(batch))
        for j, i in enumerate(idx):
            layout = {k: v[j] for k, v in batch.items()}
            wav = out_dir / f"clip_{i:04d}.wav"
            write_wav(wav, np.clip(audio[j], -1, 1), spec.sample_rate)
            words = [{"word": bank.texts[w], "speaker": bank.speakers[w], "trigger": p,
                      "start": round(s, 4), "end": round(e, 4)}
                     for s, e, p, w in trigger_word.segments(layout, spec.sample_rate)]
            background = trigger_word.BACKGROUND_KINDS[int(layout["background"])]
            write_json(out_dir / f"clip_{i:04d}.json", {
                "wav": wav.name, "sample_rate": spec.sample_rate, "seconds": spec.seconds,
                "split": split, "words": words, "background": background,
                "label_steps": spec.label_steps, "output_steps": int(labels.shape[1]),
                "labelled_steps": np.flatnonzero(labels[j]).tolist(),
                "source": description})
            written.append(wav)
    return written


# -- command line ------------------------------------------------------------------
def _train_args(p: argparse.ArgumentParser) -> None:
    """Train and evaluate (the default verb)."""
    cli.add_train_arguments(p, DEFAULT_CONFIG)


def _detect_args(p: argparse.ArgumentParser) -> None:
    """Find the trigger word in wav files with a finished run's best checkpoint."""
    p.add_argument("--workdir", required=True)
    p.add_argument("--chime", metavar="OUT_DIR",
                   help="also write each clip with a chime at each detection here")
    p.add_argument("clips", nargs="+")


def _synthesize_args(p: argparse.ArgumentParser) -> None:
    """Write labelled clips (wav + json of word positions) to listen to."""
    p.add_argument("--config", default=DEFAULT_CONFIG, metavar="FILE.py[:PRESET]")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--n", type=int, default=10)
    p.add_argument("--split", choices=SPLITS, default="test")


def main(argv=None) -> int:
    verb, args, overrides = config_lib.parse_command(
        argv, verbs={"train": _train_args, "detect": _detect_args,
                     "synthesize": _synthesize_args},
        prog="python -m experiments.trigger_word")
    if verb == "detect":
        return detect(args.workdir, args.clips, chime_dir=args.chime)
    config = config_lib.config_or_exit(args.config, overrides)
    if verb == "synthesize":
        if args.n < 1:
            raise config_lib.ConfigError(f"--n must be at least 1, got {args.n}")
        paths = synthesize(config, args.out, args.n, args.split)
        print(json.dumps({"clips": len(paths), "out": str(args.out)}))
        return 0
    cli.initialize_distributed(args)
    t0 = time.perf_counter()
    results = train_and_evaluate(config, args.workdir, progress=not args.no_progress)
    if jax.process_index() == 0:
        t = results["test"]
        print(json.dumps({k: round(t[k], 4) for k in (
            "event_f1", "event_precision", "event_recall", "false_accepts_per_hour",
            "false_reject_rate", "frame_accuracy", "all_zero_baseline_accuracy")}
            | {"workdir": str(args.workdir), "seconds": round(time.perf_counter() - t0, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
