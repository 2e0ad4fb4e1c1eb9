"""Case study 4: trigger-word detection.

    python -m experiments.trigger_word --config configs/trigger_word.py --workdir DIR
    python -m experiments.trigger_word detect --workdir DIR CLIP.wav ... [--chime OUT_DIR]
    python -m experiments.trigger_word synthesize --out DIR --n N
    python -m experiments.trigger_word check --workdir DIR --words REAL_DIR [--trigger LABEL]

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

from jaxdl import cli, losses
from jaxdl import config as config_lib
from jaxdl.data import pipeline
from jaxdl.tasks.trigger_word import detection, events, generator, real_check, sources
from jaxdl.tasks.trigger_word.generator import clip_spec, feature_spec
from jaxdl.tasks.trigger_word import plots as trigger_plots
from jaxdl.tasks.trigger_word.model import TriggerWordModel
from jaxdl.train import checkpoint, loop, replicas
from jaxdl.train.optim import OPTIMIZERS, SCHEDULES, make_optimizer
from jaxdl.train.parallel import STRATEGIES, Strategy
from jaxdl.train.options import check_train_options, fit_options, model_dtype, state_options
from jaxdl.train.state import TrainState
from jaxdl.serving import export_arguments
from jaxdl.train.steps import train_step
from jaxdl.workdir import load_finished_run, prepare_workdir, run_record, write_json

DEFAULT_CONFIG = "configs/trigger_word.py"
log = logging.getLogger("trigger_word")
SEED_PLOT_METRICS = ("event_f1", "event_precision", "event_recall",
                     "false_accepts_per_hour", "frame_f1")

CHOICES = {
    "data.words": ("espeak", "folders", "speech_commands"),
    "data.storage": ("on_the_fly", "tfds"),
    "features.front_end": generator.FRONT_ENDS,
    "optim.name": OPTIMIZERS,
    "optim.schedule": SCHEDULES,
    "train.parallel": STRATEGIES,
    "train.early_stopping.mode": ("max", "min"),
}


def check_config(config) -> None:
    """Refuses, before any work, values that are not among their choices."""
    config_lib.check_choices(config, CHOICES)
    check_train_options(config)
    if config.data.storage == "tfds" and (config.data.words != "espeak"
                                          or config.data.positives_dir):
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
                            dropout_rate=m.dropout_rate, unroll=m.get("unroll", 1),
                            dtype=model_dtype(config))


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
        l1=config.train.l1, l2=config.train.l2,
        **state_options(config.train))


# -- train and evaluate -----------------------------------------------------------
def train_and_evaluate(config, workdir: str | Path, *, progress: bool = True) -> dict:
    """Runs the whole case study; writes everything into `workdir`; returns results
    (on process 0)."""
    check_config(config)
    strategy = Strategy(config.train.parallel)
    strategy.check_batch_size(config.train.batch_size, config.train.grad_accum_steps)
    workdir = prepare_workdir(workdir, config)
    spec, features = clip_spec(config), feature_spec(config)
    num_steps = output_steps(config)
    batch_size, steps = config.train.batch_size, config.train.steps
    log.info("clips: %.1f s at %d Hz = %d samples -> %d feature frames x %d features -> "
             "%d output steps", spec.seconds, spec.sample_rate, spec.num_samples,
             features.num_frames(spec.num_samples), features.num_bins, num_steps)

    t0 = time.perf_counter()
    data = sources.prepare_run_data(config, spec, features, num_steps, progress=progress)
    banks, description, skipped, clips, makers = (
        data.banks, data.description, data.skipped, data.clips, data.makers)
    mean, std, train_maker = data.mean, data.std, data.train_maker
    data_seconds = time.perf_counter() - t0
    train_batches = _train_batches(config, clips["train"], train_maker, config.seed)
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
        log_every=config.train.log_every, progress=progress, **fit_options(config, workdir),
        meta={"normalization": {"mean": mean.tolist(), "std": std.tolist()}})
    if jax.process_index() != 0:
        return {}

    best, _ = checkpoint.restore_params(workdir / "checkpoints", fit.state, "best")
    t_eval = time.perf_counter()
    test, test_pred, detections = _test_scores(best, config, spec, clips, makers)
    e = config.eval
    curve = events.event_pr_curve(
        test_pred["probs"], test_pred["truths"], config.clip.seconds,
        np.round(np.linspace(0.05, 0.95, 19), 2), **detection.event_rule(e, spec, num_steps))
    at_rate = events.false_reject_at_false_accepts(curve, e.false_accepts_per_hour)
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
                                   "other": int(len(b.negatives)),
                                   "by_pico": sum(v.startswith("pico:") for v in b.speakers),
                                   "by_flite": sum(v.startswith("flite:") for v in b.speakers)}
                    for s, b in banks.items() if b is not None}},
        **run_record(config, strategy, fit, best, best_metric="best_val_event_f1",
                     data_seconds=round(data_seconds, 1),
                     eval_seconds=round(time.perf_counter() - t_eval, 1)),
    }
    if config.train.seeds > 1:
        results["seeds"] = run_seed_study(config, spec, clips, makers, train_maker, workdir,
                                          progress=progress)
    write_json(workdir / "results.json", results)
    write_json(workdir / "pr_curve.json", {k: np.asarray(v).tolist() for k, v in curve.items()})
    trigger_plots.run_plots(workdir, config, clips["test"], makers["test"], test_pred,
                            detections, curve)
    return results


def _train_batches(config, train_clips, train_maker, seed: int, *, process_index=None,
                   process_count=None):
    """`train.steps` batches of training clips, shuffled with `seed`, through the
    run's feature maker (this process's share)."""
    t = config.train
    epochs = -(-t.steps * t.batch_size // len(train_clips))
    return pipeline.training_batches(
        train_clips, global_batch_size=t.batch_size, seed=seed, num_epochs=epochs,
        transform=lambda ex: ex, process_index=process_index,
        process_count=process_count)[:t.steps].map(train_maker)


def _test_scores(state, config, spec, clips, makers):
    """(frame and event scores on the test clips, the predictions, the detections)."""
    pred = detection.predict_clips(state, clips["test"], makers["test"],
                                   config.eval.batch_size)
    events_found, detections = detection.event_scores(config.eval, spec, pred)
    return ({**detection.frame_scores(pred, config.eval.threshold), **events_found},
            pred, detections)


def run_seed_study(config, spec, clips, makers, train_maker, workdir: Path, *,
                   progress=True) -> dict:
    """`train.seeds` detectors (seeds seed, seed+1, ...: initialisation, clip order,
    dropout; the same clips) trained together for all their steps (the last
    weights), each scored on the test clips; mean, std and per-seed values."""
    t = config.train
    return replicas.seed_study_report(
        make_state=lambda key: create_state(config, key, t.steps),
        make_batches=lambda seed: _train_batches(config, clips["train"], train_maker, seed,
                                                 process_index=0, process_count=1),
        test=lambda state: _test_scores(state, config, spec, clips, makers)[0],
        seed=config.seed, count=t.seeds, mode=t.seeds_mode, steps=t.steps,
        plot_path=Path(workdir) / "plots" / "seeds.png", plot_metrics=SEED_PLOT_METRICS,
        title="Trigger-word detector, test clips", progress=progress)


def detect(workdir: str | Path, paths: list[str], *, chime_dir: str | None = None,
           out=None) -> int:
    """Prints one JSON line per file; returns the exit code (1 if every file failed)."""
    run = load_finished_run(workdir, create_state)
    norm = run.meta["normalization"]
    return detection.detect_files(
        run.state, paths, spec=clip_spec(run.config, "test"), features=feature_spec(run.config),
        mean=jnp.asarray(norm["mean"], jnp.float32), std=jnp.asarray(norm["std"], jnp.float32),
        eval_config=run.config.eval, chime_dir=chime_dir, out=out)


def check(workdir: str | Path, words_dir: str, trigger: str | None = None, *,
          snrs=real_check.DEFAULT_SNRS, clips: int = 100, seed: int = 0) -> dict:
    """The real-voice check (jaxdl.tasks.trigger_word.real_check) of a finished run
    on a folder of recorded words; writes WORKDIR/real_check.json."""
    run = load_finished_run(workdir, create_state)
    c, norm = run.config, run.meta["normalization"]
    results = real_check.check_folder(
        run.state, words_dir, trigger or c.data.trigger, spec=clip_spec(c, "test"),
        features=feature_spec(c), num_steps=output_steps(c), mean=jnp.asarray(norm["mean"]),
        std=jnp.asarray(norm["std"]), eval_config=c.eval, snrs=snrs, clips_per_snr=clips,
        seed=seed)
    write_json(Path(workdir) / "real_check.json", results)
    return results


# -- synthesize --------------------------------------------------------------------
def synthesize(config, out_dir: str | Path, n: int, split: str = "test",
               *, progress: bool = True) -> list[Path]:
    """Writes n labelled clips of `split`: clip_K.wav and clip_K.json (its words)."""
    check_config(config)
    spec = clip_spec(config, split)
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


def _check_args(p: argparse.ArgumentParser) -> None:
    """Score a finished run on clips built from a folder of real recorded words."""
    p.add_argument("--workdir", required=True)
    p.add_argument("--words", required=True, metavar="DIR",
                   help="recordings, labelled by sub-folder or by file name up to '_'")
    p.add_argument("--trigger", help="the trigger's label in DIR (default: the run's word)")
    p.add_argument("--snr", type=float, nargs="+", default=list(real_check.DEFAULT_SNRS),
                   metavar="DB")
    p.add_argument("--clips", type=int, default=100, help="clips per SNR")
    p.add_argument("--seed", type=int, default=0)


def _synthesize_args(p: argparse.ArgumentParser) -> None:
    """Write labelled clips (wav + json of word positions) to listen to."""
    p.add_argument("--config", default=DEFAULT_CONFIG, metavar="FILE.py[:PRESET]")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--n", type=int, default=10)
    p.add_argument("--split", choices=sources.SPLITS, default="test")


def export(workdir: str | Path, out_dir: str | Path | None = None, *, out=None) -> int:
    """Writes the best checkpoint's detector with jax.export
    (`detection.export_detector`); prints one JSON line."""
    from jaxdl import serving
    run = load_finished_run(workdir, create_state)
    config, norm = run.config, run.meta["normalization"]
    out_dir = serving.export_dir(workdir, out_dir)
    signature = detection.export_detector(
        run.state, spec=clip_spec(config, "test"), features=feature_spec(config),
        mean=norm["mean"], std=norm["std"], num_steps=output_steps(config),
        eval_config=config.eval, trigger=config.data.get("trigger", "activate"),
        out_dir=out_dir)
    print(json.dumps(serving.summary_line(out_dir, signature)), file=out, flush=True)
    return 0


def main(argv=None) -> int:
    verb, args, overrides = config_lib.parse_command(
        argv, verbs={"train": _train_args, "detect": _detect_args,
                     "synthesize": _synthesize_args, "check": _check_args,
                     "export": export_arguments},
        prog="python -m experiments.trigger_word")
    if verb == "export":
        return export(args.workdir, args.out)
    if verb == "detect":
        return detect(args.workdir, args.clips, chime_dir=args.chime)
    if verb == "check":
        if args.clips < 1:
            raise config_lib.ConfigError(f"--clips must be at least 1, got {args.clips}")
        r = check(args.workdir, args.words, args.trigger, snrs=tuple(args.snr),
                  clips=args.clips, seed=args.seed)
        print(json.dumps(real_check.summary(r)))
        return 0
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
