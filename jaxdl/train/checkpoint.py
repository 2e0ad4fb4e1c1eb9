"""Checkpoints (orbax): the latest and the best, each with the data iterator state.

Layout: `workdir/checkpoints/latest/<step>/` and `workdir/checkpoints/best/<step>/`,
each holding three items: `state` (the TrainState's arrays), `data` (the input
iterator's state, JSON) and `meta` (epoch, early-stopping counters, normalisation
statistics, ... JSON). Orbax writes to a temporary folder and renames it when
complete, so a run killed mid-save keeps its previous checkpoint intact.

Saves of `latest` are asynchronous: `save` copies the arrays to host memory and
returns while a background thread writes them, so training goes on; the next
save, `wait`, `restore` and `close` wait for a write in flight. `seconds_blocked`
adds up the time `save` held the caller.
"""

from __future__ import annotations

from pathlib import Path

import time

import jax
import numpy as np
import orbax.checkpoint as ocp

from jaxdl.errors import UserError
from jaxdl.train.state import TrainState


class CheckpointMismatchError(UserError, ValueError):
    """A checkpoint whose arrays do not fit the state the config builds."""


class CheckpointNotFoundError(UserError, FileNotFoundError):
    """The workdir has no checkpoint of the kind asked for (latest or best)."""


def _arrays(state: TrainState) -> dict:
    return {"step": state.step, "params": state.params, "opt_state": state.opt_state,
            "batch_stats": state.batch_stats, "ema_params": state.ema_params}


def _manager(directory: Path, max_to_keep: int, asynchronous: bool
             ) -> ocp.CheckpointManager:
    # Each process manages its own view: process 0 writes, every process reads
    # (a shared filesystem is assumed for multi-host resumption).
    me = jax.process_index()
    if me == 0:
        directory.mkdir(parents=True, exist_ok=True)
    options = ocp.CheckpointManagerOptions(
        max_to_keep=max_to_keep, create=False, enable_async_checkpointing=asynchronous,
        multiprocessing_options=ocp.options.MultiprocessingOptions(
            primary_host=me, active_processes={me}))
    return ocp.CheckpointManager(directory.absolute(), options=options,
                                 item_names=("state", "data", "meta"))


class Checkpoints:
    """The latest and best checkpoints of one run (see module doc).

    keep_latest: how many `latest` checkpoints to keep (the newest ones; >= 1).
    asynchronous: write `latest` in the background (see module doc).
    """

    def __init__(self, directory: str | Path, *, keep_latest: int = 2,
                 asynchronous: bool = True):
        if int(keep_latest) < 1:
            raise ValueError(f"keep_latest must be >= 1, got {keep_latest}")
        self.directory = Path(directory)
        self.writer = jax.process_index() == 0
        self.latest = _manager(self.directory / "latest", int(keep_latest), asynchronous)
        self.best = _manager(self.directory / "best", 1, False)
        self.seconds_blocked = 0.0
        self.saves = 0

    def save(self, state: TrainState, *, data: dict, meta: dict, best: bool = False) -> None:
        """Saves `state` (host or device arrays, unreplicated) as latest, and as best.

        Returns once the arrays are on the host; `latest` is written in the
        background (the best checkpoint, rarer, is written before it returns).
        """
        if not self.writer:
            return
        t0 = time.perf_counter()
        arrays = jax.tree.map(np.asarray, jax.device_get(_arrays(state)))
        step = int(arrays["step"])
        args = ocp.args.Composite(state=ocp.args.PyTreeSave(arrays),
                                  data=ocp.args.JsonSave(data),
                                  meta=ocp.args.JsonSave(meta))
        # Best first, finished before `latest` starts: `latest` is the commit point,
        # so a run killed between the two saves resumes from the previous latest
        # and saves both again.
        if best and self.best.latest_step() != step:
            self.best.save(step, args=args)
            self.best.wait_until_finished()
        if self.latest.latest_step() != step:
            self.latest.save(step, args=args)
        self.saves += 1
        self.seconds_blocked += time.perf_counter() - t0

    def wait(self) -> None:
        """Blocks until a background write in flight is on disk."""
        t0 = time.perf_counter()
        self.latest.wait_until_finished()
        self.seconds_blocked += time.perf_counter() - t0

    def latest_step(self, which: str = "latest") -> int | None:
        manager = getattr(self, which)
        manager.wait_until_finished()
        return manager.latest_step()

    def restore(self, template: TrainState, which: str = "latest",
                step: int | None = None) -> tuple[TrainState, dict, dict]:
        """Restores (state, data, meta) into `template`'s structure (static fields kept)."""
        manager = getattr(self, which)
        manager.wait_until_finished()
        step = manager.latest_step() if step is None else step
        if step is None:
            raise CheckpointNotFoundError(f"no {which} checkpoint in {self.directory}")
        target = jax.tree.map(np.asarray, jax.device_get(_arrays(template)))
        try:
            restored = manager.restore(step, args=ocp.args.Composite(
                state=ocp.args.PyTreeRestore(target), data=ocp.args.JsonRestore(),
                meta=ocp.args.JsonRestore()))
        except (ValueError, KeyError, TypeError) as e:
            raise CheckpointMismatchError(
                f"the {which} checkpoint (step {step}) in {self.directory} does not match "
                f"the model and optimiser of this config (was the model or optimiser "
                f"changed? use a new --workdir): {str(e).splitlines()[0]}") from None
        arrays = restored["state"]
        mismatched = [
            f"{jax.tree_util.keystr(path)}: checkpoint {np.shape(got)} vs config {np.shape(want)}"
            for (path, want), got in zip(jax.tree_util.tree_leaves_with_path(target),
                                         jax.tree.leaves(arrays))
            if np.shape(got) != np.shape(want)]
        if mismatched or jax.tree.structure(arrays) != jax.tree.structure(target):
            raise CheckpointMismatchError(
                f"the {which} checkpoint (step {step}) in {self.directory} does not match "
                f"the model and optimiser of this config (use a new --workdir): "
                f"{'; '.join(mismatched[:3]) or 'different parameter tree'}")
        state = template.replace(step=arrays["step"], params=arrays["params"],
                                 opt_state=arrays["opt_state"],
                                 batch_stats=arrays["batch_stats"],
                                 ema_params=arrays["ema_params"])
        return state, restored["data"], restored["meta"]

    def close(self) -> None:
        """Waits for a write in flight, then releases the managers."""
        self.wait()
        self.latest.close()
        self.best.close()


def restore_params(directory: str | Path, template: TrainState,
                   which: str = "best") -> tuple[TrainState, dict]:
    """(state, meta) of a finished run's best (or latest) checkpoint, for prediction."""
    ckpts = Checkpoints(directory)
    try:
        state, _, meta = ckpts.restore(template, which)
    finally:
        ckpts.close()
    return state, meta
