"""Case study 2: face verification, identification and clustering (triplet loss).

    python -m experiments.face_verification --config configs/face_verification.py --workdir DIR
    python -m experiments.face_verification verify --workdir DIR A.png B.png
    python -m experiments.face_verification identify --workdir DIR --gallery FOLDER PROBE|FOLDER...
    python -m experiments.face_verification cluster --workdir DIR FOLDER [--k N]
    python -m experiments.face_verification embed --workdir DIR FOLDER_OR_FILES... --out PREFIX

The recipe: people split so that none is in two splits -> a ResNet encoder to a
128-d unit vector -> triplet loss over batches of P people x K images with online
mining, colour augmented (greyscale, hue, contrast, blur, ...) in the step -> validation
on verification pairs, checkpoints -> on unseen people: verification (10-fold pairs),
identification (k-NN, open set), clustering (k-means), each beside the same
evaluation on raw pixels, in colour and again in greyscale -> a decision threshold
calibrated on the validation people for a false-accept rate (eval.target_far), the
test people scored at it, clustering without k -> plots, results.json.
Verbs decide with the FAR-calibrated threshold unless told otherwise (--threshold X,
--accuracy-threshold).
The verbs read any image format Pillow opens (PNG, JPEG, PGM, ...).
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
from jaxdl import losses, metrics
from jaxdl.data import images, transforms
from jaxdl.data.image_classification import sample_images
from jaxdl.clustering import agglomerative
from jaxdl.tasks.faces import sources
from jaxdl.errors import UserError
from jaxdl.tasks.faces.evaluation import (evaluate_embeddings, evaluation_options,
                                          greyscale_results, pixel_baseline,
                                          threshold_report)
from jaxdl.serving import export_arguments as serving_export_arguments
from jaxdl.tasks.faces.inference import (choose_threshold, embed_files_indexed,
                                         export_encoder)
from jaxdl.tasks.faces.inference import (cluster_embeddings, embed, embed_files,
                                         embed_pictures, encoder, face_example,
                                         nearest_identity)
from jaxdl.tasks.faces.model import ResNetEncoder
from jaxdl.tasks.faces.pairs import make_pairs
from jaxdl.tasks.faces.plots import run_plots
from jaxdl.tasks.faces.training import face_train_batches, face_train_step
from jaxdl.train import checkpoint, loop, replicas
from jaxdl.train.optim import OPTIMIZERS, SCHEDULES, make_optimizer
from jaxdl.train.parallel import STRATEGIES, Strategy
from jaxdl.train.options import check_train_options, fit_options, model_dtype, state_options
from jaxdl.train.state import TrainState
from jaxdl.workdir import load_finished_run, prepare_workdir, run_record, write_json

DEFAULT_CONFIG = "configs/face_verification.py"
log = logging.getLogger("face_verification")
SEED_PLOT_METRICS = ("verification/accuracy", "verification/auc", "identification/top1",
                     "identification/top5", "clustering/nmi", "clustering/ari")

CHOICES = {
    "data.source": ("procedural", "folder", "tfds"),
    "loss.mining": losses.TRIPLET_MINING,
    "optim.name": OPTIMIZERS,
    "optim.schedule": SCHEDULES,
    "train.parallel": STRATEGIES,
    "train.early_stopping.mode": ("max", "min"),
    "train.early_stopping.monitor": ("val/verification_accuracy",),
    "eval.cluster_linkage": ("average", "complete"),
}


# -- model and state ----------------------------------------------------------
def build_model(config) -> ResNetEncoder:
    return ResNetEncoder(stage_features=tuple(config.model.stage_features),
                         blocks_per_stage=tuple(config.model.blocks_per_stage),
                         embedding_dim=config.model.embedding_dim,
                         dtype=model_dtype(config))


def create_state(config, rng: jax.Array, total_steps: int) -> TrainState:
    """A fresh TrainState: encoder, optimiser, and the triplet loss over the whole
    global batch (mining compares examples across devices)."""
    size = config.data.image_size
    return TrainState.create(
        model=build_model(config), rng=rng,
        example_inputs=jnp.zeros((1, size, size, 3), jnp.float32),
        tx=make_optimizer(config.optim, total_steps),
        objective=losses.triplet_objective(config.loss.margin, config.loss.mining,
                                           config.loss.soft),
        l1=config.train.l1, l2=config.train.l2,
        **state_options(config.train), global_objective=True)


# -- train and evaluate -------------------------------------------------------
def train_and_evaluate(config, workdir: str | Path, *, progress: bool = True) -> dict:
    """Runs the whole case study; writes everything into `workdir` (process 0)."""
    config_lib.check_choices(config, CHOICES)
    if not 0.0 < config.eval.target_far < 1.0:
        raise config_lib.ConfigError(
            f"eval.target_far={config.eval.target_far} must be in (0, 1)")
    strategy = Strategy(config.train.parallel)
    batch_size = config.train.identities_per_batch * config.train.images_per_identity
    check_train_options(config, batch_size)
    if config.train.identities_per_batch % config.train.grad_accum_steps:
        # Batches are identity-major: whole identities per micro-batch keep every
        # micro-batch's triplets minable (mining then runs within each micro-batch).
        raise config_lib.ConfigError(
            f"train.grad_accum_steps={config.train.grad_accum_steps} must divide "
            f"train.identities_per_batch={config.train.identities_per_batch}, so that "
            f"each micro-batch holds whole identities")
    strategy.check_batch_size(batch_size, config.train.grad_accum_steps)
    eval_batch_size = config.eval.batch_size
    workdir = prepare_workdir(workdir, config)

    data = sources.load_identity_images(config.data, seed=config.seed)
    log.info("data: %s; %d / %d / %d people in train / validation / test",
             data.description, *(len(np.unique(data.labels[s]))
                                 for s in ("train", "validation", "test")))
    mean, std = transforms.channel_stats(sample_images(data.train, seed=config.seed))
    transform = face_example(mean, std)
    train_batches = face_train_batches(config, data, transform)
    init_rng, step_rng = jax.random.split(jax.random.key(config.seed))
    state = create_state(config, init_rng, config.train.steps)

    # Validation: verification accuracy on pairs of validation people.
    e = config.eval
    val_pairs = make_pairs(data.labels["validation"], num_folds=e.num_folds,
                           matched_per_fold=e.validation_pairs_per_fold,
                           mismatched_per_fold=e.validation_pairs_per_fold,
                           seed=config.seed)

    encode = encoder(config)

    def validate(placed_state):
        emb = embed(encode, strategy.unreplicate(placed_state), data.validation, transform,
                    eval_batch_size)
        d = np.linalg.norm(emb[val_pairs.a] - emb[val_pairs.b], axis=1)
        acc = metrics.verification_pairs_accuracy(d, val_pairs.same, val_pairs.fold,
                                                  e.num_folds)["accuracy"]
        return {"val/verification_accuracy": float(acc)}

    fit = loop.fit(
        state, train_step=face_train_step(config.augment, mean, std),
        train_batches=train_batches,
        steps_per_epoch=config.train.eval_every_steps, global_batch_size=batch_size,
        rng=step_rng, strategy=strategy, workdir=workdir, validate=validate,
        early_stopping=loop.EarlyStopping.from_config(config.train.early_stopping),
        log_every=config.train.log_every, progress=progress, **fit_options(config, workdir),
        meta={"normalization": {"mean": mean.tolist(), "std": std.tolist()}})
    if jax.process_index() != 0:
        return {}

    # Evaluate the best checkpoint on people never seen in training, in colour and
    # in greyscale (the same pictures, BT.601 luma in all 3 channels).
    best, _ = checkpoint.restore_params(workdir / "checkpoints", fit.state, "best")
    test_labels = data.labels["test"]
    options = evaluation_options(e, config.seed)
    test_emb = embed(encode, best, data.test, transform, eval_batch_size)
    report = evaluate_embeddings(test_emb, test_labels, **options)
    test_images = sample_images(data.test, max_images=len(data.test))
    grey_emb = embed(encode, best, sources.Greyscale(data.test), transform, eval_batch_size)
    results = dict(report.results)
    # Decision thresholds calibrated on the validation people (never test), and the
    # test people scored at them.
    val_emb = embed(encode, best, data.validation, transform, eval_batch_size)
    results.update(threshold_report(
        val_emb, data.labels["validation"], val_pairs, test_emb, test_labels,
        report.threshold, target_far=e.target_far, seed=config.seed,
        unknown_fraction=e.unknown_fraction, linkage=e.cluster_linkage))
    results.update({
        "raw_pixel_baseline": pixel_baseline(
            test_images, test_labels,
            **dict(options, kmeans_restarts=e.pixel_kmeans_restarts)),
        "test_greyscale": greyscale_results(grey_emb, test_images, test_labels, **options),
        "data": {"description": data.description, "skipped_files": data.skipped_files,
                 **{f"{s}_people": int(len(np.unique(data.labels[s])))
                    for s in ("train", "validation", "test")},
                 **{f"{s}_images": len(data.labels[s])
                    for s in ("train", "validation", "test")}},
        **run_record(config, strategy, fit, best,
                     best_metric="best_val_verification_accuracy"),
    })
    if config.train.seeds > 1:
        results["seeds"] = run_seed_study(config, data, transform, mean, std, workdir,
                                          progress=progress)
    for r in (results, results["test_greyscale"]):
        _name_tar(r, e.far)
    write_json(workdir / "results.json", results)
    run_plots(workdir, data, test_images, test_emb, report)
    return results


def _name_tar(results: dict, far: float) -> dict:
    """results.json names the TAR at the configured FAR `tar_at_far_1e-3`."""
    results["verification"]["tar_at_far_1e-3"] = results["verification"].pop(
        f"tar_at_far_{far:g}")
    return results


def run_seed_study(config, data, transform, mean, std, workdir: Path, *,
                   progress=True) -> dict:
    """`train.seeds` encoders (seeds seed, seed+1, ...) trained together for all
    their steps (the last weights, no checkpoint selection), each evaluated on the
    test people; every test metric's mean, std and per-seed values."""
    t, e = config.train, config.eval
    encode, options = encoder(config), evaluation_options(e, config.seed)
    return replicas.seed_study_report(
        make_state=lambda key: create_state(config, key, t.steps),
        make_batches=lambda seed: face_train_batches(config, data, transform, seed=seed,
                                                     process_index=0, process_count=1),
        test=lambda state: _name_tar(evaluate_embeddings(
            embed(encode, state, data.test, transform, e.batch_size), data.labels["test"],
            **options).results, e.far),
        seed=config.seed, count=t.seeds, mode=t.seeds_mode, steps=t.steps,
        train_step=face_train_step(config.augment, mean, std),
        plot_path=Path(workdir) / "plots" / "seeds.png", plot_metrics=SEED_PLOT_METRICS,
        title="Face encoder, test people", progress=progress)


# -- deployment verbs ---------------------------------------------------------
def load_encoder(workdir: str | Path, threshold: str | float | None = None, *,
                 default: str = "far"):
    """(config, state of the best checkpoint, transform, Threshold) of a finished run;
    `threshold` and `default` as `choose_threshold`."""
    run = load_finished_run(workdir, create_state)
    norm = run.meta["normalization"]
    chosen = choose_threshold(run.results, threshold, workdir=workdir, default=default)
    return run.config, run.state, face_example(norm["mean"], norm["std"]), chosen


def verify(workdir, a: str, b: str, *, threshold=None, out=None) -> int:
    config, state, transform, chosen = load_encoder(workdir, threshold)
    emb, good, errors = embed_files(config, state, transform, [a, b])
    if errors:
        raise images.ImageError("; ".join(e for _, e in errors))
    distance = float(np.linalg.norm(emb[0] - emb[1]))
    print(json.dumps({"distance": round(distance, 6), "same": distance < chosen.value,
                      **chosen.fields()}), file=out)
    return 0


def identify(workdir, gallery: str, probes: list[str], *, threshold=None, out=None) -> int:
    config, state, transform, chosen = load_encoder(workdir, threshold)
    folder = images.ImageFolder(gallery, size=config.data.image_size)
    gallery_emb = embed_pictures(config, state, transform, folder.images)
    emb, good, errors = embed_files(config, state, transform, images.expand_image_paths(probes))
    for path, err in [*folder.skipped, *errors]:  # gallery files not enrolled, then probes
        print(json.dumps({"path": path, "error": err}), file=out)
    names = [folder.class_names[label] for label in folder.labels]
    for path, probe in zip(good, emb):
        name, distance = nearest_identity(gallery_emb, names, probe, chosen.value)
        print(json.dumps({"path": path, "identity": name, "distance": round(distance, 6),
                          **chosen.fields()}), file=out)
    return 1 if probes and not good else 0


