"""Pure training and evaluation steps.

    state, metrics = train_step(state, batch, rng)
    metrics = eval_step(state, batch)
    outputs = predict_step(state, batch)

No globals, no I/O: the same functions run under `jax.jit`, `jax.pmap`, `jax.jit`
over `jax.shard_map`, and `jax.vmap` (K folds or seeds at once). On several devices
pass `axis_name` (bind it with functools.partial): gradients, metrics and batch-norm
statistics are then averaged over that axis, so the step computes exactly what one
device would compute on the whole global batch.

A batch is a dict with `inputs` (the model's input), the targets the state's
objective reads (e.g. `label`), and optionally `id` (int [B], a unique id per
example, which keys each example's dropout mask) and `mask` ([B], 0 for padding).
Models follow one calling convention:
`apply(variables, inputs, train=..., example_ids=..., axis_name=...)`.
"""

from __future__ import annotations

from typing import Any, Mapping

import jax
import jax.numpy as jnp
import optax
from jax import lax

from jaxdl import losses
from jaxdl.train.state import TrainState

Batch = Mapping[str, Any]


def _forward(state: TrainState, params, batch: Batch, *, train: bool,
             rng: jax.Array | None, axis_name: str | None):
    variables = {"params": params}
    mutable = []
    if state.batch_stats:
        variables["batch_stats"] = state.batch_stats
        mutable = ["batch_stats"] if train else []
    kwargs = dict(train=train, example_ids=batch.get("id"), axis_name=axis_name)
    if train:
        kwargs["rngs"] = {"dropout": rng}
    if mutable:
        return state.apply_fn(variables, batch["inputs"], mutable=mutable, **kwargs)
    return state.apply_fn(variables, batch["inputs"], **kwargs), {}


def _objective_inputs(state: TrainState, outputs, batch: Batch,
                      axis_name: str | None):
    """(outputs, batch) the objective sees: this device's share, or, for a
    `global_objective` on several devices, the whole global batch (all-gathered
    in device order, the same on every device)."""
    if not state.global_objective or axis_name is None:
        return outputs, batch
    gather = lambda x: lax.all_gather(x, axis_name, tiled=True)
    targets = {k: v for k, v in batch.items() if k != "inputs"}
    return jax.tree.map(gather, outputs), jax.tree.map(gather, targets)


def _gradients(state: TrainState, batch: Batch, rng: jax.Array,
               axis_name: str | None):
    """(grads, metrics, batch_stats) of the objective on `batch`, this device's
    gradients before any reduction over devices."""
    def objective(params):
        outputs, mutated = _forward(state, params, batch, train=True, rng=rng,
                                    axis_name=axis_name)
        # For a global objective every device computes the same global loss; the
        # transpose of all_gather sums their n copies of each local gradient, and
        # the pmean in train_step divides by n again: the single-device gradient.
        loss, metrics = state.objective(
            *_objective_inputs(state, outputs, batch, axis_name))
        total = loss
        if state.l1:
            total = total + state.l1 * losses.l1_penalty(params)
        if state.l2:
            total = total + state.l2 * losses.l2_penalty(params)
        return total, (metrics, mutated)

    (total, (metrics, mutated)), grads = jax.value_and_grad(
        objective, has_aux=True)(state.params)
    return grads, dict(metrics, objective=total), mutated.get("batch_stats",
                                                              state.batch_stats)


