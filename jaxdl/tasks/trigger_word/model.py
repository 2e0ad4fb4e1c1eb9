"""Recurrent sequence models (pure flax.linen modules)."""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
import flax.linen as nn

from jaxdl.models.layers import ExampleDropout, conv


def conv_output_length(length: int, kernel: int, stride: int) -> int:
    """Steps out of a 'VALID' 1-D convolution: (length - kernel) // stride + 1."""
    if length < kernel:
        raise ValueError(f"an input of {length} steps is shorter than the kernel ({kernel})")
    return (length - kernel) // stride + 1


class TriggerWordModel(nn.Module):
    """The course's trigger-word detector: one probability per output step.

    Conv1D(conv_features, kernel, stride) -> BN -> ReLU -> Dropout ->
    [GRU(g) -> Dropout -> BN] for g in gru_features -> Dropout -> per-step Dense(1).
    Returns logits [B, Ty] (the sigmoid is in the loss and at prediction),
    Ty = conv_output_length(Tx, kernel, stride). The GRUs are unidirectional
    (flax.linen.RNN, a lax.scan), so step t sees inputs up to t only and the model
    can stream; batch norm at inference is a per-feature affine map.

    Attributes:
      conv_features, kernel, stride: the convolution (course: 196, 15, 4).
      gru_features: one GRU layer per entry (course: 128, 128).
      dropout_rate: every dropout layer's rate.
      unroll: time steps per iteration of the GRUs' scan (the same function; a
        speed and compile-time trade-off).
      dtype: compute dtype of the layers (jnp.bfloat16 for mixed precision);
        parameters and batch-norm statistics stay float32, and the logits are
        returned as float32. The GRUs' hidden state stays float32 (flax makes the
        carry in param_dtype, and the cell's update promotes to it), so only their
        matmuls and gates run in bfloat16.
    """

    conv_features: int = 196
    kernel: int = 15
    stride: int = 4
    gru_features: Sequence[int] = (128, 128)
    dropout_rate: float = 0.2
    unroll: int = 1
    dtype: Any = jnp.float32

    def output_steps(self, num_frames: int) -> int:
        return conv_output_length(num_frames, self.kernel, self.stride)

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool = False,
                 example_ids: jax.Array | None = None,
                 axis_name: str | None = None) -> jax.Array:
        """x: float [B, Tx, F] (e.g. log spectrogram frames); returns float32
        logits [B, Ty]."""
        layer = dict(dtype=self.dtype, param_dtype=jnp.float32)

        def bn(name):
            return nn.BatchNorm(use_running_average=not train, momentum=0.99,
                                axis_name=axis_name, name=name, **layer)

        def dropout(y):
            return ExampleDropout(self.dropout_rate)(y, deterministic=not train,
                                                     example_ids=example_ids)

        x = nn.Conv(self.conv_features, (self.kernel,), strides=(self.stride,),
                    padding="VALID", conv_general_dilated=conv, name="conv", **layer)(x)
        x = dropout(nn.relu(bn("conv_bn")(x)))
        for i, g in enumerate(self.gru_features):
            x = nn.RNN(nn.GRUCell(g, **layer), unroll=self.unroll, name=f"gru{i + 1}")(x)
            x = bn(f"gru{i + 1}_bn")(dropout(x))
        x = dropout(x)
        return nn.Dense(1, name="logits", **layer)(x)[..., 0].astype(jnp.float32)
