"""The fit loop: epochs, validation, early stopping, checkpoints, resumption.

`fit` drives any pure `train_step` through a parallel `Strategy`. Starting it on a
workdir that holds a checkpoint resumes from it: state, input position, early-
stopping counters and logs, so the run ends bit-identical to one never stopped.
Checkpoints are saved at epoch ends and every `checkpoint_every` steps (in the
background). SIGTERM or Ctrl-C finishes the step in flight, saves a checkpoint
and raises `jaxdl.train.preemption.Preempted` (exit code 75 on the command line).
A non-finite loss stops the run with `NonFiniteLossError` naming the step; nothing
is saved after the last finite step, so the last good checkpoint stays intact.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import jax
import ml_collections
import numpy as np
from tqdm.auto import tqdm

from jaxdl.errors import UserError
from jaxdl.data.pipeline import prefetch
from jaxdl.train.checkpoint import Checkpoints
from jaxdl.train.metric_writers import MetricLogger
from jaxdl.train.parallel import Strategy
from jaxdl.train.preemption import Preempted, StopSignals
from jaxdl.train.profiling import StepProfiler
from jaxdl.train.state import TrainState

log = logging.getLogger(__name__)


class NonFiniteLossError(UserError, FloatingPointError):
    """The training loss became NaN or infinite; the message names the step."""


@dataclasses.dataclass
class EarlyStopping:
    """Stop when `monitor` has not improved by `min_delta` for `patience` evaluations.

    patience = 0 disables stopping (the best checkpoint is still tracked).
    """

    monitor: str = "val/accuracy"
    mode: str = "max"
    patience: int = 0
    min_delta: float = 0.0

    def improved(self, value: float, best: float | None) -> bool:
        if best is None:
            return True
        if self.mode == "max":
            return value > best + self.min_delta
        return value < best - self.min_delta

    @classmethod
    def from_config(cls, config) -> "EarlyStopping":
        """From an `early_stopping` config group (see `early_stopping_config`)."""
        return cls(**{f.name: config[f.name] for f in dataclasses.fields(cls)})


def early_stopping_config(**overrides) -> ml_collections.ConfigDict:
    """The `early_stopping` config group `EarlyStopping.from_config` reads: monitor,
    mode ("max" | "min"), patience (evaluations without improvement; 0 = never
    stop) and min_delta, with EarlyStopping's defaults. Keyword arguments replace
    defaults."""
    c = ml_collections.ConfigDict({f.name: f.default for f in dataclasses.fields(EarlyStopping)})
    unknown = set(overrides) - set(c.keys())
    if unknown:
        raise ValueError(f"unknown early stopping config field(s) {sorted(unknown)}")
    c.update(overrides)
    return c


@dataclasses.dataclass
class FitResult:
    state: TrainState        # host arrays, the last step's state
    best_step: int | None    # step of the best checkpoint (by the monitored metric)
    best_metric: float | None
    steps: int
    seconds: float           # wall time spent in training steps, this process, all sessions
    examples_per_second: float
    final_loss: float
    stopped_early: bool
    checkpoint_saves: int = 0          # this session's saves
    checkpoint_seconds: float = 0.0    # time those saves held the training loop


def predict_all(predict_fn: Callable, state: Any, batches: Iterable[dict]) -> np.ndarray:
    """Outputs of `predict_fn(state, batch)` for every real (mask = 1) example, in order.

    batches: e.g. `pipeline.evaluation_batches(..., process_index=0, process_count=1)`;
    outputs may have any trailing shape (logits [B], embeddings [B, D], frames [B, T]).
    """
    outputs = []
    for batch in batches:
        out = np.asarray(predict_fn(state, {k: v for k, v in batch.items() if k != "mask"}))
        outputs.append(out[np.asarray(batch["mask"]) > 0])
    return np.concatenate(outputs)


def evaluate(eval_fn: Callable, state: Any, batches: Iterable[dict],
             strategy: Strategy) -> dict:
    """Count-weighted means of `eval_fn`'s metrics over all batches (state placed)."""
    totals: dict[str, float] = {}
    count = 0.0
    for batch in batches:
        m = strategy.unreplicate(eval_fn(state, strategy.shard_batch(batch)))
        c = float(m.pop("count"))
        for k, v in m.items():
            totals[k] = totals.get(k, 0.0) + float(v) * c
        count += c
    return {k: v / max(count, 1.0) for k, v in totals.items()}


