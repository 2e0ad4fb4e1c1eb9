"""Stopping cleanly when a scheduler preempts the run (SIGTERM) or a user presses Ctrl-C.

SLURM, Kubernetes and TPU preemption send SIGTERM, then SIGKILL after a grace
period. Inside `StopSignals` a SIGTERM or the first SIGINT only sets a flag; the
fit loop finishes the step in flight, saves a checkpoint (with the input
pipeline's position) and raises `Preempted`, which the command line turns into
one line and exit code PREEMPTED_EXIT_CODE (75, EX_TEMPFAIL of sysexits.h:
"try again later"). Starting the same command again resumes bit-identically. A
second Ctrl-C interrupts at once (KeyboardInterrupt), as usual.
"""

from __future__ import annotations

import signal
import threading

import numpy as np

from jaxdl.errors import UserError

PREEMPTED_EXIT_CODE = 75


class Preempted(UserError):
    """The run stopped on a signal after saving a checkpoint; run it again to resume."""

    exit_code = PREEMPTED_EXIT_CODE


class StopSignals:
    """Context manager turning SIGTERM / SIGINT into a stop request (`requested`).

    Handlers are installed only in the main thread (Python's rule); elsewhere the
    context does nothing and the signals keep their handlers.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self):
        self.requested: str | None = None  # the signal's name, once one arrived
        self._previous: dict = {}

    def _handle(self, signum, frame):
        if signum == signal.SIGINT and self.requested == "SIGINT":
            raise KeyboardInterrupt  # a second Ctrl-C: stop now
        self.requested = signal.Signals(signum).name

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            for s in self.SIGNALS:
                self._previous[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous = {}

    def agreed(self, process_count: int) -> bool:
        """Whether any process was asked to stop: this process's flag alone, or,
        with several processes, every process's flag gathered (a collective:
        call it at the same step on every process)."""
        if process_count == 1:
            return self.requested is not None
        from jax.experimental import multihost_utils
        flags = multihost_utils.process_allgather(np.int32(self.requested is not None))
        return bool(np.any(flags))
