"""Measuring compiled programs: compile time, step time, FLOPs, memory, throughput.

    stats = time_call(fn)                           # median and spread of synced calls
    compiled, info = compile_stats(jitted, *args)   # compile seconds, XLA FLOPs, bytes
    peak = matmul_peak()                            # the device's measured matmul FLOP/s
    env = environment()                             # device, host, versions, XLA flags
    row = measure_step(train_workload(state, batch, strategy), ...)  # one results row

A benchmark run (experiments/benchmark.py wires in the case studies): `check_plan`,
`start_results`, then a `step_row` per case x strategy x batch x compute dtype
(optionally traced by a `jaxdl.train.profiling.StepProfiler`) and a `pipeline_row`
per input pipeline, `save_results` (results.json and results.md) after each;
`load_results` and `compare_results` line up runs from several machines. The
tables: `markdown_table(rows, columns)`, `compare(runs)`, `dtype_ratios(rows)`.
Pure functions of their inputs except the timings themselves and the results
files' reading and writing.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import os
import platform
import re
import socket
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl.config import ConfigError
from jaxdl.data.sources import DataError

log = logging.getLogger(__name__)
from jaxdl.workdir import write_json

RESULTS_VERSION = 1
HOST_DEVICES_FLAG = "--xla_force_host_platform_device_count"


def force_host_devices(count: int) -> None:
    """Asks XLA for `count` CPU devices (before JAX starts its backends), unless
    XLA_FLAGS already sets a count; 0 leaves XLA_FLAGS as it is."""
    flags = os.environ.get("XLA_FLAGS", "")
    if count and HOST_DEVICES_FLAG not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {HOST_DEVICES_FLAG}={count}".strip()


def time_call(fn: Callable[[], Any], *, repeats: int = 15, warmup: int = 2,
              profiler=None) -> dict:
    """Seconds per call of `fn` (which returns device arrays), after `warmup` calls.

    Each call is followed by `jax.block_until_ready`, so the time is the device's,
    not the dispatch's. Returns {"median", "p10", "p90", "min", "repeats"} in seconds.
    profiler: a `jaxdl.train.profiling.StepProfiler` (or None): timed call i
    (1-based) runs as its step i, so the steps it covers are traced and annotated
    (starting and stopping the trace fall outside the timed spans; the tracing
    itself does not). Without one, nothing but the calls is timed.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    for _ in range(warmup):
        jax.block_until_ready(fn())
    times = []
    if profiler is None:
        for _ in range(repeats):
            t0 = time.perf_counter()
            jax.block_until_ready(fn())
            times.append(time.perf_counter() - t0)
    else:
        try:
            for i in range(repeats):
                with profiler.step(i + 1):
                    t0 = time.perf_counter()
                    out = jax.block_until_ready(fn())
                    times.append(time.perf_counter() - t0)
                    profiler.done(out)
        finally:  # the trace's last step may lie past the last call, or a call failed
            profiler.close()
    return {"median": float(np.median(times)), "p10": float(np.percentile(times, 10)),
            "p90": float(np.percentile(times, 90)), "min": float(np.min(times)),
            "repeats": repeats}


def _cost(compiled) -> dict:
    """XLA's cost analysis of a compiled program as one dict (older jaxlibs return
    a list with one dict per program)."""
    cost = compiled.cost_analysis()
    if isinstance(cost, (list, tuple)):
        cost = cost[0] if cost else {}
    return dict(cost or {})


def compile_stats(fn, *args) -> tuple[Any, dict]:
    """Lowers and compiles `fn` (a jax.jit or jax.pmap function) for `args`.

    Returns (the compiled executable, {"compile_seconds", "flops", "bytes_accessed",
    "memory_bytes"}). flops and bytes are XLA's cost analysis of the program one
    device runs (None if the backend gives none); XLA counts the body of a loop
    once, whatever its trip count (see `loop_flops`). memory_bytes: arguments +
    outputs + temporaries - aliased (donated) buffers, from XLA's memory analysis
    of that program.
    """
    t0 = time.perf_counter()
    compiled = fn.lower(*args).compile()
    seconds = time.perf_counter() - t0
    cost = _cost(compiled)
    m = compiled.memory_analysis()  # None where the backend gives none
    memory = None if m is None else int(m.argument_size_in_bytes + m.output_size_in_bytes
                                        + m.temp_size_in_bytes - m.alias_size_in_bytes)
    flops = cost.get("flops")
    accessed = cost.get("bytes accessed")
    return compiled, {"compile_seconds": seconds,
                      "flops": None if flops is None or flops < 0 else float(flops),
                      "bytes_accessed": None if accessed is None else float(accessed),
                      "memory_bytes": memory}