def _check_finite(pending: list[tuple[int, dict]], strategy: Strategy,
                  checkpoints: Checkpoints) -> list[tuple[int, dict]]:
    """Fetches pending step metrics; raises NonFiniteLossError at the first bad step."""
    fetched = [(s, {k: float(v) for k, v in strategy.unreplicate(m).items()})
               for s, m in pending]
    for s, m in fetched:
        bad = {k: v for k, v in m.items() if not math.isfinite(v)}
        if bad:
            last = checkpoints.latest_step()
            kept = (f"the last good checkpoint (step {last}) is intact in "
                    f"{checkpoints.directory}" if last is not None else
                    "no checkpoint had been saved yet")
            raise NonFiniteLossError(f"non-finite training loss at step {s} ({bad}); "
                                     f"stopping; {kept}")
    return fetched


def fit(state: TrainState, *, train_step: Callable, train_batches, steps_per_epoch: int,
        global_batch_size: int, rng: jax.Array, strategy: Strategy, workdir: str | Path,
        validate: Callable[[Any], dict] | None = None,
        early_stopping: EarlyStopping = EarlyStopping(), log_every: int = 20,
        meta: dict | None = None, progress: bool = True, checkpoint_every: int = 0,
        keep_checkpoints: int = 2, profiler: StepProfiler | None = None) -> FitResult:
    """Trains `state` on `train_batches` (a grain MapDataset of this process's batches).

    Args:
      train_step: pure `train_step(state, batch, rng, axis_name=None)`.
      steps_per_epoch: validation, early stopping and checkpoints happen at epoch ends.
      validate: state (in the strategy's layout) -> {"val/<name>": float}.
      meta: JSON-able facts saved with every checkpoint (e.g. normalisation stats).
      checkpoint_every: also save `latest` every this many steps (0: epoch ends only).
      keep_checkpoints: how many `latest` checkpoints to keep.
      profiler: traces the steps it is set for (`jaxdl.train.profiling`).
    Returns a FitResult; the best state is in `workdir/checkpoints/best`.
    Raises Preempted after saving, when SIGTERM or SIGINT arrived during training.
    """
    workdir = Path(workdir)
    total_steps = len(train_batches)
    checkpoints = Checkpoints(workdir / "checkpoints", keep_latest=keep_checkpoints)
    iterator = prefetch(train_batches)
    loop = {"epoch": 0, "best_metric": None, "best_step": None, "bad_evals": 0,
            "stopped_early": False, "seconds": 0.0, "timed_examples": 0,
            "final_loss": float("nan")}
    start = 0
    if checkpoints.latest_step() is not None:
        state, data_state, saved = checkpoints.restore(state)
        iterator.set_state(data_state)
        loop.update(saved["loop"])
        start = int(state.step)
        log.info("resumed from step %d in %s", start, checkpoints.directory)
    meta = dict(meta or {})
    logger = MetricLogger(workdir, purge_step=start)
    # Rows after the restored step (or all, with no checkpoint) belong to work that
    # was lost with a killed run: drop them so the logs tell one history.
    logger.truncate_after(start)
    profiler = profiler or StepProfiler(workdir / "profile")

    compiled = strategy.compile_train_step(train_step)
    placed = strategy.replicate(state)
    bar = tqdm(total=total_steps, initial=start, unit="step", dynamic_ncols=True,
               disable=not progress or jax.process_index() != 0, desc="train")
    pending: list[tuple[int, dict]] = []
    window = {"start": time.perf_counter(), "examples": 0}
    finished = start >= total_steps or loop["stopped_early"]
    step = start

    def flush():
        """Checks and logs the pending steps' metrics (synchronises)."""
        nonlocal pending
        if not pending:
            return
        fetched = _check_finite(pending, strategy, checkpoints)
        elapsed = time.perf_counter() - window["start"]
        loop["seconds"] += elapsed
        loop["timed_examples"] += window["examples"]
        rate = window["examples"] / max(elapsed, 1e-9)
        mean = {f"train/{k}": float(np.mean([m[k] for _, m in fetched]))
                for k in fetched[-1][1]}
        loop["final_loss"] = fetched[-1][1]["loss"]
        logger.write(fetched[-1][0], mean, epoch=fetched[-1][0] / steps_per_epoch,
                     examples_per_second=rate)
        bar.set_postfix(loss=f"{mean['train/loss']:.4f}", ex_per_s=f"{rate:.0f}")
        bar.update(len(fetched))
        pending = []
        window.update(start=time.perf_counter(), examples=0)

    def save(best: bool = False):
        checkpoints.save(strategy.unreplicate(placed), data=iterator.get_state(),
                         meta=dict(meta, loop=loop), best=best)
        window.update(start=time.perf_counter(), examples=0)

    signals = StopSignals()
    try:
        with signals:
            while not finished:
                batch = next(iterator)
                with profiler.step(step + 1):
                    placed, metrics = compiled(placed, strategy.shard_batch(batch), rng)
                    profiler.done(metrics)
                step += 1
                pending.append((step, metrics))
                if step == start + 1:
                    # The first step of a session compiles: keep it out of the timings.
                    jax.block_until_ready(metrics)
                    window.update(start=time.perf_counter(), examples=0)
                else:
                    window["examples"] += global_batch_size
                end_of_epoch = step % steps_per_epoch == 0 or step == total_steps
                synced = len(pending) >= log_every or end_of_epoch
                if synced:
                    flush()
                if end_of_epoch:
                    loop["epoch"] += 1
                    is_best = validate is None  # without validation, the latest is the best
                    if validate is not None:
                        val = validate(placed)
                        value = val.get(early_stopping.monitor)
                        if value is None:
                            raise KeyError(f"early_stopping.monitor {early_stopping.monitor!r} "
                                           f"is not among the validation metrics {sorted(val)}")
                        is_best = early_stopping.improved(value, loop["best_metric"])
                        if is_best:
                            loop.update(best_metric=float(value), best_step=step, bad_evals=0)
                        else:
                            loop["bad_evals"] += 1
                        logger.write(step, val, epoch=loop["epoch"], best=is_best)
                        if early_stopping.patience and loop["bad_evals"] >= early_stopping.patience:
                            loop["stopped_early"] = True
                            log.info("early stopping at step %d: %s has not improved for "
                                     "%d epochs", step, early_stopping.monitor, loop["bad_evals"])
                    save(best=is_best)
                    logger.flush()
                    finished = step >= total_steps or loop["stopped_early"]
                elif checkpoint_every and step % checkpoint_every == 0:
                    flush()
                    save()
                    synced = True
                # One process alone checks its flag every step; several agree at the
                # steps where they all synchronise anyway (logging, epoch ends).
                if not finished and (jax.process_count() == 1 or synced) and \
                        signals.agreed(jax.process_count()):
                    flush()
                    save()
                    checkpoints.wait()
                    logger.flush()
                    why = signals.requested or "a stop request on another process"
                    message = (f"stopped by {why} after step {step} of {total_steps}; "
                               f"checkpoint saved in {checkpoints.directory}; run the same "
                               f"command again to resume")
                    log.warning("%s", message)
                    raise Preempted(message)
    finally:
        profiler.close()
        bar.close()
        logger.close()
        checkpoints.close()
    state = strategy.unreplicate(placed)
    if validate is None:
        loop["best_step"] = int(state.step)
    return FitResult(state=state, best_step=loop["best_step"],
                     best_metric=loop["best_metric"], steps=int(state.step),
                     seconds=loop["seconds"],
                     examples_per_second=loop["timed_examples"] / max(loop["seconds"], 1e-9),
                     final_loss=float(loop["final_loss"]),
                     stopped_early=bool(loop["stopped_early"]),
                     checkpoint_saves=checkpoints.saves,
                     checkpoint_seconds=checkpoints.seconds_blocked)
