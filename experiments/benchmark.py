"""Benchmarks of the case studies' training steps, on any backend.

    python -m experiments.benchmark --config configs/benchmark.py[:quick] --workdir DIR
    python -m experiments.benchmark compare A/results.json B/results.json [...]
    python -m experiments.benchmark kfold [--k 5] [--batch-size 64]

`run` (the default verb): for each case study's training step (day'n'night CNN,
face encoder with batch-all triplet mining, the style-transfer pixel step on
VGG19, the trigger-word Conv1D + GRU), each parallel strategy (single jit, pmap,
jit of shard_map), each batch size and each compute dtype (float32, bfloat16:
the experiment config's train.dtype; parameters stay float32): compile time; the
median and spread of device-synchronised steps after warm-up; examples per
second; FLOPs per step from XLA's cost analysis, achieved FLOP/s and its
fraction of the device's matmul peak (measured in the same run); memory. Then
each experiment's input pipeline: examples per second, and that over what the
step consumes (`pipeline_batches=0`: none). Writes
DIR/results.json (with device, host, versions and XLA flags) after every row,
and DIR/results.md, the tables (with each dtype's step time against float32's).
With profile.num_steps > 0, each row's timed steps from profile.start_step on
are traced into DIR/profile/<case>-<strategy>-b<batch>-<dtype>/.

`compare`: lines up results files from different machines (by case, strategy,
batch and dtype), with speedups over the first.

`kfold`: one training step of K day'n'night CNNs vmapped over a fold axis in one
program, against K steps of the same CNN one after another.
"""

from __future__ import annotations

import argparse
import copy
import functools
import json
import logging
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import benchmarking, cli
from jaxdl import config as config_lib
from jaxdl.benchmarking import Workload, train_workload, with_data

DEFAULT_CONFIG = "configs/benchmark.py"
CONFIGS = Path(__file__).resolve().parents[1] / "configs"
log = logging.getLogger("benchmark")


def experiment_config(name: str, preset: str, dtype: str | None = None):
    """The experiment's own config (configs/<name>.py, at `preset`), with its
    compute dtype `train.dtype` set to `dtype` (None: the preset's)."""
    config = config_lib.load_config(f"{CONFIGS / name}.py" + (f":{preset}" if preset else ""))
    if dtype is not None:
        config.train.dtype = dtype
    return config


def check_config(bench) -> None:
    """Refuses, before any work, a plan that cannot run (ConfigError)."""
    benchmarking.check_plan(bench.cases, bench.strategies, tuple(WORKLOADS), bench.dtypes)
    p = bench.profile
    if int(p.start_step) < 1 or int(p.num_steps) < 0:
        raise config_lib.ConfigError(
            f"config keys 'profile.start_step' ({p.start_step}) must be >= 1 and "
            f"'profile.num_steps' ({p.num_steps}) >= 0")
    if int(p.num_steps) and int(p.start_step) + int(p.num_steps) - 1 > int(bench.repeats):
        raise config_lib.ConfigError(
            f"profile steps {p.start_step}-{int(p.start_step) + int(p.num_steps) - 1} lie "
            f"past the {bench.repeats} timed steps of a row ('repeats'); the profile "
            "counts timed steps from 1")


# -- what is timed: each experiment's own step, on a random batch ---------------------
def day_night_workload(config, strategy, batch_size: int) -> Workload:
    """The day'n'night CNN's train step (binary cross-entropy) on a batch."""
    from experiments import day_night
    size = config.data.image_size
    labels = np.random.default_rng(1).integers(0, 2, batch_size).astype(np.int32)
    batch = benchmarking.random_batch((batch_size, size, size, 3), label=labels)
    state = day_night.create_state(config, jax.random.key(0), 1000)
    return train_workload(state, batch, strategy)