def _micro_batches(batch: Batch, k: int) -> Batch:
    """[B, ...] leaves -> [k, B / k, ...]: k consecutive micro-batches."""
    def split(x):
        x = jnp.asarray(x)
        if x.shape[0] % k:
            raise ValueError(f"a batch of {x.shape[0]} examples (per device) does not "
                             f"split into grad_accum_steps={k} equal micro-batches")
        return x.reshape((k, x.shape[0] // k) + x.shape[1:])
    return jax.tree.map(split, dict(batch))


def _accumulated_gradients(state: TrainState, batch: Batch, rng: jax.Array,
                           axis_name: str | None):
    """`_gradients` averaged over `state.grad_accum_steps` micro-batches, taken one
    after another in a `lax.scan` (so activations are held for one micro-batch at a
    time); batch norm normalises each micro-batch with its own statistics and
    updates its running statistics once per micro-batch, in order."""
    k = state.grad_accum_steps

    def body(carry, micro):
        grad_sum, batch_stats = carry
        grads, metrics, batch_stats = _gradients(
            state.replace(batch_stats=batch_stats), micro, rng, axis_name)
        return (jax.tree.map(jnp.add, grad_sum, grads), batch_stats), metrics

    zeros = jax.tree.map(jnp.zeros_like, state.params)
    (grad_sum, batch_stats), metrics = lax.scan(
        body, (zeros, state.batch_stats), _micro_batches(batch, k))
    return (jax.tree.map(lambda g: g / k, grad_sum),
            jax.tree.map(lambda m: jnp.mean(m, axis=0), metrics), batch_stats)


def ema_decay_at(decay: float, step: jax.Array) -> jax.Array:
    """The moving average's decay at optimiser step `step` (0-based):
    min(decay, (1 + step) / (10 + step)), so the average forgets its random
    initial weights within the first steps (as tf.train.ExponentialMovingAverage
    with num_updates), and is `decay` afterwards."""
    step = jnp.asarray(step, jnp.float32)
    return jnp.minimum(decay, (1.0 + step) / (10.0 + step))


def train_step(state: TrainState, batch: Batch, rng: jax.Array,
               axis_name: str | None = None) -> tuple[TrainState, dict]:
    """One optimiser step on `batch`; returns the new state and its metrics.

    rng: a key shared by all devices; the step folds in `state.step`, and dropout
    folds in each example's `id`, so randomness is reproducible and independent of
    the device layout. metrics: the objective's metrics (means over the global
    batch), plus `objective` (loss + weight penalties) and `grad_norm`.

    With `state.grad_accum_steps` = k > 1 the batch is taken as k equal
    micro-batches in turn and their mean gradient makes one optimiser step: for a
    loss that is a mean over examples (and no batch norm) the same step as the
    whole batch at once, with a k-th of the activation memory. With
    `state.ema_decay` > 0 the weights' moving average is updated after the step.
    """
    rng = jax.random.fold_in(rng, state.step)
    if state.grad_accum_steps > 1:
        grads, metrics, batch_stats = _accumulated_gradients(state, batch, rng, axis_name)
    else:
        grads, metrics, batch_stats = _gradients(state, batch, rng, axis_name)
    if axis_name is not None:
        grads = lax.pmean(grads, axis_name)
        metrics = lax.pmean(metrics, axis_name)
    updates, opt_state = state.tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    ema_params = state.ema_params
    if state.ema_decay:
        d = ema_decay_at(state.ema_decay, state.step)
        ema_params = jax.tree.map(lambda e, p: e + (1.0 - d) * (p - e), ema_params, params)
    new_state = state.replace(step=state.step + 1, params=params, opt_state=opt_state,
                              batch_stats=batch_stats, ema_params=ema_params)
    metrics["grad_norm"] = optax.tree.norm(grads)
    return new_state, metrics


def eval_step(state: TrainState, batch: Batch,
              axis_name: str | None = None) -> dict:
    """The objective's metrics on `batch` in inference mode (with the moving-average
    weights when the state keeps them), plus `count`.

    Metrics are means over the real (mask = 1) examples of the global batch and
    `count` is their number, so batches combine as count-weighted means.
    """
    outputs, _ = _forward(state, state.inference_params, batch, train=False, rng=None,
                          axis_name=axis_name)
    if state.global_objective and axis_name is not None:
        outputs, gathered = _objective_inputs(state, outputs, batch, axis_name)
        _, metrics = state.objective(outputs, gathered)
        mask = gathered.get("mask")
        count = (jnp.sum(jnp.asarray(mask, jnp.float32)) if mask is not None
                 else jnp.asarray(outputs.shape[0], jnp.float32))
        return dict(metrics, count=count)
    _, metrics = state.objective(outputs, batch)
    mask = batch.get("mask")
    count = (jnp.sum(jnp.asarray(mask, jnp.float32)) if mask is not None
             else jnp.asarray(batch["inputs"].shape[0], jnp.float32))
    if axis_name is not None:
        total = lax.psum(count, axis_name)
        metrics = {k: lax.psum(v * count, axis_name) / jnp.maximum(total, 1.0)
                   for k, v in metrics.items()}
        count = total
    return dict(metrics, count=count)


def predict_step(state: TrainState, batch: Batch) -> jax.Array:
    """The model's outputs (e.g. logits) on batch["inputs"], in inference mode
    (with the moving-average weights when the state keeps them)."""
    outputs, _ = _forward(state, state.inference_params, batch, train=False, rng=None,
                          axis_name=None)
    return outputs
