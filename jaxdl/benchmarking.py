"""Measuring compiled programs: compile time, step time, FLOPs, memory, throughput.

    stats = time_call(fn)                           # median and spread of synced calls
    compiled, info = compile_stats(jitted, *args)   # compile seconds, XLA FLOPs, bytes
    peak = matmul_peak()                            # the device's measured matmul FLOP/s
    env = environment()                             # device, host, versions, XLA flags

and the tables: `markdown_table(rows, columns)`, `compare(runs)`. Pure functions of
their inputs except the timings themselves; no I/O.
"""

from __future__ import annotations

import os
import platform
import socket
import time
from typing import Any, Callable, Iterable, Sequence

import jax
import jax.numpy as jnp
import numpy as np


def time_call(fn: Callable[[], Any], *, repeats: int = 15, warmup: int = 2) -> dict:
    """Seconds per call of `fn` (which returns device arrays), after `warmup` calls.

    Each call is followed by `jax.block_until_ready`, so the time is the device's,
    not the dispatch's. Returns {"median", "p10", "p90", "min", "repeats"} in seconds.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    for _ in range(warmup):
        jax.block_until_ready(fn())
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
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
