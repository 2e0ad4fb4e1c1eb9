"""Case study 1: day'n'night image classification.

    python -m experiments.day_night --config configs/day_night.py --workdir DIR
    python -m experiments.day_night predict --workdir DIR IMAGE...

The recipe: data (generated scenes, a folder, or TFDS) -> normalise with training
statistics -> shallow CNN -> sigmoid + binary cross-entropy -> train with
validation, early stopping and checkpoints -> test metrics beside the majority
baseline -> plots and results.json. `--config.eval.protocol=kfold` adds K-fold
cross-validation (K models trained together under vmap).
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

from jaxdl import cli
from jaxdl import config as config_lib
from jaxdl import losses, metrics, plots
from jaxdl.data import image_classification, pipeline, transforms
from jaxdl.serving import export_arguments
from jaxdl.tasks.day_night.model import ShallowCNN
from jaxdl.train import checkpoint, cross_validation, loop, replicas
from jaxdl.train.optim import OPTIMIZERS, SCHEDULES, make_optimizer
from jaxdl.train.parallel import STRATEGIES, Strategy
from jaxdl.train.options import check_train_options, fit_options, model_dtype, state_options
from jaxdl.train.state import TrainState
from jaxdl.train.steps import eval_step, predict_step, train_step
from jaxdl.workdir import load_finished_run, prepare_workdir, run_record, write_json

DEFAULT_CONFIG = "configs/day_night.py"
SEED_PLOT_METRICS = ("accuracy", "precision", "recall", "f1", "auc")
log = logging.getLogger("day_night")


CHOICES = {
    "data.source": ("procedural", "folder", "tfds"),
    "optim.name": OPTIMIZERS,
    "optim.schedule": SCHEDULES,
    "train.parallel": STRATEGIES,
    "train.early_stopping.mode": ("max", "min"),
    "train.early_stopping.monitor": ("val/accuracy", "val/loss"),
    "eval.protocol": ("holdout", "kfold", "iterated_kfold"),
    "eval.cv_mode": ("vmap", "sequential"),
}


def check_config(config) -> None:
    """Refuses, before any work, values that are not among their choices."""
    config_lib.check_choices(config, CHOICES)
    check_train_options(config)
    if len(config.data.class_names) != 2 and config.data.source != "folder":
        raise config_lib.ConfigError("data.class_names must name 2 classes (the model "
                                     f"is binary), got {tuple(config.data.class_names)}")


# -- data ---------------------------------------------------------------------
def load_data(config) -> image_classification.LabelledImages:
    """Train / validation / test sources named by config.data."""
    from jaxdl.tasks.day_night import dataset as day_night_dataset
    return image_classification.load_labelled_images(
        config.data, seed=config.seed, procedural=day_night_dataset.load_splits)


# -- model and state ----------------------------------------------------------
def build_model(config) -> ShallowCNN:
    return ShallowCNN(features=tuple(config.model.features), hidden=config.model.hidden,
                      dropout_rate=config.model.dropout_rate,
                      batch_norm=config.model.batch_norm, dtype=model_dtype(config))


def create_state(config, rng: jax.Array, total_steps: int) -> TrainState:
    """A fresh TrainState: the model, its optimiser and the BCE objective."""
    size = config.data.image_size
    return TrainState.create(
        model=build_model(config), rng=rng,
        example_inputs=jnp.zeros((1, size, size, 3), jnp.float32),
        tx=make_optimizer(config.optim, total_steps),
        objective=losses.binary_classification, l1=config.train.l1, l2=config.train.l2,
        **state_options(config.train))


# -- train and evaluate -------------------------------------------------------
def _predict_probs(state, source, transform, batch_size) -> np.ndarray:
    """p(class 1) for every example of `source`, in order (on this process)."""
    logits = loop.predict_all(jax.jit(predict_step), state, pipeline.evaluation_batches(
        source, global_batch_size=batch_size, transform=transform, process_index=0,
        process_count=1))
    return np.asarray(jax.nn.sigmoid(logits))


def train_and_evaluate(config, workdir: str | Path, *, progress: bool = True) -> dict:
    """Runs the whole case study; writes everything into `workdir`; returns results
    (on process 0; other processes train their share and return {})."""
    check_config(config)
    strategy = Strategy(config.train.parallel)
    strategy.check_batch_size(config.train.batch_size, config.train.grad_accum_steps)
    eval_batch_size = strategy.round_batch_size(config.eval.batch_size)
    workdir = prepare_workdir(workdir, config)

    # Data: normalisation statistics come from the training split only.
    data = load_data(config)
    log.info("data: %s; %d train / %d validation / %d test", data.description,
             len(data.train), len(data.validation), len(data.test))
    if len(data.class_names) != 2:
        raise config_lib.ConfigError(f"the model is binary but the data has classes "
                                     f"{list(data.class_names)}")
    mean, std = transforms.channel_stats(
        image_classification.sample_images(data.train, seed=config.seed))
    transform = transforms.classification_example(mean, std)
    augment = transforms.augmentation_from_config(config.augment)
    batch_size = config.train.batch_size
    steps_per_epoch = pipeline.steps_per_epoch(len(data.train), batch_size)
    train_batches = pipeline.training_batches(
        data.train, global_batch_size=batch_size, seed=config.seed,
        num_epochs=config.train.epochs, transform=transform, augment=augment)
    total_steps = len(train_batches)
    rng = jax.random.key(config.seed)
    init_rng, step_rng = jax.random.split(rng)
    state = create_state(config, init_rng, total_steps)

    results: dict = {}
    # Cross-validation (the course's K-fold and iterated K-fold), if asked for.
    if config.eval.protocol in ("kfold", "iterated_kfold"):
        results["cross_validation"] = run_cross_validation(
            config, data, transform, augment, progress=progress)
        if jax.process_index() == 0:
            plots.fold_scores(results["cross_validation"]["scores"],
                              workdir / "plots" / "cross_validation.png")

    # Train with hold-out validation, early stopping and checkpoints.
    eval_fn = strategy.compile_eval_step(eval_step)
    val_batches = pipeline.evaluation_batches(
        data.validation, global_batch_size=eval_batch_size, transform=transform)

    def validate(placed_state):
        return {f"val/{k}": v for k, v in
                loop.evaluate(eval_fn, placed_state, val_batches, strategy).items()}

    fit = loop.fit(
        state, train_step=train_step, train_batches=train_batches,
        steps_per_epoch=steps_per_epoch, global_batch_size=batch_size, rng=step_rng,
        strategy=strategy, workdir=workdir, validate=validate,
        early_stopping=loop.EarlyStopping.from_config(config.train.early_stopping),
        log_every=config.train.log_every, progress=progress, **fit_options(config, workdir),
        meta={"normalization": {"mean": mean.tolist(), "std": std.tolist()},
              "class_names": list(data.class_names)})

    if jax.process_index() != 0:
        return {}  # process 0 tests, plots and writes
    # Test the best checkpoint (chosen on validation, never on test).
    best, _ = checkpoint.restore_params(workdir / "checkpoints", fit.state, "best")
    test_labels = image_classification.all_labels(data.test)
    train_labels = image_classification.all_labels(data.train)
    probs = _predict_probs(best, data.test, transform, eval_batch_size)
    test = _test_scores(test_labels, probs, config)
    baseline = metrics.majority_baseline(train_labels, test_labels)
    results.update({
        "test": test,
        "baseline": {"accuracy": float(baseline["accuracy"]),
                     "majority_class": data.class_names[int(baseline["majority_class"])]},
        "data": {"description": data.description, "train": len(data.train),
                 "validation": len(data.validation), "test": len(data.test),
                 "skipped_files": data.skipped_files},
        **run_record(config, strategy, fit, best, best_metric="best_val_accuracy",
                     stopped_early=fit.stopped_early),
    })
    if config.train.seeds > 1:
        results["seeds"] = run_seed_study(config, data, transform, augment, workdir,
                                          progress=progress)
    write_json(workdir / "results.json", results)
    make_plots(workdir, data, test_labels, probs, test, config)
    return results


def _test_scores(labels, probs, config) -> dict:
    """results.json's test block: thresholded metrics and the ROC AUC, JSON-able."""
    test = metrics.binary_metrics(labels, probs, threshold=config.eval.threshold)
    test["auc"] = metrics.roc_auc(labels, probs)
    return {k: np.asarray(v).tolist() for k, v in test.items()}


