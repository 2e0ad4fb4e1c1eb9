"""Benchmarks of the case studies' training steps, on any backend.

    python -m experiments.benchmark --config configs/benchmark.py[:quick] --workdir DIR
    python -m experiments.benchmark compare A/results.json B/results.json [...]
    python -m experiments.benchmark kfold [--k 5] [--batch-size 64]

`run` (the default verb): for each case study's training step (day'n'night CNN,
face encoder with batch-all triplet mining, the style-transfer pixel step on
VGG19, the trigger-word Conv1D + GRU), each parallel strategy (single jit, pmap,
jit of shard_map) and each batch size: compile time; the median and spread of
device-synchronised steps after warm-up; examples per second; FLOPs per step
from XLA's cost analysis, achieved FLOP/s and its fraction of the device's matmul
peak (measured in the same run); memory. Then each experiment's input pipeline:
examples per second, and that over what the step consumes. Writes
DIR/results.json (with device, host, versions and XLA flags) after every row,
and DIR/results.md, the tables.

`compare`: lines up results files from different machines, with speedups over
the first.

`kfold`: one training step of K day'n'night CNNs vmapped over a fold axis in one
program, against K steps of the same CNN one after another.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import functools
import json
import logging
import os
import re
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

from jaxdl import cli
from jaxdl import config as config_lib
from jaxdl.data.sources import DataError

DEFAULT_CONFIG = "configs/benchmark.py"
log = logging.getLogger("benchmark")
RESULTS_VERSION = 1
HOST_DEVICES_FLAG = "--xla_force_host_platform_device_count"


# -- what is timed --------------------------------------------------------------------
@dataclasses.dataclass
class Workload:
    """One compiled step to time: `out = fn(*args)`, then `args = advance(out, args)`.

    fn: a jax.jit / jax.pmap function, not yet compiled. loop_trips: the trip count
    of the step's loops (all equal) when it has any, else 0; `unrolled(u)` then
    rebuilds the workload with its loop bodies unrolled u times (for FLOP counts).
    """

    fn: Callable
    args: tuple
    advance: Callable
    examples: int
    loop_trips: int = 0
    unroll: int = 1
    unrolled: Callable | None = None


def _train_workload(state, batch: dict, strategy, **loops) -> Workload:
    """A `jaxdl.train.steps.train_step` of `state` on `batch` under `strategy`."""
    import jax
    from jaxdl.train.steps import train_step
    fn = strategy.compile_train_step(train_step)
    args = (strategy.replicate(state), strategy.shard_batch(batch), jax.random.key(0))
    return Workload(fn, args, lambda out, a: (out[0],) + a[1:], len(batch["inputs"]),
                    **loops)


def _ids(batch_size: int) -> np.ndarray:
    return np.arange(batch_size, dtype=np.int64)


CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def experiment_config(name: str, preset: str):
    """The experiment's own config (configs/<name>.py, at `preset`)."""
    return config_lib.load_config(f"{CONFIGS / name}.py" + (f":{preset}" if preset else ""))


def day_night_workload(config, strategy, batch_size: int) -> Workload:
    """The day'n'night CNN's train step (binary cross-entropy) on a batch."""
    import jax
    from experiments import day_night
    size = config.data.image_size
    rng = np.random.default_rng(0)
    batch = {"inputs": rng.normal(size=(batch_size, size, size, 3)).astype(np.float32),
             "label": rng.integers(0, 2, batch_size).astype(np.int32),
             "id": _ids(batch_size)}
    state = day_night.create_state(config, jax.random.key(0), 1000)
    return _train_workload(state, batch, strategy)


