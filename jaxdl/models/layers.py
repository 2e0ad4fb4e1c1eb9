"""Layers shared by jaxdl's models."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import flax.linen as nn


class ExampleDropout(nn.Module):
    """Dropout whose mask for each example depends only on (rng, example id).

    `flax.linen.Dropout` draws one mask for the batch it sees, so the same global
    batch split over 1, 2 or 4 devices gets different masks and the runs diverge.
    Here example `i` of the batch draws its mask from `fold_in(rng, example_ids[i])`,
    so the result is independent of how the batch is laid out over devices.

    Attributes:
      rate: probability of dropping a unit, in [0, 1).
    """

    rate: float

    @nn.compact
    def __call__(self, x: jax.Array, *, deterministic: bool,
                 example_ids: jax.Array | None = None) -> jax.Array:
        """x: [B, ...]; example_ids: int [B] (defaults to positions 0..B-1)."""
        if deterministic or self.rate == 0.0:
            return x
        if not 0.0 <= self.rate < 1.0:
            raise ValueError(f"dropout rate must be in [0, 1), got {self.rate}")
        keep = 1.0 - self.rate
        if example_ids is None:
            example_ids = jnp.arange(x.shape[0])
        rng = self.make_rng("dropout")
        keys = jax.vmap(lambda i: jax.random.fold_in(rng, i))(example_ids)
        mask = jax.vmap(lambda k: jax.random.bernoulli(k, keep, x.shape[1:]))(keys)
        return jnp.where(mask, x / keep, jnp.zeros_like(x))