def run_seed_study(config, data, transform, augment, workdir: Path, *,
                   progress=True) -> dict:
    """`train.seeds` models (seeds seed, seed+1, ...) trained together for every
    epoch (no early stopping), each tested; mean, std and per-seed values."""
    t = config.train
    make_batches = lambda seed: pipeline.training_batches(
        data.train, global_batch_size=t.batch_size, seed=seed, num_epochs=t.epochs,
        transform=transform, augment=augment, process_index=0, process_count=1)
    total_steps = len(make_batches(config.seed))
    return replicas.seed_study_report(
        make_state=lambda key: create_state(config, key, total_steps),
        make_batches=make_batches,
        test=lambda state: _test_scores(
            image_classification.all_labels(data.test),
            _predict_probs(state, data.test, transform, config.eval.batch_size), config),
        seed=config.seed, count=t.seeds, mode=t.seeds_mode, steps=total_steps,
        plot_path=workdir / "plots" / "seeds.png", plot_metrics=SEED_PLOT_METRICS,
        title="Day'n'night test metrics", progress=progress)


def run_cross_validation(config, data, transform, augment, *, progress=True) -> dict:
    """K-fold (or iterated K-fold) over train + validation; fold scores' mean and std."""
    from jaxdl.data.sources import Concat
    pool = Concat([data.train, data.validation])
    e = config.eval
    folds = cross_validation.protocol_splits(e.protocol, len(pool), k=e.k,
                                             iterations=e.iterations, seed=config.seed)
    result = cross_validation.cross_validate(
        make_state=lambda key, steps: create_state(config, key, steps), source=pool,
        splits=folds, transform=transform, augment=augment,
        global_batch_size=config.train.batch_size, epochs=config.eval.cv_epochs,
        seed=config.seed, rng=jax.random.key(config.seed + 1), metric="accuracy",
        mode=config.eval.cv_mode, eval_batch_size=config.eval.batch_size,
        progress=progress)
    return result.summary(k=e.k, iterations=e.iterations
                          if e.protocol == "iterated_kfold" else 1)


