"""Small convolutional classifiers (pure flax.linen modules)."""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
import flax.linen as nn

from jaxdl.models.layers import ExampleDropout, conv, pool_2x2


class ShallowCNN(nn.Module):
    """The course's shallow CNN for 64x64x3 day'n'night images.

    Conv blocks of `features` 3x3 filters (each: conv -> [batch norm] -> ReLU ->
    2x2 max pooling), then Dense(`hidden`) -> ReLU -> dropout -> Dense(`num_outputs`).
    Returns logits: [B] when num_outputs == 1 (binary, sigmoid outside), else
    [B, num_outputs].

    Attributes:
      features: filters of each conv block.
      hidden: width of the dense layer.
      dropout_rate: dropout before the output layer.
      batch_norm: add batch norm after each conv (statistics synchronised over
        `axis_name` when the step runs on several devices).
      num_outputs: 1 for a single logit.
      dtype: compute dtype of the layers (jnp.bfloat16 for mixed precision);
        parameters and batch-norm statistics stay float32, and the logits are
        returned as float32.
    """

    features: Sequence[int] = (16, 32, 64)
    hidden: int = 64
    dropout_rate: float = 0.5
    batch_norm: bool = False
    num_outputs: int = 1
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool = False,
                 example_ids: jax.Array | None = None,
                 axis_name: str | None = None) -> jax.Array:
        """x: float [B, H, W, C] (normalised); returns float32 logits [B] or
        [B, num_outputs]."""
        layer = dict(dtype=self.dtype, param_dtype=jnp.float32)
        for i, f in enumerate(self.features):
            x = nn.Conv(f, (3, 3), padding="SAME", use_bias=not self.batch_norm,
                        conv_general_dilated=conv, name=f"conv{i + 1}", **layer)(x)
            if self.batch_norm:  # (statistics are computed and kept in float32)
                x = nn.BatchNorm(use_running_average=not train, momentum=0.9,
                                 axis_name=axis_name, name=f"bn{i + 1}", **layer)(x)
            # max pooling commutes with ReLU (both monotone): pooling first is the
            # same function, with a quarter of the ReLUs.
            x = nn.relu(pool_2x2(x, "max"))
        x = x.reshape((x.shape[0], -1))
        x = nn.relu(nn.Dense(self.hidden, name="dense", **layer)(x))
        x = ExampleDropout(self.dropout_rate)(x, deterministic=not train,
                                              example_ids=example_ids)
        x = nn.Dense(self.num_outputs, name="logits", **layer)(x).astype(jnp.float32)
        return x[:, 0] if self.num_outputs == 1 else x
