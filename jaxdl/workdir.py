"""The run's working directory: config.json, results.json and friends."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import jax

from jaxdl.errors import UserError
from jaxdl import config as config_lib


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