def make_plots(workdir: Path, data, labels, probs, test, config) -> None:
    from jaxdl.train.metric_writers import read_metrics
    out = workdir / "plots"
    history = read_metrics(workdir / "metrics.jsonl")
    plots.learning_curves(history, out / "learning_curves.png",
                          title="Day'n'night: learning curves")
    plots.confusion_matrix(np.asarray(test["confusion_matrix"]), data.class_names,
                           out / "confusion_matrix.png", title="Test confusion matrix")
    fpr, tpr, _ = metrics.roc_curve(labels, probs)
    plots.roc_curve(np.asarray(fpr), np.asarray(tpr), out / "roc_curve.png",
                    auc=float(test["auc"]), title="Test ROC curve (night = positive)",
                    operating_point=(1 - float(test["specificity"]), float(test["recall"]),
                                     f"threshold {config.eval.threshold}"))
    n = min(config.eval.grid_images, len(labels))
    images = np.stack([data.test[i]["image"] for i in range(n)])
    names = data.class_names
    predicted = (probs[:n] > config.eval.threshold).astype(int)
    plots.image_grid(images, out / "test_predictions.png",
                     titles=[f"{names[p]} p={q:.2f}" for p, q in zip(predicted, probs[:n])],
                     title_colors=["green" if p == y else "red"
                                   for p, y in zip(predicted, labels[:n])],
                     suptitle="Test images: predicted label and p(night); red = wrong")


# -- predict ------------------------------------------------------------------
PREDICT_FORMATS = ("jsonl", "csv")