def face_verification_workload(config, strategy, batch_size: int) -> Workload:
    """The face encoder's train step, batch-all triplet mining over the global batch
    of P people x K images (K from the config, P = batch_size / K)."""
    from experiments import face_verification
    k = config.train.images_per_identity
    if batch_size % k:
        raise config_lib.ConfigError(f"face batches are P x {k} images; {batch_size} is "
                                     f"not a multiple of {k}")
    size = config.data.image_size
    batch = benchmarking.random_batch(
        (batch_size, size, size, 3),
        identity=np.repeat(np.arange(batch_size // k), k).astype(np.int32))
    state = face_verification.create_state(config, jax.random.key(0), 1000)
    return train_workload(state, batch, strategy)


def style_transfer_workload(config, strategy, batch_size: int) -> Workload:
    """The style-transfer pixel step (VGG19 forward and backward, Adam on the
    pixels) on `batch_size` images of config.image_size, each with its own targets."""
    from experiments import style_transfer as experiment
    from jaxdl.tasks.style import transfer as style_transfer
    from jaxdl.tasks.style import vgg
    size = config.image_size
    params = vgg.init_vgg19(config.model.random_seed, widths=tuple(config.model.widths))
    problem = experiment.build_problem(config, "torchvision")
    tx = style_transfer.make_optimizer(config.optim.name, config.optim.learning_rate,
                                       lbfgs_memory=config.optim.lbfgs_memory)
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(batch_size, size, size, 3)).astype(np.float32)
    style = rng.uniform(size=(size, size, 3)).astype(np.float32)
    targets = style_transfer.compute_targets(problem, params, images, [style])
    carry = {"images": images, "opt_state": jax.vmap(tx.init)(jnp.asarray(images)),
             "targets": targets}
    step = style_transfer.batched_step(problem, tx)

    def pixel_step(params, carry):
        images, opt_state, _ = step(params, carry["images"], carry["opt_state"],
                                    carry["targets"])
        return {"images": images, "opt_state": opt_state, "targets": carry["targets"]}

    return benchmarking.map_workload(pixel_step, params, jax.device_get(carry), strategy,
                                     batch_size)


def trigger_word_workload(config, strategy, batch_size: int, unroll: int | None = None
                          ) -> Workload:
    """The trigger-word model's train step (per-step weighted BCE) on a batch of
    normalised spectrograms [B, Tx, F] and labels [B, Ty]."""
    from experiments import trigger_word
    if unroll is not None:
        config = copy.deepcopy(config)
        config.model.unroll = unroll
    features = trigger_word.feature_spec(config)
    frames = features.num_frames(trigger_word.clip_spec(config).num_samples)
    steps = trigger_word.output_steps(config)
    labels = np.random.default_rng(1).integers(0, 2, (batch_size, steps))
    batch = benchmarking.random_batch((batch_size, frames, features.num_bins),
                                      labels=labels.astype(np.float32))
    state = trigger_word.create_state(config, jax.random.key(0), 1000)
    return train_workload(
        state, batch, strategy, loop_trips=steps, unroll=config.model.unroll,
        unrolled=lambda u: trigger_word_workload(config, strategy, batch_size, u))


WORKLOADS = {"day_night": day_night_workload,
             "face_verification": face_verification_workload,
             "style_transfer": style_transfer_workload,
             "trigger_word": trigger_word_workload}


def default_batch_size(name: str, config) -> int:
    """The batch size the experiment trains with (1 image for style transfer)."""
    if name == "face_verification":
        return config.train.identities_per_batch * config.train.images_per_identity
    if name == "style_transfer":
        return 1
    return config.train.batch_size


# -- input pipelines: each experiment's own data functions --------------------------
def day_night_pipeline(config, data_dir: str, batches: int):
    """The experiment's training batches: stored generated images -> augment ->
    normalise -> batch."""
    from experiments import day_night
    from jaxdl.data import image_classification, pipeline, transforms
    config = with_data(config, data_dir, train_size=config.train.batch_size * (batches + 2),
                       validation_size=16, test_size=16)
    data = day_night.load_data(config)
    mean, std = transforms.channel_stats(image_classification.sample_images(data.train))
    return pipeline.training_batches(
        data.train, global_batch_size=config.train.batch_size, seed=0, num_epochs=1,
        transform=transforms.classification_example(mean, std),
        augment=transforms.augmentation_from_config(config.augment))


def face_verification_pipeline(config, data_dir: str, batches: int):
    """The experiment's P x K identity batches of augmented, normalised faces."""
    from experiments import face_verification
    from jaxdl.data import pipeline, transforms
    from jaxdl.tasks.faces import sources as identities
    from jaxdl.data.image_classification import sample_images
    config = with_data(config, data_dir, validation_identities=4, test_identities=4,
                       train_identities=max(64, 2 * config.train.identities_per_batch))
    data = identities.load_identity_images(config.data, seed=0)
    mean, std = transforms.channel_stats(sample_images(data.train))
    return pipeline.identity_batches(
        data.train, data.labels["train"],
        identities_per_batch=config.train.identities_per_batch,
        images_per_identity=config.train.images_per_identity, num_steps=batches + 2,
        seed=0, transform=face_verification.face_example(mean, std),
        augment=transforms.augmentation_from_config(config.augment))


def trigger_word_pipeline(config, data_dir: str, batches: int):
    """The experiment's batches: clip layouts -> render the audio -> log spectrogram
    -> normalise, with labels (from a small eSpeak word bank: rendering costs the
    same per clip whatever the bank's size)."""
    from experiments import trigger_word as experiment
    from jaxdl.data import pipeline
    from jaxdl.tasks.trigger_word import generator, sources
    d = config.data
    config = with_data(config, data_dir, train_positive_words=min(d.train_positive_words, 24),
                       train_negative_words=min(d.train_negative_words, 72))
    spec, features = experiment.clip_spec(config), experiment.feature_spec(config)
    bank = sources.load_banks(config.data, spec, progress=False, splits=("train",))[0]["train"]
    batch_size = config.train.batch_size
    source = generator.ClipLayouts(bank, spec, 0, "train", batch_size * (batches + 2))
    maker = generator.BatchMaker(bank, spec, features, experiment.output_steps(config))
    maker.mean, maker.std = generator.feature_stats(maker, source, n=8)
    return pipeline.training_batches(source, global_batch_size=batch_size, seed=0,
                                     num_epochs=1, transform=lambda ex: ex).map(maker)


PIPELINES = {"day_night": day_night_pipeline,
             "face_verification": face_verification_pipeline,
             "style_transfer": None,  # no per-step input: the pixels are what is trained
             "trigger_word": trigger_word_pipeline}


# -- the recipe -------------------------------------------------------------------------
def run(bench, workdir, *, progress: bool = True) -> dict:
    """Every case x strategy x batch size, then the pipelines; results.json is
    rewritten after each row so an interrupted run keeps what it measured."""
    from tqdm.auto import tqdm
    from jaxdl.train.parallel import Strategy
    from jaxdl.workdir import prepare_workdir
    from jaxdl.train.profiling import StepProfiler
    check_config(bench)
    workdir = prepare_workdir(workdir, bench)
    platform = jax.default_backend()
    results = benchmarking.start_results(config_lib.config_to_dict(bench),
                                         bench.matmul_size or None)
    env, peak = results["environment"], results["matmul_peak"]
    log.info("%s x %d (%s); matmul peak %.1f GFLOP/s (n=%d)", env["device_kind"],
             env["device_count"], platform, peak["flops_per_second"] / 1e9, peak["n"])
    dtypes = tuple(bench.dtypes)
    plan = [(name, strategy, batch, dtype) for name in bench.cases
            for batch in bench[name].batch_sizes for strategy in bench.strategies
            for dtype in dtypes]
    configs = {(name, dtype): experiment_config(name, bench[name].preset, dtype)
               for name in bench.cases for dtype in dtypes}
    pipelines = bench.cases if bench.pipeline_batches > 0 else ()
    bar = tqdm(total=len(plan) + len(pipelines), desc="benchmark", unit="row",
               disable=not progress)
    strategies = {}
    for name, strategy_name, batch, dtype in plan:
        strategy = strategies.setdefault(strategy_name, Strategy(strategy_name))
        trace = benchmarking.row_name(dict(case=name, strategy=strategy_name, batch=batch,
                                           dtype=dtype))
        row = benchmarking.step_row(
            name, strategy, batch, functools.partial(WORKLOADS[name], configs[name, dtype],
                                                     strategy, batch),
            warmup=bench.warmup, repeats=bench.repeats, peak=peak["flops_per_second"],
            platform=platform, dtype=dtype,
            profiler=StepProfiler.from_config(workdir / "profile" / trace, bench.profile),
            profile_dir=f"profile/{trace}")
        if "reason" in row:
            results["skipped"].append(row)
        else:
            results["steps"].append(row)
            log.info("%s %s batch %d %s: %.1f ms/step (compile %.1f s)", name,
                     strategy_name, batch, dtype, row["step_ms"], row["compile_s"])
        benchmarking.save_results(workdir, results)
        bar.update()
    for name in pipelines:
        # The pipeline feeds the experiment's step: set against it in the
        # experiment's own dtype (float32 unless its preset says otherwise).
        config = experiment_config(name, bench[name].preset)
        make = PIPELINES[name] and functools.partial(
            PIPELINES[name], config, bench.data_dir, bench.pipeline_batches)
        results["pipelines"].append(benchmarking.measure_pipeline(
            name, default_batch_size(name, config), make, bench.pipeline_batches,
            results["steps"], dtype=config.train.dtype))
        benchmarking.save_results(workdir, results)
        bar.update()
    bar.close()
    return results


# -- command line -----------------------------------------------------------------------
def _run_args(p: argparse.ArgumentParser) -> None:
    """Benchmark every case study's training step (see configs/benchmark.py)."""
    config_lib.add_config_arguments(p, DEFAULT_CONFIG)
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _compare_args(p: argparse.ArgumentParser) -> None:
    """Line up results.json files from different machines, with speedups."""
    p.add_argument("results", nargs="+", help="results.json files; the first is the reference")
    p.add_argument("--value", default="step_ms",
                   choices=("step_ms", "examples_per_s", "compile_s", "gflops"),
                   help="the figure to line up (rows: case, strategy, batch, dtype)")


def _kfold_args(p: argparse.ArgumentParser) -> None:
    """K day'n'night CNNs vmapped in one program vs one after another."""
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--repeats", type=int, default=15)


def main(argv=None) -> int:
    """The command line (see the module doc): run, compare or kfold; the exit code."""
    verb, args, overrides = config_lib.parse_command(
        argv, verbs={"run": _run_args, "compare": _compare_args, "kfold": _kfold_args},
        default_verb="run", prog="python -m experiments.benchmark")
    if verb == "compare":
        print(benchmarking.compare_results(args.results, args.value))
        return 0
    if verb == "kfold":
        from jaxdl.tasks.day_night.model import ShallowCNN
        print(json.dumps(benchmarking.kfold_step(ShallowCNN(), args.k, args.batch_size,
                                                 args.image_size, args.repeats)))
        return 0
    bench = config_lib.config_or_exit(args.config, overrides)
    benchmarking.force_host_devices(bench.host_devices)
    t0 = time.perf_counter()
    results = run(bench, args.workdir, progress=not args.no_progress)
    print(benchmarking.results_markdown(results))
    print(json.dumps({"workdir": str(args.workdir), "rows": len(results["steps"]),
                      "seconds": round(time.perf_counter() - t0, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
