"""Pure loss functions and weight penalties.

Objectives used by `jaxdl.train.train_step` have the signature
`objective(outputs, batch) -> (loss, metrics)`: `loss` is a float32 scalar, the
mean over the batch's real examples, and `metrics` a dict of float32 scalars, also
means over real examples. A batch may carry `mask` (float/bool [B]) marking padded
examples with 0; they then count for nothing.
"""

from __future__ import annotations

from typing import Any, Mapping

import jax
import jax.numpy as jnp
import optax


def masked_mean(values: jax.Array, mask: jax.Array | None = None) -> jax.Array:
    """Mean of `values` [B, ...] over the examples where mask [B] is 1 (all if None).

    Trailing axes (e.g. time steps) are averaged too. Returns 0 for an empty mask.
    """
    values = jnp.asarray(values, jnp.float32)
    if mask is None:
        return jnp.mean(values)
    weights = jnp.broadcast_to(
        jnp.asarray(mask, jnp.float32).reshape(mask.shape + (1,) * (values.ndim - 1)),
        values.shape)
    return jnp.sum(values * weights) / jnp.maximum(jnp.sum(weights), 1.0)


def sigmoid_binary_cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Per-element binary cross-entropy -[y log p + (1-y) log(1-p)], p = sigmoid(logit).

    Computed from logits (numerically stable). logits, labels: same shape; labels in
    {0, 1} (or soft targets in [0, 1]). Returns float32 of that shape, in nats.
    """
    return optax.sigmoid_binary_cross_entropy(
        jnp.asarray(logits, jnp.float32), jnp.asarray(labels, jnp.float32))


def binary_classification(outputs: jax.Array,
                          batch: Mapping[str, Any]) -> tuple[jax.Array, dict]:
    """Objective for binary classification from one logit per example.

    outputs: logits [B]; batch["label"]: int [B] in {0, 1}; optional batch["mask"].
    Returns (mean BCE, {"loss", "accuracy"}), accuracy at p = 0.5 (logit 0).
    """
    labels = batch["label"]
    mask = batch.get("mask")
    loss = masked_mean(sigmoid_binary_cross_entropy(outputs, labels), mask)
    correct = (outputs > 0) == (labels == 1)
    return loss, {"loss": loss, "accuracy": masked_mean(correct, mask)}


def _is_kernel(path) -> bool:
    last = path[-1]
    return getattr(last, "key", getattr(last, "name", None)) == "kernel"


def l1_penalty(params: Any) -> jax.Array:
    """Sum of |w| over every weight matrix / conv kernel (biases and norm scales excluded)."""
    leaves = [jnp.sum(jnp.abs(x)) for p, x in
              jax.tree_util.tree_leaves_with_path(params) if _is_kernel(p)]
    return sum(leaves, jnp.zeros((), jnp.float32))


def l2_penalty(params: Any) -> jax.Array:
    """Half the sum of w^2 over every kernel (biases and norm scales excluded).

    With the 1/2, the gradient of l2 * l2_penalty is l2 * w, the classic weight decay.
    """
    leaves = [0.5 * jnp.sum(jnp.square(x)) for p, x in
              jax.tree_util.tree_leaves_with_path(params) if _is_kernel(p)]
    return sum(leaves, jnp.zeros((), jnp.float32))