def predict(workdir: str | Path, paths: list[str], *, batch_size: int = 64,
            fmt: str = "jsonl", out=None) -> int:
    """Predicts day or night for image files and folders (recursively): one line per
    image, in order, as JSON lines or CSV (`fmt`); an unreadable file gets its own
    error line. Images go through the model `batch_size` at a time. Returns the exit
    code (1 if every file failed)."""
    import csv
    from tqdm.auto import tqdm
    from jaxdl.data.images import expand_image_paths
    from jaxdl.tasks.day_night.inference import predict_files
    if fmt not in PREDICT_FORMATS:
        raise config_lib.ConfigError(f"--format must be one of {', '.join(PREDICT_FORMATS)}, "
                                     f"got {fmt!r}")
    if batch_size < 1:
        raise config_lib.ConfigError(f"--batch-size must be at least 1, got {batch_size}")
    run = load_finished_run(workdir, create_state)
    names = run.meta["class_names"]
    files = expand_image_paths(paths)
    out = out or sys.stdout
    writer = None
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=["path", "label", f"p_{names[1]}", "error"])
        writer.writeheader()
    failures = 0
    rows = predict_files(run.state, files, image_size=run.config.data.image_size,
                         normalization=run.meta["normalization"], class_names=names,
                         threshold=run.config.eval.threshold, batch_size=batch_size)
    for row in tqdm(rows, total=len(files), unit="image", desc="predict", disable=None,
                    file=sys.stderr):
        failures += "error" in row
        if writer is not None:
            writer.writerow(row)
            out.flush()
        else:
            print(json.dumps(row), file=out, flush=True)
    return 1 if files and failures == len(files) else 0


# -- export -------------------------------------------------------------------
def export(workdir: str | Path, out_dir: str | Path | None = None, *, out=None) -> int:
    """Writes the best checkpoint's classifier with jax.export (`export_classifier`);
    prints one JSON line."""
    from jaxdl import serving
    from jaxdl.tasks.day_night.inference import export_classifier
    run = load_finished_run(workdir, create_state)
    out_dir = serving.export_dir(workdir, out_dir)
    signature = export_classifier(
        run.state, image_size=run.config.data.image_size,
        normalization=run.meta["normalization"], class_names=run.meta["class_names"],
        threshold=run.config.eval.threshold, out_dir=out_dir)
    print(json.dumps(serving.summary_line(out_dir, signature)), file=out, flush=True)
    return 0


# -- command line -------------------------------------------------------------
def _train_args(p: argparse.ArgumentParser) -> None:
    """Train and evaluate (the default verb)."""
    cli.add_train_arguments(p, DEFAULT_CONFIG)


def _predict_args(p: argparse.ArgumentParser) -> None:
    """Predict day or night for image files and folders with a finished run's best checkpoint."""
    p.add_argument("--workdir", required=True)
    p.add_argument("--format", choices=PREDICT_FORMATS, default="jsonl",
                   help="one JSON object per line (default) or CSV with a header")
    p.add_argument("--batch-size", type=int, default=64, help="images per model call")
    p.add_argument("images", nargs="+", help="image files and folders (searched recursively)")


def main(argv=None) -> int:
    verb, args, overrides = config_lib.parse_command(
        argv, verbs={"train": _train_args, "predict": _predict_args,
                     "export": export_arguments},
        prog="python -m experiments.day_night")
    if verb == "predict":
        return predict(args.workdir, args.images, batch_size=args.batch_size,
                       fmt=args.format)
    if verb == "export":
        return export(args.workdir, args.out)
    config = config_lib.config_or_exit(args.config, overrides)
    cli.initialize_distributed(args)
    t0 = time.perf_counter()
    results = train_and_evaluate(config, args.workdir, progress=not args.no_progress)
    if jax.process_index() == 0:
        test = results["test"]
        print(json.dumps({"test_accuracy": round(test["accuracy"], 4),
                          "baseline_accuracy": round(results["baseline"]["accuracy"], 4),
                          "auc": round(test["auc"], 4), "workdir": str(args.workdir),
                          "seconds": round(time.perf_counter() - t0, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
