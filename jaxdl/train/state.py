"""The training state: everything a pure step needs, as one pytree."""

from __future__ import annotations

import hashlib
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct


class TrainState(struct.PyTreeNode):
    """Parameters, optimiser state, step and batch-norm statistics of one model.

    The array fields are the pytree's leaves (what is checkpointed, replicated and
    vmapped); the rest are static: the model's `apply` function, the optax
    transformation, the objective `objective(outputs, batch) -> (loss, metrics)` and
    the L1 / L2 weight-penalty coefficients added to the objective's loss,
    whether the objective needs the whole global batch (`global_objective`), the
    micro-batches each optimiser step accumulates (`grad_accum_steps`) and the
    decay of the weights' exponential moving average (`ema_decay`, 0 = none).

    With `ema_decay` > 0, `ema_params` holds the moving average of `params`
    (updated after every optimiser step) and evaluation, prediction and the saved
    best checkpoint's users read it (`inference_params`); otherwise it is `{}`.
    """

    step: jax.Array
    params: Any
    opt_state: Any
    batch_stats: Any
    ema_params: Any
    apply_fn: Callable = struct.field(pytree_node=False)
    tx: optax.GradientTransformation = struct.field(pytree_node=False)
    objective: Callable = struct.field(pytree_node=False)
    l1: float = struct.field(pytree_node=False, default=0.0)
    l2: float = struct.field(pytree_node=False, default=0.0)
    # True for objectives that compare examples with each other (triplet mining):
    # on several devices the step then gathers the global batch's outputs first.
    global_objective: bool = struct.field(pytree_node=False, default=False)
    grad_accum_steps: int = struct.field(pytree_node=False, default=1)
    ema_decay: float = struct.field(pytree_node=False, default=0.0)

    @property
    def inference_params(self) -> Any:
        """The weights evaluation and prediction use: the moving average when
        `ema_decay` > 0, else `params`."""
        return self.ema_params if self.ema_decay else self.params

    @classmethod
    def create(cls, *, model, rng: jax.Array, example_inputs: jax.Array,
               tx: optax.GradientTransformation, objective: Callable,
               l1: float = 0.0, l2: float = 0.0,
               global_objective: bool = False, grad_accum_steps: int = 1,
               ema_decay: float = 0.0) -> "TrainState":
        """Initialises `model` on `example_inputs` (a batch, any size) with key `rng`.

        grad_accum_steps: k >= 1 micro-batches per optimiser step (the batch is split
        into k equal parts; see `jaxdl.train.steps.train_step`). ema_decay: in [0, 1);
        > 0 keeps an exponential moving average of the weights, starting at the
        initial weights.
        """
        if int(grad_accum_steps) < 1:
            raise ValueError(f"grad_accum_steps must be >= 1, got {grad_accum_steps}")
        if not 0.0 <= float(ema_decay) < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), got {ema_decay}")
        variables = model.init(rng, example_inputs, train=False)
        params = variables["params"]
        return cls(step=jnp.zeros((), jnp.int32), params=params,
                   opt_state=tx.init(params),
                   batch_stats=variables.get("batch_stats", {}),
                   ema_params=jax.tree.map(jnp.copy, params) if ema_decay else {},
                   apply_fn=model.apply, tx=tx, objective=objective,
                   l1=float(l1), l2=float(l2), global_objective=global_objective,
                   grad_accum_steps=int(grad_accum_steps), ema_decay=float(ema_decay))


def params_sha256(params: Any) -> str:
    """SHA-256 over every leaf's bytes (shape, dtype, values) in flattened-path order.

    Two runs with identical parameters, bit for bit, give the same digest.
    """
    digest = hashlib.sha256()
    for path, leaf in sorted(jax.tree_util.tree_leaves_with_path(params),
                             key=lambda pl: jax.tree_util.keystr(pl[0])):
        arr = np.ascontiguousarray(np.asarray(jax.device_get(leaf)))
        digest.update(jax.tree_util.keystr(path).encode())
        digest.update(str(arr.dtype).encode() + str(arr.shape).encode())
        digest.update(arr.tobytes())
    return digest.hexdigest()

