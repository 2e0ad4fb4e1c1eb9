"""What every experiment's command line shares: logging set-up and clean errors.

Failures a user can fix (a bad image folder, an unwritable workdir, a dataset that
is not prepared, a NaN loss, a checkpoint from another model) are
`jaxdl.errors.UserError`s and end with one line, `error: <what and where>`, and
exit code 1 (2 for a config value), not a traceback. Bugs keep theirs. A run
stopped by SIGTERM or Ctrl-C after saving a checkpoint prints `preempted: ...` and
exits with code 75 (`jaxdl.train.preemption.PREEMPTED_EXIT_CODE`). Importing
this module imports no case study.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Callable, Sequence

from jaxdl.errors import UserError


def add_train_arguments(parser: argparse.ArgumentParser, default_config: str) -> None:
    """The train verb's arguments, shared by every experiment: --config,
    --workdir, --no-progress and the multi-process flags."""
    from jaxdl import config as config_lib
    config_lib.add_config_arguments(parser, default_config)
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    add_distributed_arguments(parser)


def add_distributed_arguments(parser: argparse.ArgumentParser) -> None:
    """--coordinator HOST:PORT (or auto), --num_processes, --process_id."""
    parser.add_argument("--coordinator",
                        help="HOST:PORT of process 0 for multi-process runs ('auto' on "
                             "TPU pods / SLURM)")
    parser.add_argument("--num_processes", type=int)
    parser.add_argument("--process_id", type=int)


def initialize_distributed(args: argparse.Namespace) -> None:
    """jax.distributed set-up from `add_distributed_arguments`' flags (no-op alone)."""
    from jaxdl.train import distributed
    distributed.initialize(args.coordinator, args.num_processes, args.process_id)


def run(main: Callable[[Sequence[str] | None], int],
        argv: Sequence[str] | None = None) -> int:
    """Calls main(argv) with logging set up; a UserError becomes one stderr line and
    its exit code (1, or 2 for a config error)."""
    # force: importing TFDS (absl) has already given the root logger a handler at
    # WARNING, which would make basicConfig a no-op and hide every INFO line.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S", force=True)
    for noisy in ("absl", "jax._src.xla_bridge", "orbax"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    return call(main, argv)


def call(main: Callable[[Sequence[str] | None], int],
         argv: Sequence[str] | None = None) -> int:
    """main(argv)'s exit code, a UserError turned into `error: <message>` on stderr and
    its exit code: what `python -m experiments.NAME ARGS` does, in this process
    (leaving logging as it is)."""
    from jaxdl.train.preemption import Preempted
    try:
        return main(argv)
    except Preempted as e:  # not an error: the run saved and can be resumed
        print(f"preempted: {e}", file=sys.stderr)
        return e.exit_code
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
