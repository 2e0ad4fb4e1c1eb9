"""The run's working directory: config.json, results.json and friends.

What every experiment does the same way with a workdir lives here: create and
check it (`prepare_workdir`), write JSON atomically, the train / devices / config
blocks of results.json (`run_record`), and loading a finished run for a verb
(`load_finished_run`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import jax

from jaxdl import config as config_lib
from jaxdl.errors import UserError


class WorkdirError(UserError, OSError):
    """The workdir cannot be created or written."""


class RunNotFoundError(WorkdirError, FileNotFoundError):
    """The workdir holds no run (no config.json)."""


def write_json(path: str | Path, obj: Any) -> Path:
    """Writes JSON atomically (temporary file, then rename): never a half file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=2, default=float)
        f.write("\n")
    os.replace(tmp, path)
    return path


def load_run_config(workdir: str | Path):
    """The config a finished run in `workdir` was started with (its config.json)."""
    path = Path(workdir) / "config.json"
    if not path.exists():
        raise RunNotFoundError(f"{workdir}: no config.json; is this a run's workdir?")
    return config_lib.config_from_dict(json.loads(path.read_text()))


def barrier(name: str) -> None:
    """Waits for every process (no-op with one process)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils
        multihost_utils.sync_global_devices(name)


def prepare_workdir(workdir: str | Path, config) -> Path:
    """Creates `workdir` (process 0), checks it is writable, writes config.json.

    Raises WorkdirError with a clear message before any work when it is not.
    """
    workdir = Path(workdir)
    if jax.process_index() != 0:
        return workdir
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        probe = workdir / ".write_test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as e:
        raise WorkdirError(f"workdir {workdir} cannot be written: {e.strerror or e}") from None
    config_json = workdir / "config.json"
    new = config_lib.config_to_dict(config)
    if config_json.exists():
        old = json.loads(config_json.read_text())
        if old != new:
            changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            import logging
            logging.getLogger(__name__).warning(
                "config differs from the one this workdir was started with (groups: %s); "
                "resuming with the new one", ", ".join(changed))
    write_json(config_json, new)
    return workdir


# -- what every experiment writes and reads back the same way ---------------------------
def run_record(config, strategy, fit, best_state, *, best_metric: str, **train_extra) -> dict:
    """The `train`, `devices` and `config` blocks of a training run's results.json.

    `fit` is `jaxdl.train.loop.fit`'s result and `best_state` the best checkpoint's
    state; `best_metric` names the monitored value in the train block (for example
    "best_val_accuracy"); `train_extra` adds experiment-specific train fields
    (seconds of data preparation, ...). `params_sha256` hashes the final
    parameters' bytes, so two runs compare bit for bit; `evaluated_with` says
    whether test and the verbs used the weights' moving average ("ema_params").
    """
    from jaxdl.train.options import train_record
    from jaxdl.train.state import params_sha256
    train = {"steps": fit.steps, "seconds": round(fit.seconds, 3),
             "examples_per_second": round(fit.examples_per_second, 1),
             "final_loss": fit.final_loss, "params_sha256": params_sha256(fit.state.params),
             "best_step": fit.best_step, best_metric: fit.best_metric,
             "best_params_sha256": params_sha256(best_state.params),
             "checkpoint_saves": fit.checkpoint_saves,
             "checkpoint_seconds": round(fit.checkpoint_seconds, 3),
             **train_record(config), **train_extra}
    if best_state.ema_decay:
        train["ema_params_sha256"] = params_sha256(fit.state.ema_params)
    return {"train": train,
            "devices": {"strategy": strategy.name, "devices": strategy.num_devices,
                        "processes": jax.process_count(), "platform": jax.default_backend()},
            "config": config_lib.config_to_dict(config)}


@dataclasses.dataclass
class FinishedRun:
    """What a verb needs of a trained run: its config, the restored state of one
    checkpoint, that checkpoint's meta (normalisation statistics, class names, ...)
    and results.json (None when evaluation has not written it yet)."""

    workdir: Path
    config: Any
    state: Any
    meta: dict
    results: dict | None


def load_finished_run(workdir: str | Path, create_state: Callable, which: str = "best"
                      ) -> FinishedRun:
    """Loads a run for a verb: config.json, then the `which` ("best" or "latest")
    checkpoint into the state `create_state(config, rng, total_steps)` builds.

    Raises RunNotFoundError (no config.json), CheckpointNotFoundError or
    CheckpointMismatchError, all UserErrors with one-line messages.
    """
    from jaxdl.train import checkpoint
    workdir = Path(workdir)
    config = load_run_config(workdir)
    template = create_state(config, jax.random.key(0), 1)
    state, meta = checkpoint.restore_params(workdir / "checkpoints", template, which)
    results_path = workdir / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else None
    return FinishedRun(workdir, config, state, meta, results)