def loop_flops(flops_unrolled: float, flops_unrolled_twice: float, *, unroll: int,
               trip_count: int) -> float:
    """FLOPs of a program whose loops all run `trip_count` steps, from XLA's counts
    of the program with its loop bodies unrolled `unroll` and `2 * unroll` times
    (trip_count a multiple of 2 * unroll).

    XLA's cost analysis counts a loop body once. Doubling the unroll adds `unroll`
    more steps of every loop to the count, so one step costs
    (f_2u - f_u) / unroll, and the program runs f_u + (trip_count - unroll) steps'
    worth more than XLA counted once.
    """
    if trip_count % (2 * unroll):
        raise ValueError(f"trip count {trip_count} is not a multiple of 2 x {unroll}")
    more = flops_unrolled_twice - flops_unrolled
    if more < 0:
        raise ValueError(f"unrolling more lowered the FLOP count ({flops_unrolled} -> "
                         f"{flops_unrolled_twice}); the loops are not what was assumed")
    return flops_unrolled + (trip_count // unroll - 1) * more


def matmul_peak(n: int | None = None, *, dtype=jnp.float32, repeats: int = 10,
                device=None) -> dict:
    """The device's measured FLOP/s on one n x n @ n x n matmul (2 n^3 FLOPs).

    n defaults to 8192 on accelerators and 2048 on CPU. Returns {"n", "dtype",
    "seconds" (median), "flops_per_second"}.
    """
    device = device or jax.local_devices()[0]
    if n is None:
        n = 2048 if device.platform == "cpu" else 8192
    keys = jax.random.split(jax.random.key(0))
    a, b = (jax.device_put(jax.random.normal(k, (n, n), dtype), device) for k in keys)
    matmul = jax.jit(jnp.matmul)
    t = time_call(lambda: matmul(a, b), repeats=repeats, warmup=2)
    return {"n": n, "dtype": jnp.dtype(dtype).name, "seconds": t["median"],
            "flops_per_second": 2.0 * n ** 3 / t["median"]}


def peak_memory_bytes(devices: Sequence | None = None) -> int | None:
    """The largest peak_bytes_in_use the backend reports over `devices` (GPU, TPU),
    or None where it reports none (CPU)."""
    peaks = []
    for d in devices or jax.local_devices():
        stats = d.memory_stats() if hasattr(d, "memory_stats") else None
        if stats and "peak_bytes_in_use" in stats:
            peaks.append(int(stats["peak_bytes_in_use"]))
    return max(peaks) if peaks else None


def iterator_throughput(make_iterator: Callable[[], Iterable[dict]], *, batches: int,
                        warmup: int = 1) -> dict:
    """Examples per second drawn from a fresh `make_iterator()` over `batches`
    batches after `warmup` (the examples of a batch: the length of its first
    array). Returns {"examples_per_second", "seconds_per_batch", "batches"}."""
    it = iter(make_iterator())
    for _ in range(warmup):
        next(it)
    examples, t0 = 0, time.perf_counter()
    for _ in range(batches):
        batch = next(it)
        jax.block_until_ready(batch)
        examples += len(next(iter(batch.values())))
    seconds = time.perf_counter() - t0
    return {"examples_per_second": examples / seconds, "seconds_per_batch": seconds / batches,
            "batches": batches}


def environment() -> dict:
    """Where numbers were measured: devices, host, library versions and XLA flags."""
    import flax
    import jaxlib
    import optax
    devices = jax.devices()
    return {
        "platform": jax.default_backend(),
        "device_kind": devices[0].device_kind,
        "device_count": len(devices),
        "local_device_count": jax.local_device_count(),
        "process_count": jax.process_count(),
        "host": {"hostname": socket.gethostname(), "machine": platform.machine(),
                 "processor": _cpu_model(), "cpu_count": os.cpu_count(),
                 "system": platform.platform(), "python": platform.python_version()},
        "versions": {"jax": jax.__version__, "jaxlib": jaxlib.__version__,
                     "flax": flax.__version__, "optax": optax.__version__,
                     "numpy": np.__version__},
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


# -- training steps -----------------------------------------------------------------
@dataclasses.dataclass
class Workload:
    """One compiled step to time: `out = fn(*args)`, then `args = advance(out, args)`.

    fn: a jax.jit / jax.pmap function, not yet compiled. examples: examples one
    call processes (the global batch). loop_trips: the trip count of the step's
    loops (all equal) when it has any, else 0; `unrolled(u)` then rebuilds the
    workload with its loop bodies unrolled u times (for FLOP counts; `unroll`: the
    unroll this one was built with).
    """

    fn: Callable
    args: tuple
    advance: Callable
    examples: int
    loop_trips: int = 0
    unroll: int = 1
    unrolled: Callable | None = None


def train_workload(state, batch: dict, strategy, **loops) -> Workload:
    """A `jaxdl.train.steps.train_step` of `state` on `batch` (numpy arrays with the
    global batch as leading axis) under `strategy` (a jaxdl.train.parallel.Strategy),
    rng key 0; `loops`: Workload's loop_trips, unroll and unrolled."""
    from jaxdl.train.steps import train_step
    fn = strategy.compile_train_step(train_step)
    args = (strategy.replicate(state), strategy.shard_batch(batch), jax.random.key(0))
    return Workload(fn, args, lambda out, a: (out[0],) + a[1:], len(batch["inputs"]),
                    **loops)


def map_workload(fn: Callable, shared, batch: dict, strategy, examples: int) -> Workload:
    """`fn(shared, batch) -> batch` (each example on its own, e.g. an optimiser step
    of per-example pixels) under `strategy`'s `compile_map`, `batch` donated: each
    call's output is the next call's batch. shared: replicated pytree; batch: numpy
    pytree with the global batch as leading axis; examples: the batch's examples."""
    fn = strategy.compile_map(fn, donate_argnums=(1,))
    args = (strategy.replicate(shared), strategy.shard_batch(batch))
    return Workload(fn, args, lambda out, a: (a[0], out), examples)


def measure_step(workload: Workload, *, warmup: int, repeats: int, devices: int,
                 peak: float, platform: str, profiler=None) -> dict:
    """Compiles, costs and times one workload: the figures of one results row.

    devices: devices the step runs on (its per-device FLOPs count that many
    times); peak: one device's matmul FLOP/s (once for all of them on "cpu", whose
    forced devices share the host's cores). Times in ms, FLOPs in GFLOP per step
    and GFLOP/s, memory in MiB ("_mb"; None where the backend reports none).
    profiler: traces timed steps (see `time_call`); None or disabled: not traced.
    """
    compiled, info = compile_stats(workload.fn, *workload.args)
    flops, note = info["flops"], None
    if flops is not None and workload.loop_trips and workload.unrolled is not None:
        u = workload.unroll
        if workload.loop_trips % (2 * u) == 0:
            twice = workload.unrolled(2 * u)
            _, info2 = compile_stats(twice.fn, *twice.args)
            flops = loop_flops(flops, info2["flops"], unroll=u,
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

    traced = profiler is not None and profiler.enabled
    t = time_call(call, repeats=repeats, warmup=warmup,
                  profiler=profiler if traced else None)
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
        "program_memory_mb": _mb(info["memory_bytes"]),
        "device_peak_memory_mb": _mb(peak_memory_bytes()),
        "repeats": repeats,
        **({"profiled_steps": [profiler.first, min(profiler.last, repeats)]}
           if traced else {}),
    }


def _mb(n: int | None) -> float | None:
    return None if n is None else round(n / 2 ** 20, 1)


def vmap_vs_sequential(step: Callable, init: Callable, keys, batch, *,
                       repeats: int = 15) -> dict:
    """Step times of K independent models: `step(state, batch, rng)` vmapped over a
    fold axis in one program, against K jitted steps one after another.

    init(key) -> one model's state; keys: [K] PRNG keys (each model's init key and
    step rng); batch: a pytree of arrays [K, ...], fold i's batch at [i]. Returns
    {"vmap_ms", "sequential_ms"} (each {"median", "p10", "p90"} in ms),
    "vmap_over_sequential" (the ratio of the medians) and
    "grouped_convolutions_in_vmapped_program" (convolutions of the vmapped
    program with a feature or batch group count: per-fold kernels, grouped).
    """
    k = len(keys)
    vstep = jax.jit(jax.vmap(step))
    states = jax.vmap(init)(keys)
    sstep = jax.jit(step)
    singles = [init(keys[i]) for i in range(k)]
    per_fold = [jax.tree.map(lambda x, i=i: x[i], batch) for i in range(k)]
    vmapped = time_call(lambda: vstep(states, batch, keys), repeats=repeats)
    sequential = time_call(lambda: [sstep(singles[i], per_fold[i], keys[i])
                                    for i in range(k)], repeats=repeats)
    hlo = vstep.lower(states, batch, keys).compile().as_text()
    ms = lambda t: {key: round(t[key] * 1e3, 1) for key in ("median", "p10", "p90")}
    return {"vmap_ms": ms(vmapped), "sequential_ms": ms(sequential),
            "vmap_over_sequential": round(vmapped["median"] / sequential["median"], 2),
            "grouped_convolutions_in_vmapped_program": len(re.findall(
                r"feature_group_count=\d+|batch_group_count=\d+", hlo))}


# -- tables -------------------------------------------------------------------------
def markdown_table(rows: Sequence[dict], columns: Sequence[tuple[str, str]]) -> str:
    """A markdown table of `rows` with `columns` ((header, key), ...); missing or
    None values are shown as "-"."""
    head = "| " + " | ".join(h for h, _ in columns) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join("-" if r.get(k) is None else str(r[k]) for _, k in columns)
            + " |" for r in rows]
    return "\n".join([head, rule, *body])


def compare(runs: Sequence[tuple[str, Sequence[dict]]], *, key: Sequence[str],
            value: str, lower_is_better: bool = True) -> tuple[list[str], list[dict]]:
    """Lines up rows of several runs by `key` fields.

    runs: (name, rows) per run, the first being the reference. Returns (headers,
    rows): one row per key present in any run, with each run's `value` and, for
    runs after the first, the speedup over the first (reference / value when
    lower is better, value / reference otherwise; None where either is missing).
    """
    order, table = [], {}
    for i, (_, rows) in enumerate(runs):
        for r in rows:
            k = tuple(r.get(f) for f in key)
            if k not in table:
                order.append(k)
                table[k] = [None] * len(runs)
            table[k][i] = r.get(value)
    headers = list(key) + [runs[0][0]]
    for name, _ in runs[1:]:
        headers += [name, f"speedup {name}"]
    out = []
    for k in order:
        values = table[k]
        row = dict(zip(key, k))
        row[runs[0][0]] = values[0]
        for (name, _), v in zip(runs[1:], values[1:]):
            row[name] = v
            ref = values[0]
            row[f"speedup {name}"] = (None if v is None or ref is None or not v or not ref
                                      else (ref / v if lower_is_better else v / ref))
        out.append(row)
    return headers, out


# -- a benchmark run: its plan, rows and results files -------------------------------
def check_plan(cases: Sequence[str], strategies: Sequence[str],
               known_cases: Sequence[str], dtypes: Sequence[str] = ("float32",)) -> None:
    """Raises ConfigError, naming the choices, unless every case is one of
    `known_cases`, every strategy one of jaxdl.train.parallel.STRATEGIES and
    `dtypes` a non-empty list of distinct compute dtypes
    (jaxdl.models.layers.COMPUTE_DTYPES)."""
    from jaxdl.models.layers import COMPUTE_DTYPES, compute_dtype
    from jaxdl.train.parallel import STRATEGIES
    if not dtypes or len(set(dtypes)) < len(dtypes):
        raise ConfigError(f"config key 'dtypes' is {tuple(dtypes)}; give each compute "
                          f"dtype once, from: {', '.join(COMPUTE_DTYPES)}")
    for dtype in dtypes:
        try:
            compute_dtype(dtype)
        except ConfigError as e:
            raise ConfigError(f"config key 'dtypes': {e}") from None
    unknown = [c for c in cases if c not in known_cases]
    bad = [s for s in strategies if s not in STRATEGIES]
    if unknown or bad:
        raise ConfigError(
            f"unknown {'cases ' + str(unknown) if unknown else 'strategies ' + str(bad)}; "
            f"cases: {', '.join(known_cases)}; strategies: {', '.join(STRATEGIES)}")


def with_data(config, data_dir: str, **fields):
    """A copy of an experiment's `config` reading its data from `data_dir` (unless
    empty), with `fields` of its data group set (e.g. smaller splits)."""
    config = copy.deepcopy(config)
    if data_dir:
        config.data.data_dir = data_dir
    for k, v in fields.items():
        setattr(config.data, k, v)
    return config


def start_results(config: dict, matmul_size: int | None = None) -> dict:
    """A results dict with no rows yet: {"version", "environment" (`environment()`),
    "matmul_peak" (`matmul_peak(matmul_size)`, measured now), "config", and empty
    "steps" (`measure_step` rows), "pipelines" (`pipeline_row` rows), "skipped"}."""
    return {"version": RESULTS_VERSION, "environment": environment(),
            "matmul_peak": matmul_peak(matmul_size), "config": config, "steps": [],
            "pipelines": [], "skipped": []}


def step_row(case: str, strategy, batch: int, make_workload: Callable[[], Workload], *,
             warmup: int, repeats: int, peak: float, platform: str,
             dtype: str = "float32", profiler=None, profile_dir: str | None = None
             ) -> dict:
    """The results row of `case`'s step under `strategy` (a Strategy) at global batch
    `batch` in compute dtype `dtype` (what `make_workload` was built with):
    {"case", "strategy", "devices", "batch", "dtype"} and `measure_step`'s figures
    for `make_workload()`; where the batch does not split over the strategy's
    devices, a "reason" instead (a row of results["skipped"]; nothing is built).
    profiler: traces the timed steps (see `time_call`); the row then names the
    trace's folder, `profile_dir` ("profile"), and the steps ("profiled_steps")."""
    devices = strategy.num_devices
    row = {"case": case, "strategy": strategy.name, "devices": devices, "batch": batch,
           "dtype": dtype}
    if batch % devices:
        return dict(row, reason=f"batch {batch} does not split over {devices} devices")
    row.update(measure_step(make_workload(), warmup=warmup, repeats=repeats,
                            devices=devices, peak=peak, platform=platform,
                            profiler=profiler))
    if "profiled_steps" in row and profile_dir is not None:
        row["profile"] = profile_dir
    return row


def row_dtype(row: dict) -> str:
    """A row's compute dtype ("float32" for rows written before the dtype axis)."""
    return row.get("dtype") or "float32"


def row_name(row: dict) -> str:
    """A step row's name: "<case>-<strategy>-b<batch>-<dtype>" (its profile folder)."""
    return f"{row['case']}-{row['strategy']}-b{row['batch']}-{row_dtype(row)}"


def dtype_ratios(steps: Sequence[dict], reference: str = "float32") -> list[dict]:
    """Each row's median step time against the same case, strategy and batch in
    `reference` dtype: {"case", "strategy", "batch", "dtype", "reference_ms",
    "step_ms", "ratio" (step_ms / reference_ms: > 1 is slower than the reference)},
    for every row of another dtype whose reference row exists, in the rows' order."""
    ref = {(r["case"], r["strategy"], r["batch"]): r["step_ms"] for r in steps
           if row_dtype(r) == reference}
    out = []
    for r in steps:
        k = (r["case"], r["strategy"], r["batch"])
        if row_dtype(r) != reference and ref.get(k):
            out.append({"case": k[0], "strategy": k[1], "batch": k[2],
                        "dtype": row_dtype(r), "reference_ms": ref[k],
                        "step_ms": r["step_ms"], "ratio": r["step_ms"] / ref[k]})
    return out


def ratio_words(ratio: float) -> str:
    """A step-time ratio (other / reference) in words: "1.80x slower",
    "0.60x (1.67x faster)", "1.00x (the same)" (to the second decimal)."""
    if round(ratio, 2) == 1.0:
        return "1.00x (the same)"
    if ratio > 1:
        return f"{ratio:.2f}x slower"
    return f"{ratio:.2f}x ({1 / ratio:.2f}x faster)"


def pipeline_row(case: str, batch: int, measured: dict, steps: Sequence[dict],
                 dtype: str = "float32") -> dict:
    """An input pipeline's results row: `measured` (from `iterator_throughput`) as
    examples/s and ms per batch and, where `steps` holds the case's "single" row
    at this batch in compute dtype `dtype` (else in the first dtype it has),
    that step's examples/s, its dtype ("step_dtype") and the pipeline's
    examples/s over the step's ("ratio")."""
    row = {"case": case, "batch": batch,
           "examples_per_s": round(measured["examples_per_second"], 1),
           "ms_per_batch": round(measured["seconds_per_batch"] * 1e3, 2)}
    single = [r for r in steps if r["case"] == case and r["batch"] == batch
              and r["strategy"] == "single"]
    single.sort(key=lambda r: row_dtype(r) != dtype)  # stable: `dtype` first
    if single:
        step = single[0]["examples_per_s"]
        row["step_examples_per_s"] = step
        row["step_dtype"] = row_dtype(single[0])
        row["ratio"] = round(measured["examples_per_second"] / step, 2)
    return row


STEP_COLUMNS = (("case", "case"), ("strategy", "strategy"), ("devices", "devices"),
                ("batch", "batch"), ("dtype", "dtype"), ("compile s", "compile_s"),
                ("step ms", "step_ms"), ("p10-p90 ms", "p10_p90"),
                ("examples/s", "examples_per_s"), ("GFLOP/step", "gflop_per_step"),
                ("GFLOP/s", "gflops"),
                ("of peak", "peak_pct"), ("program MB", "program_memory_mb"),
                ("device peak MB", "device_peak_memory_mb"))
PIPELINE_COLUMNS = (("case", "case"), ("batch", "batch"),
                    ("pipeline examples/s", "examples_per_s"),
                    ("step examples/s", "step_examples_per_s"),
                    ("step dtype", "step_dtype"),
                    ("pipeline / step", "ratio"), ("note", "note"))


def results_markdown(results: dict) -> str:
    """The results as markdown: where, the steps table, each other compute dtype's
    step times against float32's (from the medians), the pipelines table."""
    env, peak = results["environment"], results["matmul_peak"]
    rows = []
    for r in results["steps"]:
        r = dict(r, p10_p90=f"{r['step_ms_p10']}-{r['step_ms_p90']}", dtype=row_dtype(r))
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
    profiled = [r for r in results["steps"] if r.get("profile")]
    if profiled:
        lines += ["", "Profiled (these rows' times include the tracer's overhead): "
                  + "; ".join(f"{row_name(r)} steps {r['profiled_steps'][0]}-"
                              f"{r['profiled_steps'][1]} in {r['profile']}"
                              for r in profiled)]
    ratios = dtype_ratios(results["steps"])
    for dtype in dict.fromkeys(r["dtype"] for r in ratios):
        mine = [dict(r, words=ratio_words(r["ratio"])) for r in ratios
                if r["dtype"] == dtype]
        columns = [("case", "case"), ("strategy", "strategy"), ("batch", "batch"),
                   ("float32 ms", "reference_ms"), (f"{dtype} ms", "step_ms"),
                   (f"{dtype} / float32 step time", "words")]
        lines += ["", f"{dtype} against float32 (median step times; above 1x: {dtype} "
                  "is slower):", "", markdown_table(mine, columns)]
    if results["skipped"]:
        skipped = dict.fromkeys(f"{s['case']} {s['strategy']} batch {s['batch']} "
                                f"({s['reason']})" for s in results["skipped"])
        lines += ["", "Skipped: " + "; ".join(skipped)]
    if results["pipelines"]:
        lines += ["", markdown_table(results["pipelines"], PIPELINE_COLUMNS)]
    return "\n".join(lines)


def save_results(workdir: str | os.PathLike, results: dict) -> None:
    """Writes workdir/results.json (atomically) and workdir/results.md."""
    workdir = Path(workdir)
    write_json(workdir / "results.json", results)
    (workdir / "results.md").write_text(results_markdown(results) + "\n")


def load_results(path: str | os.PathLike) -> dict:
    """A results.json written by the benchmark (DataError if it is not one)."""
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
    """A run's name in comparisons: "<device kind> x<count> (<its file's folder>)"."""
    env = results["environment"]
    return f"{env['device_kind']} x{env['device_count']} ({Path(path).parent.name or path})"


def compare_results(paths: Sequence[str], value: str = "step_ms") -> str:
    """A markdown table lining up the results files' `value` per case, strategy,
    batch and compute dtype, with each run's speedup over the first's ("2.00x":
    twice as fast). Rows written before the dtype axis count as float32."""
    if len(paths) < 2:
        raise ConfigError("compare needs at least two results.json files")
    loaded = [load_results(p) for p in paths]
    names = [run_name(r, p) for r, p in zip(loaded, paths)]
    if len(set(names)) < len(names):
        names = [f"{n} #{i + 1}" for i, n in enumerate(names)]
    runs = [(n, [dict(s, dtype=row_dtype(s)) for s in r["steps"]])
            for n, r in zip(names, loaded)]
    headers, rows = compare(runs, key=("case", "strategy", "batch", "dtype"),
                            value=value, lower_is_better=value in ("step_ms", "compile_s"))
    for row in rows:
        for h in headers:
            if h.startswith("speedup") and row[h] is not None:
                row[h] = f"{row[h]:.2f}x"
    lines = [f"{value} per case, strategy, batch and dtype; speedup: how many times "
             f"faster than {names[0]}", "",
             markdown_table(rows, [(h, h) for h in headers])]
    return "\n".join(lines)


def random_batch(inputs_shape: Sequence[int], seed: int = 0, **fields) -> dict:
    """A training batch to time a step on: standard-normal float32 `inputs` of
    `inputs_shape` [B, ...], the given label fields, and example ids 0..B-1."""
    rng = np.random.default_rng(seed)
    return {"inputs": rng.normal(size=tuple(inputs_shape)).astype(np.float32), **fields,
            "id": np.arange(inputs_shape[0], dtype=np.int64)}


def measure_pipeline(case: str, batch: int, make_dataset: Callable | None, batches: int,
                     steps: Sequence[dict], dtype: str = "float32") -> dict:
    """The results row of a case's input pipeline at `batch` (examples per second,
    and that over the single-device step's in `steps`, in compute dtype `dtype`
    where it has one: see `pipeline_row`); `make_dataset()` gives a
    random-access dataset of batches, None when the case has no per-step input.

    Batches are made one after another on this thread (after one untimed batch,
    which compiles what the pipeline jits): a floor, since training also prefetches
    in background threads, but a fair one on a host whose cores the step also uses.
    """
    if make_dataset is None:
        return {"case": case, "batch": batch,
                "note": "no per-step input: the pixels are what is trained"}
    ds = make_dataset()
    measured = iterator_throughput(lambda: (ds[i] for i in range(len(ds))), batches=batches)
    log.info("%s pipeline: %.0f examples/s", case, measured["examples_per_second"])
    return pipeline_row(case, batch, measured, steps, dtype)


def kfold_step(model, k: int, batch_size: int, image_size: int, repeats: int) -> dict:
    """Median step times (ms) of K copies of a binary image classifier `model` (Adam,
    binary cross-entropy) on [batch_size, image_size, image_size, 3] batches:
    vmapped together in one program vs one after another."""
    import optax
    from jaxdl import losses
    from jaxdl.train import TrainState, train_step
    init = lambda key: TrainState.create(
        model=model, rng=key, example_inputs=jnp.zeros((1, image_size, image_size, 3)),
        tx=optax.adam(1e-3), objective=losses.binary_classification)
    keys = jnp.stack([jax.random.key(i) for i in range(k)])
    rng = np.random.default_rng(0)
    batch = {"inputs": rng.normal(size=(k, batch_size, image_size, image_size, 3)
                                  ).astype(np.float32),
             "label": rng.integers(0, 2, (k, batch_size)).astype(np.int32),
             "id": np.arange(k * batch_size).reshape(k, batch_size)}
    timings = vmap_vs_sequential(train_step, init, keys, batch, repeats=repeats)
    return {"benchmark": "kfold_step", "k": k, "batch_size": batch_size,
            "image_size": image_size, "backend": jax.default_backend(),
            "device": jax.devices()[0].device_kind, "repeats": repeats, **timings}