def cluster(workdir, folder: str, k: int | None = None, *, threshold=None, out=None) -> int:
    """k-means with `k`; without it, agglomerative clustering (the run's
    eval.cluster_linkage) cut at a distance threshold (default: the accuracy-optimal
    one of the validation people), then a last line with the number of people found."""
    if k is not None and k < 1:
        raise UserError(f"--k {k}: the number of clusters must be at least 1")
    if k is not None and threshold is not None:
        raise UserError("--k and a threshold exclude each other: --k is k-means, a "
                        "threshold cuts the agglomerative clustering without k")
    config, state, transform, chosen = load_encoder(
        workdir, threshold, default="accuracy_validation")
    files = images.list_image_files(folder)
    emb, good, errors = embed_files(config, state, transform, files)
    for path, err in errors:
        print(json.dumps({"path": path, "error": err}), file=out)
    if k is not None and len(good) < k:
        raise images.ImageError(f"{folder}: {len(good)} readable images, fewer than k={k}")
    if k is not None:
        assignments = cluster_embeddings(emb, k)
    else:
        linkage = config.eval.get("cluster_linkage", "average")
        assignments = agglomerative(emb, chosen.value, linkage)
    for path, c in zip(good, assignments):
        print(json.dumps({"path": path, "cluster": int(c)}), file=out)
    if k is None:
        print(json.dumps({"people_found": int(assignments.max()) + 1 if len(good) else 0,
                          "images": len(good), "linkage": linkage,
                          **chosen.fields()}), file=out)
    return 0


