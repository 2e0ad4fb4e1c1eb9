"""Timing compiled functions: median and spread of device-synchronised repeats."""

from __future__ import annotations

import time
from typing import Any, Callable

import jax
import numpy as np


def time_call(fn: Callable[[], Any], *, repeats: int = 15, warmup: int = 2) -> dict:
    """Seconds per call of `fn` (which returns device arrays), after `warmup` calls.

    Each call is followed by `jax.block_until_ready`, so the time is the device's,
    not the dispatch's. Returns {"median", "p10", "p90", "repeats"} in seconds.
    """
    for _ in range(warmup):
        jax.block_until_ready(fn())
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return {"median": float(np.median(times)), "p10": float(np.percentile(times, 10)),
            "p90": float(np.percentile(times, 90)), "repeats": repeats}
