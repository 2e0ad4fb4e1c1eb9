"""Parallel strategies: the same pure step on one device, under pmap, or shard_map.

A strategy is a wrapper, not a rewrite: it binds the step's `axis_name`, places
the state (replicated) and the batch (split along its first axis) on devices, and
brings results back. Three strategies:

- "single": `jax.jit` on the first local device.
- "pmap": `jax.pmap` over the local devices (global over all processes'
  devices when launched as several processes); arrays get a leading device axis.
- "shard_map": `jax.jit` of `jax.shard_map` over a 1-D `Mesh` of all devices,
  state replicated (`P()`), batch split (`P(axis)`); what JAX now recommends.

Every strategy computes what a single device computes on the global batch.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

from jaxdl.config import ConfigError

STRATEGIES = ("single", "pmap", "shard_map")
AXIS = "devices"


@dataclasses.dataclass
class Strategy:
    """Places data and compiles steps for one parallel strategy (see module doc)."""

    name: str = "single"

    def __post_init__(self):
        if self.name not in STRATEGIES:
            raise ConfigError(f"unknown train.parallel strategy {self.name!r}; choose from: "
                              f"{', '.join(STRATEGIES)}")
        if self.name == "shard_map":
            self.mesh = jax.make_mesh((jax.device_count(),), (AXIS,),
                                      axis_types=(jax.sharding.AxisType.Explicit,))
            self._replicated = NamedSharding(self.mesh, P())
            self._split = NamedSharding(self.mesh, P(AXIS))
        elif self.name == "pmap":
            # pmap takes arrays with a leading axis of local devices, one slice each.
            local = jax.sharding.Mesh(np.array(jax.local_devices()), (AXIS,))
            self._stacked = NamedSharding(local, P(AXIS))

    # -- sizes ------------------------------------------------------------------
    @property
    def num_devices(self) -> int:
        """Devices one global batch is split over."""
        return 1 if self.name == "single" else jax.device_count()

    def round_batch_size(self, batch_size: int) -> int:
        """The smallest multiple of the device count >= batch_size (for evaluation,
        whose padding is masked)."""
        n = self.num_devices
        return -(-batch_size // n) * n

    def check_batch_size(self, global_batch_size: int, grad_accum_steps: int = 1) -> None:
        """Raises ConfigError unless the global batch splits evenly over devices and
        processes, and each device's share into `grad_accum_steps` micro-batches."""
        if self.name == "single" and jax.process_count() > 1:
            raise ConfigError("the 'single' strategy runs one device; with several "
                              "processes use --config.train.parallel=pmap or shard_map")
        n = self.num_devices * int(grad_accum_steps)
        if global_batch_size % n:
            per = (f"{self.num_devices} devices ({self.name})" if grad_accum_steps == 1 else
                   f"{self.num_devices} devices ({self.name}) x {grad_accum_steps} "
                   f"micro-batches (train.grad_accum_steps)")
            raise ConfigError(
                f"batch size {global_batch_size} does not split evenly over {per}; "
                f"choose a multiple of {n}")

    # -- compile ----------------------------------------------------------------
    def compile_train_step(self, step: Callable) -> Callable:
        """step(state, batch, rng, axis_name=None) -> (state, metrics), compiled; the
        state argument is donated."""
        if self.name == "single":
            return jax.jit(step, donate_argnums=0)
        bound = functools.partial(step, axis_name=AXIS)
        if self.name == "pmap":
            return jax.pmap(bound, axis_name=AXIS, in_axes=(0, 0, None),
                            donate_argnums=0)
        # check_vma=False: the step reduces over AXIS itself (lax.pmean of the
        # gradients, as under pmap). With check_vma=True, shard_map's autodiff would
        # already psum the gradients of the replicated parameters, and the explicit
        # pmean would then average a sum: an n-times larger step.
        return jax.jit(jax.shard_map(bound, mesh=self.mesh,
                                     in_specs=(P(), P(AXIS), P()),
                                     out_specs=(P(), P()), check_vma=False),
                       donate_argnums=0)

    def compile_eval_step(self, step: Callable) -> Callable:
        """step(state, batch, axis_name=None) -> metrics, compiled."""
        if self.name == "single":
            return jax.jit(step)
        bound = functools.partial(step, axis_name=AXIS)
        if self.name == "pmap":
            return jax.pmap(bound, axis_name=AXIS)
        return jax.jit(jax.shard_map(bound, mesh=self.mesh, in_specs=(P(), P(AXIS)),
                                     out_specs=P(), check_vma=False))

    def compile_map(self, fn: Callable, donate_argnums: tuple[int, ...] = ()) -> Callable:
        """fn(shared, batch) -> outputs, each output with the batch's leading axis and
        each example computed on its own (no reduction over devices), compiled:
        `shared` replicated, `batch` and the outputs split along their first axis.
        E.g. the style-transfer pixel step, whose images are both input and output."""
        if self.name == "single":
            return jax.jit(fn, donate_argnums=donate_argnums)
        if self.name == "pmap":
            return jax.pmap(fn, axis_name=AXIS, donate_argnums=donate_argnums)
        return jax.jit(jax.shard_map(fn, mesh=self.mesh, in_specs=(P(), P(AXIS)),
                                     out_specs=P(AXIS), check_vma=False),
                       donate_argnums=donate_argnums)

    # -- placement --------------------------------------------------------------
    def replicate(self, tree: Any) -> Any:
        """Host/single-device pytree -> the layout the compiled steps take."""
        if self.name == "single":
            return jax.device_put(tree, jax.local_devices()[0])
        if self.name == "pmap":
            n = jax.local_device_count()
            return jax.tree.map(
                lambda x: jax.device_put(np.stack([np.asarray(x)] * n), self._stacked),
                tree)
        return jax.tree.map(
            lambda x: jax.make_array_from_callback(
                np.shape(x), self._replicated, lambda idx, x=np.asarray(x): x[idx]),
            tree)

    def unreplicate(self, tree: Any) -> Any:
        """Inverse of `replicate` (also for step outputs): numpy arrays on the host."""
        if self.name == "pmap":
            return jax.tree.map(lambda x: np.asarray(x.addressable_data(0))[0], tree)
        if self.name == "shard_map":
            return jax.tree.map(lambda x: np.asarray(x.addressable_data(0)), tree)
        return jax.device_get(tree)

    def shard_batch(self, batch: dict) -> dict:
        """This process's slice of the global batch (numpy, leading axis B_local)
        -> device arrays in the layout the compiled steps take."""
        if self.name == "single":
            return jax.device_put(batch, jax.local_devices()[0])
        if self.name == "pmap":
            n = jax.local_device_count()
            return jax.tree.map(
                lambda x: jax.device_put(np.asarray(x).reshape((n, -1) + np.shape(x)[1:]),
                                         self._stacked), batch)
        return jax.tree.map(
            lambda x: jax.make_array_from_process_local_data(self._split, np.asarray(x)),
            batch)
