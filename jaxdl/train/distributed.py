"""Multi-process (multi-host) set-up."""

from __future__ import annotations

import jax


def initialize(coordinator: str | None, num_processes: int | None,
               process_id: int | None) -> None:
    """Calls `jax.distributed.initialize` when launched as several processes.

    With coordinator "host:port", num_processes and process_id given (e.g. 2
    processes on loopback), those are used; on a CPU they talk through gloo. With
    none given, nothing happens (one process). On TPU pods / SLURM, pass
    coordinator="auto" to let JAX discover the cluster.
    """
    if not coordinator:
        return
    if coordinator == "auto":
        jax.distributed.initialize()
        return
    if num_processes is None or process_id is None:
        raise ValueError("--coordinator needs --num_processes and --process_id")
    # Only CPU collectives read this; it must be set before any backend starts.
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=coordinator,
                               num_processes=num_processes, process_id=process_id)
