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

from jaxdl import cli, losses, plots
from jaxdl import config as config_lib
from jaxdl.data import pipeline
from jaxdl.data.audio_files import AudioError, load_audio, write_wav
from jaxdl.tasks.trigger_word import detection, events, generator, sources
from jaxdl.tasks.trigger_word.generator import clip_spec, feature_spec
from jaxdl.tasks.trigger_word import plots as trigger_plots
from jaxdl.tasks.trigger_word.model import TriggerWordModel
from jaxdl.train import checkpoint, loop
from jaxdl.train.optim import OPTIMIZERS, SCHEDULES, make_optimizer
from jaxdl.train.parallel import STRATEGIES, Strategy
from jaxdl.train.state import TrainState
from jaxdl.train.steps import train_step
from jaxdl.workdir import load_finished_run, prepare_workdir, run_record, write_json

DEFAULT_CONFIG = "configs/trigger_word.py"
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


# -- model and state ----------------------------------------------------------------
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
        banks, description, skipped = dict.fromkeys(sources.SPLITS), "stored eSpeak NG clips", []
    else:
        banks, description, skipped = sources.load_banks(config.data, spec,
                                                         progress=progress)
        for split, bank in banks.items():
            bank.check(spec)
            log.info("%s words: %d trigger, %d other (%s)", split, len(bank.positives),
                     len(bank.negatives), description)
    clips = sources.clip_sources(config.data, spec, banks, train_clips, config.seed)
    makers = {s: generator.BatchMaker(banks[s], spec, features, num_steps) for s in sources.SPLITS}
    mean, std = generator.feature_stats(makers["train"], clips["train"])
    for m in makers.values():
        m.mean, m.std = jnp.asarray(mean), jnp.asarray(std)
    data_seconds = time.perf_counter() - t0

    epochs = -(-steps * batch_size // len(clips["train"]))
    train_batches = pipeline.training_batches(
        clips["train"], global_batch_size=batch_size, seed=config.seed,
        num_epochs=epochs, transform=lambda ex: ex)[:steps].map(makers["train"])
    rng = jax.random.key(config.seed)
    init_rng, step_rng = jax.random.split(rng)
    state = create_state(config, init_rng, steps)

    def validate(placed_state):
        host = strategy.unreplicate(placed_state)
        pred = detection.predict_clips(host, clips["validation"], makers["validation"],
                                       config.eval.batch_size)
        scores, _ = detection.event_scores(config.eval, spec, pred)
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
    test_pred = detection.predict_clips(best, clips["test"], makers["test"],
                                        config.eval.batch_size)
    test_events, detections = detection.event_scores(config.eval, spec, test_pred)
    e = config.eval
    curve = events.event_pr_curve(
        test_pred["probs"], test_pred["truths"], config.clip.seconds,
        np.round(np.linspace(0.05, 0.95, 19), 2), **detection.event_rule(e, spec, num_steps))
    at_rate = events.false_reject_at_false_accepts(curve, e.false_accepts_per_hour)
    test = {**detection.frame_scores(test_pred, e.threshold), **test_events}
    results = {
        "test": test,
        "test_operating_point": {
            "max_false_accepts_per_hour": e.false_accepts_per_hour,
            **{k: float(v) for k, v in at_rate.items()}},
        "data": {"words": description, "skipped_files": skipped,
                 "test_clips": len(clips["test"]),
                 "test_hours": round(len(clips["test"]) * spec.seconds / 3600, 3),
                 "output_steps": num_steps,
                 "spectrogram_frames": features.num_frames(spec.num_samples),
                 "frequency_bins": features.num_bins,
                 **{f"{s}_words": {"trigger": int(len(b.positives)),
                                   "other": int(len(b.negatives))}
                    for s, b in banks.items() if b is not None}},
        **run_record(config, strategy, fit, best, best_metric="best_val_event_f1",
                     data_seconds=round(data_seconds, 1),
                     eval_seconds=round(time.perf_counter() - t_eval, 1)),
    }
    write_json(workdir / "results.json", results)
    write_json(workdir / "pr_curve.json", {k: np.asarray(v).tolist() for k, v in curve.items()})
    make_plots(workdir, config, clips["test"], makers["test"], test_pred, detections, curve)
    return results


def make_plots(workdir: Path, config, source, maker: generator.BatchMaker, pred: dict,
               detections: list, curve: dict) -> None:
    from jaxdl.train.metric_writers import read_metrics
    out = workdir / "plots"
    plots.learning_curves(read_metrics(workdir / "metrics.jsonl"),
                          out / "learning_curves.png", title="Trigger word: learning curves")
    trigger_plots.precision_recall(curve, out / "precision_recall.png",
                                   mark_threshold=config.eval.threshold,
                                   title="Test events: precision vs recall over thresholds")
    clips = detection.clip_panels(source, maker, pred, detections, config.data.trigger,
                                  n=min(config.eval.plot_clips, len(source)))
    trigger_plots.trigger_word_clips(
        clips, out / "test_clips.png", threshold=config.eval.threshold,
        trigger_words=(config.data.trigger,),
        title="Test clips (unseen voices): truth and prediction")


def detect(workdir: str | Path, paths: list[str], *, chime_dir: str | None = None,
           out=None) -> int:
    """Prints one JSON line per file; returns the exit code (1 if every file failed)."""
    run = load_finished_run(workdir, create_state)
    config, e = run.config, run.config.eval
    norm = run.meta["normalization"]
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
        times = detection.detect_in_audio(
            run.state, audio, clip_spec(config), feature_spec(config), mean, std,
            threshold=e.threshold, min_consecutive=e.min_consecutive,
            refractory=e.refractory)
        line = {"path": path, "detections": [round(float(t), 3) for t in times]}
        if chime_dir:
            target = Path(chime_dir) / f"{Path(path).stem}_chime.wav"
            write_wav(target, detection.with_chimes(audio, times, rate), rate)
            line["chime"] = str(target)
        print(json.dumps(line), file=out, flush=True)
    return 1 if paths and failures == len(paths) else 0


# -- synthesize --------------------------------------------------------------------
def synthesize(config, out_dir: str | Path, n: int, split: str = "test",
               *, progress: bool = True) -> list[Path]:
    """Writes n labelled clips of `split`: clip_K.wav and clip_K.json (its words)."""
    check_config(config)
    spec = clip_spec(config)
    banks, description, _ = sources.load_banks(config.data, spec, progress=progress)
    banks[split].check(spec)
    maker = generator.BatchMaker(banks[split], spec, feature_spec(config),
                                 output_steps(config))
    return sources.write_labelled_clips(maker, config.seed, split, n, out_dir, description)


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
    p.add_argument("--split", choices=sources.SPLITS, default="test")


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