def embed_verb(workdir, paths: list[str], prefix: str, *, out=None) -> int:
    """Writes PREFIX.npy (float32 [N, D]: one row per readable image, in input order)
    and PREFIX.jsonl (one line per image: {"index", "path"}, or {"path", "error"} and
    no row); prints one summary line. Exit 1 when images were given but none read."""
    run = load_finished_run(workdir, create_state)   # no threshold needed
    config, state = run.config, run.state
    transform = face_example(run.meta["normalization"]["mean"],
                             run.meta["normalization"]["std"])
    matrix, lines = embed_files_indexed(config, state, transform,
                                        images.expand_image_paths(paths),
                                        max(1, int(config.eval.batch_size)))
    prefix = Path(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    npy, jsonl = Path(f"{prefix}.npy"), Path(f"{prefix}.jsonl")
    np.save(npy, matrix.astype(np.float32))
    jsonl.write_text("".join(json.dumps(line) + "\n" for line in lines))
    print(json.dumps({"embeddings": str(npy), "index": str(jsonl), "rows": len(matrix),
                      "dim": int(matrix.shape[1]),
                      "errors": sum("error" in line for line in lines)}), file=out)
    return 1 if lines and not len(matrix) else 0


# -- command line -------------------------------------------------------------
def _train_args(p: argparse.ArgumentParser) -> None:
    """Train and evaluate (the default verb)."""
    cli.add_train_arguments(p, DEFAULT_CONFIG)


def _threshold_arguments(p: argparse.ArgumentParser, default: str) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument("--far", dest="threshold_choice", action="store_const", const="far",
                       help="the threshold calibrated on the validation people for the "
                            "run's eval.target_far" + (" (default)" if default == "far" else ""))
    group.add_argument("--accuracy-threshold", dest="threshold_choice",
                       action="store_const", const="accuracy",
                       help="the accuracy-optimal threshold (results.json "
                            "verification.threshold)")
    group.add_argument("--threshold", dest="threshold_value", type=float, metavar="X",
                       help="an explicit L2 distance")


def _threshold_choice(args):
    return args.threshold_value if args.threshold_value is not None else args.threshold_choice


def _verify_args(p: argparse.ArgumentParser) -> None:
    """Are two face images the same person? Prints distance, verdict, threshold."""
    p.add_argument("--workdir", required=True)
    p.add_argument("images", nargs=2)
    _threshold_arguments(p, "far")


def _identify_args(p: argparse.ArgumentParser) -> None:
    """Who is in each probe image (files or folders of them), among a gallery folder
    (one sub-folder per person)?"""
    p.add_argument("--workdir", required=True)
    p.add_argument("--gallery", required=True)
    p.add_argument("probes", nargs="+", help="image files (any format Pillow opens) "
                   "or folders of them")
    _threshold_arguments(p, "far")


def _cluster_args(p: argparse.ArgumentParser) -> None:
    """Group the face images of a folder: into k clusters (k-means) with --k, else into
    as many people as it finds (agglomerative, cut at a distance threshold: by
    default the accuracy-optimal one of the validation people)."""
    p.add_argument("--workdir", required=True)
    p.add_argument("folder")
    p.add_argument("--k", type=int, default=None)
    _threshold_arguments(p, "accuracy")


def _embed_args(p: argparse.ArgumentParser) -> None:
    """Embed face images (files or folders of them): PREFIX.npy and PREFIX.jsonl."""
    p.add_argument("--workdir", required=True)
    p.add_argument("paths", nargs="+", help="image files or folders of them")
    p.add_argument("--out", required=True, metavar="PREFIX")


def export(workdir: str | Path, out_dir: str | Path | None = None, *, out=None) -> int:
    """Writes the best checkpoint's encoder with jax.export (`export_encoder`: the
    verbs' default decision threshold in its signature); prints one JSON line."""
    from jaxdl import serving
    run = load_finished_run(workdir, create_state)
    out_dir = serving.export_dir(workdir, out_dir)
    signature = export_encoder(run.config, run.state, run.meta["normalization"],
                               choose_threshold(run.results, workdir=workdir), out_dir)
    print(json.dumps(serving.summary_line(out_dir, signature)), file=out, flush=True)
    return 0


def main(argv=None) -> int:
    verb, args, overrides = config_lib.parse_command(
        argv, verbs={"train": _train_args, "verify": _verify_args,
                     "identify": _identify_args, "cluster": _cluster_args,
                     "embed": _embed_args, "export": serving_export_arguments},
        prog="python -m experiments.face_verification")
    if verb == "export":
        return export(args.workdir, args.out)
    if verb == "verify":
        return verify(args.workdir, *args.images, threshold=_threshold_choice(args))
    if verb == "identify":
        return identify(args.workdir, args.gallery, args.probes,
                        threshold=_threshold_choice(args))
    if verb == "cluster":
        return cluster(args.workdir, args.folder, args.k, threshold=_threshold_choice(args))
    if verb == "embed":
        return embed_verb(args.workdir, args.paths, args.out)
    config = config_lib.config_or_exit(args.config, overrides)
    cli.initialize_distributed(args)
    t0 = time.perf_counter()
    results = train_and_evaluate(config, args.workdir, progress=not args.no_progress)
    if jax.process_index() == 0:
        grey, raw = results["test_greyscale"], results["raw_pixel_baseline"]
        print(json.dumps({
            **{f"{prefix}{name}": round(r[group][key], 4)
               for prefix, r in (("", results), ("greyscale_", grey))
               for name, group, key in (("verification_accuracy", "verification", "accuracy"),
                                        ("identification_top1", "identification", "top1"),
                                        ("clustering_nmi", "clustering", "nmi"))},
            "raw_pixel_verification_accuracy": round(raw["verification_accuracy"], 4),
            "raw_pixel_top1": round(raw["top1"], 4),
            "open_set_rejection_at_target_far": results["test_at_target_far"][
                "open_set_rejection"],
            "people_found_without_k": results["clustering_without_k"]["people_found"],
            "workdir": str(args.workdir), "seconds": round(time.perf_counter() - t0, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