def face_verification_workload(config, strategy, batch_size: int) -> Workload:
    """The face encoder's train step, batch-all triplet mining over the global batch
    of P people x K images (K from the config, P = batch_size / K)."""
    import jax
    from experiments import face_verification
    k = config.train.images_per_identity
    if batch_size % k:
        raise config_lib.ConfigError(f"face batches are P x {k} images; {batch_size} is "
                                     f"not a multiple of {k}")
    size = config.data.image_size
    rng = np.random.default_rng(0)
    batch = {"inputs": rng.normal(size=(batch_size, size, size, 3)).astype(np.float32),
             "identity": np.repeat(np.arange(batch_size // k), k).astype(np.int32),
             "id": _ids(batch_size)}
    state = face_verification.create_state(config, jax.random.key(0), 1000)
    return _train_workload(state, batch, strategy)


def style_transfer_workload(config, strategy, batch_size: int) -> Workload:
    """The style-transfer pixel step (VGG19 forward and backward, Adam on the
    pixels) on `batch_size` images of config.image_size, each with its own targets."""
    import jax
    import jax.numpy as jnp
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
    step = jax.vmap(functools.partial(style_transfer.transfer_step, problem, tx),
                    in_axes=(None, 0, 0, 0))

    def pixel_step(params, carry):
        images, opt_state, _ = step(params, carry["images"], carry["opt_state"],
                                    carry["targets"])
        return {"images": images, "opt_state": opt_state, "targets": carry["targets"]}

    fn = strategy.compile_map(pixel_step, donate_argnums=(1,))
    args = (strategy.replicate(params), strategy.shard_batch(jax.device_get(carry)))
    return Workload(fn, args, lambda out, a: (a[0], out), batch_size)


def trigger_word_workload(config, strategy, batch_size: int, unroll: int | None = None
                          ) -> Workload:
    """The trigger-word model's train step (per-step weighted BCE) on a batch of
    normalised spectrograms [B, Tx, F] and labels [B, Ty]."""
    import jax
    from experiments import trigger_word
    if unroll is not None:
        config = copy.deepcopy(config)
        config.model.unroll = unroll
    features = trigger_word.feature_spec(config)
    frames = features.num_frames(trigger_word.clip_spec(config).num_samples)
    steps = trigger_word.output_steps(config)
    rng = np.random.default_rng(0)
    batch = {"inputs": rng.normal(size=(batch_size, frames, features.num_bins)
                                  ).astype(np.float32),
             "labels": rng.integers(0, 2, (batch_size, steps)).astype(np.float32),
             "id": _ids(batch_size)}
    state = trigger_word.create_state(config, jax.random.key(0), 1000)
    return _train_workload(
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


# -- input pipelines ----------------------------------------------------------------
def day_night_pipeline(config, data_dir: str, batches: int):
    """The experiment's training batches: stored generated images -> augment ->
    normalise -> batch."""
    from experiments import day_night
    from jaxdl.data import image_classification, pipeline, transforms
    config = _with_data(config, data_dir, train_size=config.train.batch_size * (batches + 2),
                        validation_size=16, test_size=16)
    data = day_night.load_data(config)
    mean, std = transforms.channel_stats(image_classification.sample_images(data.train))
    ds = pipeline.training_batches(
        data.train, global_batch_size=config.train.batch_size, seed=0, num_epochs=1,
        transform=transforms.classification_example(mean, std),
        augment=transforms.augmentation_from_config(config.augment))
    return ds


def face_verification_pipeline(config, data_dir: str, batches: int):
    """The experiment's P x K identity batches of augmented, normalised faces."""
    from experiments import face_verification
    from jaxdl.data import pipeline, transforms
    from jaxdl.tasks.faces import sources as identities
    from jaxdl.data.image_classification import sample_images
    config = _with_data(config, data_dir, validation_identities=4, test_identities=4,
                        train_identities=max(64, 2 * config.train.identities_per_batch))
    data = identities.load_identity_images(config.data, seed=0)
    mean, std = transforms.channel_stats(sample_images(data.train))
    ds = pipeline.identity_batches(
        data.train, data.labels["train"],
        identities_per_batch=config.train.identities_per_batch,
        images_per_identity=config.train.images_per_identity, num_steps=batches + 2,
        seed=0, transform=face_verification.face_example(mean, std),
        augment=transforms.augmentation_from_config(config.augment))
    return ds


def trigger_word_pipeline(config, data_dir: str, batches: int):
    """The experiment's batches: clip layouts -> render the audio -> log spectrogram
    -> normalise, with labels (from a small eSpeak word bank: rendering costs the
    same per clip whatever the bank's size)."""
    from experiments import trigger_word as experiment
    from jaxdl.data import pipeline
    from jaxdl.tasks.trigger_word import generator as trigger_word
    d = config.data
    config = _with_data(config, data_dir, train_positive_words=min(d.train_positive_words, 24),
                        train_negative_words=min(d.train_negative_words, 72))
    spec, features = experiment.clip_spec(config), experiment.feature_spec(config)
    bank = experiment.load_banks(config, progress=False, splits=("train",))[0]["train"]
    batch_size = config.train.batch_size
    source = trigger_word.ClipLayouts(bank, spec, 0, "train", batch_size * (batches + 2))
    maker = trigger_word.BatchMaker(bank, spec, features, experiment.output_steps(config))
    maker.mean, maker.std = trigger_word.feature_stats(maker, source, n=8)
    ds = pipeline.training_batches(source, global_batch_size=batch_size, seed=0,
                                   num_epochs=1, transform=lambda ex: ex).map(maker)
    return ds


PIPELINES = {"day_night": day_night_pipeline,
             "face_verification": face_verification_pipeline,
             "style_transfer": None,  # no per-step input: the pixels are what is trained
             "trigger_word": trigger_word_pipeline}


def _with_data(config, data_dir: str, **data):
    """A copy of `config` reading generated data from `data_dir`, with data fields set."""
    config = copy.deepcopy(config)
    if data_dir:
        config.data.data_dir = data_dir
    for k, v in data.items():
        setattr(config.data, k, v)
    return config


# -- measuring ------------------------------------------------------------------------
def measure_step(workload: Workload, *, warmup: int, repeats: int, devices: int,
                 peak: float, platform: str) -> dict:
    """Compile, cost and time one workload; the figures of one results row."""
    from jaxdl import benchmarking
    compiled, info = benchmarking.compile_stats(workload.fn, *workload.args)
    flops, note = info["flops"], None
    if flops is not None and workload.loop_trips and workload.unrolled is not None:
        u = workload.unroll
        if workload.loop_trips % (2 * u) == 0:
            twice = workload.unrolled(2 * u)
            _, info2 = benchmarking.compile_stats(twice.fn, *twice.args)
            flops = benchmarking.loop_flops(flops, info2["flops"], unroll=u,
                                            trip_count=workload.loop_trips)
            note = f"loops counted x{workload.loop_trips}"
        else:
            note = "loop bodies counted once"
    args = workload.args

    def call():
        nonlocal args
        out = compiled(*args)
        args = workload.advance(out, args)
        return out

    t = benchmarking.time_call(call, repeats=repeats, warmup=warmup)
    step_flops = None if flops is None else flops * devices  # per-device program x devices
    # Forced CPU "devices" share the host's cores: the peak is the host's, once.
    available = peak * (1 if platform == "cpu" else devices)
    achieved = None if step_flops is None else step_flops / t["median"]
    return {
        "compile_s": round(info["compile_seconds"], 3),
        "step_ms": round(t["median"] * 1e3, 3),
        "step_ms_p10": round(t["p10"] * 1e3, 3),
        "step_ms_p90": round(t["p90"] * 1e3, 3),
        "spread_pct": round(100 * (t["p90"] - t["p10"]) / t["median"], 1),
        "examples_per_s": round(workload.examples / t["median"], 1),
        "gflop_per_step": None if step_flops is None else round(step_flops / 1e9, 4),
        "gflops": None if achieved is None else round(achieved / 1e9, 2),
        "peak_fraction": None if achieved is None else round(achieved / available, 4),
        "flops_note": note,
        "program_memory_mb": (None if info["memory_bytes"] is None
                              else round(info["memory_bytes"] / 2 ** 20, 1)),
        "device_peak_memory_mb": _mb(benchmarking.peak_memory_bytes()),
        "repeats": repeats,
    }


def _mb(n):
    return None if n is None else round(n / 2 ** 20, 1)


def measure_pipeline(name: str, config, bench) -> dict | None:
    """The experiment's input pipeline's examples per second (None: it has none).

    Batches are made one after another on this thread (after one untimed batch,
    which compiles what the pipeline jits): a floor, since training also prefetches
    in background threads, but a fair one on a host whose cores the step also uses.
    """
    from jaxdl import benchmarking
    make = PIPELINES[name]
    if make is None:
        return None
    ds = make(config, bench.data_dir, bench.pipeline_batches)
    return benchmarking.iterator_throughput(lambda: (ds[i] for i in range(len(ds))),
                                            batches=bench.pipeline_batches)


def run(bench, workdir, *, progress: bool = True) -> dict:
    """Every case x strategy x batch size, then the pipelines; results.json is
    rewritten after each row so an interrupted run keeps what it measured."""
    import jax
    from jaxdl import benchmarking
    from jaxdl.train.parallel import STRATEGIES, Strategy
    from jaxdl.workdir import prepare_workdir, write_json
    unknown = [c for c in bench.cases if c not in WORKLOADS]
    bad = [s for s in bench.strategies if s not in STRATEGIES]
    if unknown or bad:
        raise config_lib.ConfigError(
            f"unknown {'cases ' + str(unknown) if unknown else 'strategies ' + str(bad)}; "
            f"cases: {', '.join(WORKLOADS)}; strategies: {', '.join(STRATEGIES)}")
    workdir = prepare_workdir(workdir, bench)
    platform = jax.default_backend()
    env = benchmarking.environment()
    peak = benchmarking.matmul_peak(bench.matmul_size or None)
    log.info("%s x %d (%s); matmul peak %.1f GFLOP/s (n=%d)", env["device_kind"],
             env["device_count"], platform, peak["flops_per_second"] / 1e9, peak["n"])
    results = {"version": RESULTS_VERSION, "environment": env, "matmul_peak": peak,
               "config": config_lib.config_to_dict(bench), "steps": [], "pipelines": [],
               "skipped": []}

    def save():
        write_json(workdir / "results.json", results)
        (workdir / "results.md").write_text(markdown(results) + "\n")

    plan = [(name, strategy, batch) for name in bench.cases
            for batch in bench[name].batch_sizes for strategy in bench.strategies]
    configs = {name: experiment_config(name, bench[name].preset) for name in bench.cases}
    bar = _progress(len(plan) + len(bench.cases), progress)
    strategies = {}
    for name, strategy_name, batch in plan:
        config = configs[name]
        strategy = strategies.setdefault(strategy_name, Strategy(strategy_name))
        row = {"case": name, "strategy": strategy_name, "devices": strategy.num_devices,
               "batch": batch}
        if batch % strategy.num_devices:
            results["skipped"].append(dict(row, reason=f"batch {batch} does not split over "
                                                       f"{strategy.num_devices} devices"))
        else:
            workload = WORKLOADS[name](config, strategy, batch)
            row.update(measure_step(workload, warmup=bench.warmup, repeats=bench.repeats,
                                    devices=strategy.num_devices,
                                    peak=peak["flops_per_second"], platform=platform))
            results["steps"].append(row)
            log.info("%s %s batch %d: %.1f ms/step (compile %.1f s)", name, strategy_name,
                     batch, row["step_ms"], row["compile_s"])
        save()
        bar.update()
    for name in bench.cases:
        config = configs[name]
        batch = default_batch_size(name, config)
        single = [r for r in results["steps"] if r["case"] == name and r["batch"] == batch
                  and r["strategy"] == "single"]
        row = {"case": name, "batch": batch}
        measured = measure_pipeline(name, config, bench)
        if measured is None:
            row["note"] = "no per-step input: the pixels are what is trained"
        else:
            row["examples_per_s"] = round(measured["examples_per_second"], 1)
            row["ms_per_batch"] = round(measured["seconds_per_batch"] * 1e3, 2)
            if single:
                step = single[0]["examples_per_s"]
                row["step_examples_per_s"] = step
                row["ratio"] = round(measured["examples_per_second"] / step, 2)
            log.info("%s pipeline: %.0f examples/s", name, measured["examples_per_second"])
        results["pipelines"].append(row)
        save()
        bar.update()
    bar.close()
    return results


def _progress(total: int, enabled: bool):
    from tqdm.auto import tqdm
    return tqdm(total=total, desc="benchmark", unit="row", disable=not enabled)


# -- tables ---------------------------------------------------------------------------
STEP_COLUMNS = (("case", "case"), ("strategy", "strategy"), ("devices", "devices"),
                ("batch", "batch"), ("compile s", "compile_s"), ("step ms", "step_ms"),
                ("p10-p90 ms", "p10_p90"), ("examples/s", "examples_per_s"),
                ("GFLOP/step", "gflop_per_step"), ("GFLOP/s", "gflops"),
                ("of peak", "peak_pct"), ("program MB", "program_memory_mb"),
                ("device peak MB", "device_peak_memory_mb"))
PIPELINE_COLUMNS = (("case", "case"), ("batch", "batch"),
                    ("pipeline examples/s", "examples_per_s"),
                    ("step examples/s", "step_examples_per_s"),
                    ("pipeline / step", "ratio"), ("note", "note"))


def markdown(results: dict) -> str:
    """The results as markdown: where, the steps table, the pipelines table."""
    from jaxdl.benchmarking import markdown_table
    env, peak = results["environment"], results["matmul_peak"]
    rows = []
    for r in results["steps"]:
        r = dict(r, p10_p90=f"{r['step_ms_p10']}-{r['step_ms_p90']}")
        if r.get("peak_fraction") is not None:
            r["peak_pct"] = f"{100 * r['peak_fraction']:.1f}%"
        rows.append(r)
    v = env["versions"]
    lines = [f"{env['device_kind']} x {env['device_count']} ({env['platform']}; "
             f"{env['host']['processor']}, {env['host']['cpu_count']} CPUs); jax "
             f"{v['jax']}, jaxlib {v['jaxlib']}, flax {v['flax']}; XLA_FLAGS="
             f"'{env['xla_flags']}'",
             f"matmul peak: {peak['flops_per_second'] / 1e9:.1f} GFLOP/s ({peak['dtype']}, "
             f"n={peak['n']})", "", markdown_table(rows, STEP_COLUMNS)]
    notes = sorted({r["flops_note"] for r in results["steps"] if r.get("flops_note")})
    if notes:
        lines += ["", "FLOPs: " + "; ".join(notes) + "."]
    if results["skipped"]:
        lines += ["", "Skipped: " + "; ".join(f"{s['case']} {s['strategy']} batch "
                                                f"{s['batch']} ({s['reason']})"
                                                for s in results["skipped"])]
    if results["pipelines"]:
        lines += ["", markdown_table(results["pipelines"], PIPELINE_COLUMNS)]
    return "\n".join(lines)


def load_results(path: str | os.PathLike) -> dict:
    """A results.json written by this benchmark (DataError if it is not one)."""
    path = Path(path)
    try:
        results = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not JSON ({e})") from None
    if not isinstance(results, dict) or not {"environment", "steps"} <= set(results):
        raise DataError(f"{path}: not a results.json of experiments.benchmark "
                        "(no 'environment' and 'steps')")
    return results


def run_name(results: dict, path: str) -> str:
    env = results["environment"]
    return f"{env['device_kind']} x{env['device_count']} ({Path(path).parent.name or path})"


def compare_results(paths: list[str], value: str = "step_ms") -> str:
    """A markdown table lining up the runs' `value` per case, strategy and batch,
    with each run's speedup over the first."""
    from jaxdl.benchmarking import compare, markdown_table
    if len(paths) < 2:
        raise config_lib.ConfigError("compare needs at least two results.json files")
    loaded = [load_results(p) for p in paths]
    names = [run_name(r, p) for r, p in zip(loaded, paths)]
    if len(set(names)) < len(names):
        names = [f"{n} #{i + 1}" for i, n in enumerate(names)]
    headers, rows = compare([(n, r["steps"]) for n, r in zip(names, loaded)],
                            key=("case", "strategy", "batch"), value=value,
                            lower_is_better=value in ("step_ms", "compile_s"))
    for row in rows:
        for h in headers:
            if h.startswith("speedup") and row[h] is not None:
                row[h] = f"{row[h]:.2f}x"
    lines = [f"{value} per case, strategy and batch; speedup: how many times faster than "
             f"{names[0]}", "",
             markdown_table(rows, [(h, h) for h in headers])]
    return "\n".join(lines)


# -- kfold ----------------------------------------------------------------------------
def kfold_step(k: int, batch_size: int, image_size: int, repeats: int) -> dict:
    """Median step times (ms) of K models: vmapped together vs one after another."""
    import jax
    import jax.numpy as jnp
    import optax
    from jaxdl import losses
    from jaxdl.benchmarking import time_call
    from jaxdl.tasks.day_night.model import ShallowCNN
    from jaxdl.train import TrainState, train_step
    model = ShallowCNN()
    make = lambda key: TrainState.create(
        model=model, rng=key, example_inputs=jnp.zeros((1, image_size, image_size, 3)),
        tx=optax.adam(1e-3), objective=losses.binary_classification)
    keys = jnp.stack([jax.random.key(i) for i in range(k)])
    rng = np.random.default_rng(0)
    batch = {"inputs": rng.normal(size=(k, batch_size, image_size, image_size, 3)
                                  ).astype(np.float32),
             "label": rng.integers(0, 2, (k, batch_size)).astype(np.int32),
             "id": np.arange(k * batch_size).reshape(k, batch_size)}
    vstep = jax.jit(jax.vmap(train_step))
    states = jax.vmap(make)(keys)
    sstep = jax.jit(train_step)
    singles = [make(keys[i]) for i in range(k)]
    per_fold = [jax.tree.map(lambda x, i=i: x[i], batch) for i in range(k)]
    vmapped = time_call(lambda: vstep(states, batch, keys), repeats=repeats)
    sequential = time_call(lambda: [sstep(singles[i], per_fold[i], keys[i])
                                    for i in range(k)], repeats=repeats)
    hlo = vstep.lower(states, batch, keys).compile().as_text()
    ms = lambda t: {key: round(t[key] * 1e3, 1) for key in ("median", "p10", "p90")}
    return {"benchmark": "kfold_step", "k": k, "batch_size": batch_size,
            "image_size": image_size, "backend": jax.default_backend(),
            "device": jax.devices()[0].device_kind, "repeats": repeats,
            "vmap_ms": ms(vmapped), "sequential_ms": ms(sequential),
            "vmap_over_sequential": round(vmapped["median"] / sequential["median"], 2),
            "grouped_convolutions_in_vmapped_program": len(re.findall(
                r"feature_group_count=\d+|batch_group_count=\d+", hlo))}


# -- command line -----------------------------------------------------------------------
def force_host_devices(count: int) -> None:
    """Asks XLA for `count` CPU devices (before JAX starts its backends), unless
    XLA_FLAGS already sets a count."""
    flags = os.environ.get("XLA_FLAGS", "")
    if count and HOST_DEVICES_FLAG not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {HOST_DEVICES_FLAG}={count}".strip()


def _run_args(p: argparse.ArgumentParser) -> None:
    """Benchmark every case study's training step (see configs/benchmark.py)."""
    config_lib.add_config_arguments(p, DEFAULT_CONFIG)
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def _compare_args(p: argparse.ArgumentParser) -> None:
    """Line up results.json files from different machines, with speedups."""
    p.add_argument("results", nargs="+", help="results.json files; the first is the reference")
    p.add_argument("--value", default="step_ms",
                   choices=("step_ms", "examples_per_s", "compile_s", "gflops"))


def _kfold_args(p: argparse.ArgumentParser) -> None:
    """K day'n'night CNNs vmapped in one program vs one after another."""
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--repeats", type=int, default=15)


def main(argv=None) -> int:
    verb, args, overrides = config_lib.parse_command(
        argv, verbs={"run": _run_args, "compare": _compare_args, "kfold": _kfold_args},
        default_verb="run", prog="python -m experiments.benchmark")
    if verb == "compare":
        print(compare_results(args.results, args.value))
        return 0
    if verb == "kfold":
        print(json.dumps(kfold_step(args.k, args.batch_size, args.image_size, args.repeats)))
        return 0
    bench = config_lib.config_or_exit(args.config, overrides)
    force_host_devices(bench.host_devices)
    t0 = time.perf_counter()
    results = run(bench, args.workdir, progress=not args.no_progress)
    print(markdown(results))
    print(json.dumps({"workdir": str(args.workdir), "rows": len(results["steps"]),
                      "seconds": round(time.perf_counter() - t0, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
