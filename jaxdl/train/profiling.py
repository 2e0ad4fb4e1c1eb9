"""Profiles of chosen training steps (`jax.profiler`), for TensorBoard or Perfetto.

`StepProfiler(directory, start_step, num_steps)` traces steps start_step ..
start_step + num_steps - 1 (1-based, as the logs count them) into
`directory/plugins/profile/<run>/`: `<host>.xplane.pb` for TensorBoard's profile
plugin and `perfetto_trace.json.gz` for https://ui.perfetto.dev. Each step is
annotated `jax.profiler.StepTraceAnnotation("train_step", step_num=N)`, so both
viewers show step boundaries and the step-time breakdown.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any

import jax
import ml_collections

log = logging.getLogger(__name__)

STEP_NAME = "train_step"


def profile_config(**overrides) -> ml_collections.ConfigDict:
    """The `profile` config group: start_step (first traced step, 1-based; keep it
    past the first step, which compiles) and num_steps (0 = no profile)."""
    c = ml_collections.ConfigDict(dict(start_step=5, num_steps=0))
    unknown = set(overrides) - set(c.keys())
    if unknown:
        raise ValueError(f"unknown profile config field(s) {sorted(unknown)}")
    c.update(overrides)
    return c


class StepProfiler:
    """Traces steps [start_step, start_step + num_steps) of a loop (see module doc).

    Use: `with profiler.step(n): outputs = compiled(...)` for every step n; the
    trace stops (after waiting for the last traced step's `outputs`) when that
    step's block ends, or at `close()` if the loop ends first. num_steps = 0: off.
    """

    def __init__(self, directory: str | Path, start_step: int = 5, num_steps: int = 0):
        if int(start_step) < 1 or int(num_steps) < 0:
            raise ValueError(f"profile: start_step must be >= 1 and num_steps >= 0, got "
                             f"{start_step} and {num_steps}")
        self.directory = Path(directory)
        if jax.process_count() > 1:  # one trace folder per process (same host name)
            self.directory = self.directory / f"process_{jax.process_index()}"
        self.first, self.last = int(start_step), int(start_step) + int(num_steps) - 1
        self.enabled = int(num_steps) > 0
        self.active = False
        self.outputs: Any = None

    @classmethod
    def from_config(cls, directory: str | Path, config) -> "StepProfiler":
        """From a `profile` config group (see `profile_config`)."""
        return cls(directory, config.start_step, config.num_steps)

    @contextlib.contextmanager
    def step(self, step_num: int):
        """Context of step `step_num`: starts the trace before the first traced
        step, annotates each traced step, stops after the last. Put the step's
        outputs in `self.outputs` (or pass them to `done`) so the trace waits for them."""
        if not self.enabled or not self.first <= step_num <= self.last:
            yield self
            return
        if not self.active:
            self.directory.mkdir(parents=True, exist_ok=True)
            jax.profiler.start_trace(str(self.directory), create_perfetto_trace=True)
            self.active = True
            log.info("profiling steps %d-%d into %s", self.first, self.last, self.directory)
        with jax.profiler.StepTraceAnnotation(STEP_NAME, step_num=step_num):
            yield self
            # Dispatch is asynchronous: wait inside the annotation, so the traced
            # step covers the device work and not only the launch.
            jax.block_until_ready(self.outputs)
        if step_num == self.last:
            self.close()

    def done(self, outputs: Any) -> None:
        """Records the step's outputs (what the trace waits for)."""
        self.outputs = outputs

    def close(self) -> None:
        """Stops a trace in progress (a no-op otherwise)."""
        if self.active:
            jax.block_until_ready(self.outputs)
            jax.profiler.stop_trace()
            self.active = False
            self.outputs = None
            log.info("profile written to %s (open it in TensorBoard's profile plugin, "
                     "or perfetto_trace.json.gz at https://ui.perfetto.dev)", self.directory)


def trace_files(directory: str | Path) -> list[Path]:
    """The trace files a profile left under `directory` (xplane.pb, json.gz)."""
    return sorted(p for p in Path(directory).rglob("*") if p.is_file()
                  and (p.name.endswith(".xplane.pb") or p.name.endswith(".json.gz")))
