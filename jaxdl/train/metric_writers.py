"""Metric logs of a run: JSON lines (`metrics.jsonl`) and TensorBoard events.

Only process 0 writes. On resumption, rows logged after the restored step are
dropped, so the logs describe exactly one history.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping

import jax
import numpy as np


def _plain(v: Any) -> Any:
    if isinstance(v, (np.generic, np.ndarray)) or hasattr(v, "__array__"):
        v = np.asarray(v)
        return v.item() if v.ndim == 0 else v.tolist()
    return v


class MetricLogger:
    """Appends metric rows `{"step": int, "split/name": value, ...}` to the workdir."""

    def __init__(self, workdir: str | Path, *, tensorboard: bool = True,
                 purge_step: int | None = None):
        """purge_step: on resumption, TensorBoard hides events logged after it."""
        self.workdir = Path(workdir)
        self.path = self.workdir / "metrics.jsonl"
        self.enabled = jax.process_index() == 0
        self._tb = None
        if self.enabled and tensorboard:
            from tensorboardX import SummaryWriter
            self._tb = SummaryWriter(str(self.workdir / "tensorboard"),
                                     purge_step=purge_step or None)

    def truncate_after(self, step: int) -> None:
        """Drops rows with step > `step` (work lost with a run that was killed)."""
        if not self.enabled or not self.path.exists():
            return
        rows = read_metrics(self.path)
        kept = [r for r in rows if r.get("step", 0) <= step]
        if len(kept) != len(rows):
            with open(self.path, "w") as f:
                for r in kept:
                    f.write(json.dumps(r) + "\n")

    def write(self, step: int, metrics: Mapping[str, Any], **extra) -> None:
        if not self.enabled:
            return
        row = {"step": int(step), **{k: _plain(v) for k, v in metrics.items()},
               **{k: _plain(v) for k, v in extra.items()}}
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")
        if self._tb is not None:
            for k, v in row.items():
                if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool) \
                        and math.isfinite(v):
                    self._tb.add_scalar(k, v, int(step))

    def flush(self) -> None:
        if self._tb is not None:
            self._tb.flush()

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def read_metrics(path: str | Path) -> list[dict]:
    """The rows of a metrics.jsonl file (a truncated last line is ignored)."""
    rows = []
    path = Path(path)
    if not path.exists():
        return rows
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows
