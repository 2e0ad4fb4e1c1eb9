"""Small ResNet-style encoders (pure flax.linen modules)."""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
import flax.linen as nn

from jaxdl.models.layers import conv


class ResidualBlock(nn.Module):
    """conv3x3 -> BN -> ReLU -> conv3x3 -> BN, plus a (projected) shortcut, -> ReLU.

    dtype: compute dtype (parameters and batch-norm statistics stay float32).
    """

    features: int
    strides: int = 1
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool, axis_name: str | None) -> jax.Array:
        layer = dict(dtype=self.dtype, param_dtype=jnp.float32)
        norm = lambda name: nn.BatchNorm(use_running_average=not train, momentum=0.9,
                                         axis_name=axis_name, name=name, **layer)
        y = nn.Conv(self.features, (3, 3), strides=self.strides, padding="SAME",
                    use_bias=False, conv_general_dilated=conv, name="conv1", **layer)(x)
        y = nn.relu(norm("bn1")(y))
        y = nn.Conv(self.features, (3, 3), padding="SAME", use_bias=False,
                    conv_general_dilated=conv, name="conv2", **layer)(y)
        y = norm("bn2")(y)
        if x.shape[-1] != self.features or self.strides != 1:
            x = nn.Conv(self.features, (1, 1), strides=self.strides, use_bias=False,
                        conv_general_dilated=conv, name="shortcut", **layer)(x)
            x = norm("bn_shortcut")(x)
        return nn.relu(x + y)


class ResNetEncoder(nn.Module):
    """Image -> L2-normalised embedding (FaceNet style).

    A stem conv, then stages of residual blocks (each stage after the first halves
    the resolution), global average pooling, Dense(`embedding_dim`) and L2
    normalisation, so embeddings lie on the unit sphere and squared distances are
    in [0, 4].

    Attributes:
      stage_features: channels of each stage.
      blocks_per_stage: residual blocks in each stage.
      embedding_dim: size of the embedding (128 in FaceNet).
      dtype: compute dtype of the layers (jnp.bfloat16 for mixed precision);
        parameters and batch-norm statistics stay float32, and the L2
        normalisation and the embeddings are float32.
    """

    stage_features: Sequence[int] = (32, 64, 128, 256)
    blocks_per_stage: Sequence[int] = (1, 1, 1, 1)
    embedding_dim: int = 128
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool = False,
                 example_ids: jax.Array | None = None,
                 axis_name: str | None = None) -> jax.Array:
        """x: float [B, H, W, C]; returns float32 [B, embedding_dim], unit L2 norm."""
        del example_ids  # no dropout here; kept for the models' calling convention
        layer = dict(dtype=self.dtype, param_dtype=jnp.float32)
        x = nn.Conv(self.stage_features[0], (3, 3), padding="SAME", use_bias=False,
                    conv_general_dilated=conv, name="stem", **layer)(x)
        x = nn.BatchNorm(use_running_average=not train, momentum=0.9,
                         axis_name=axis_name, name="stem_bn", **layer)(x)
        x = nn.relu(x)
        for s, (features, blocks) in enumerate(zip(self.stage_features,
                                                   self.blocks_per_stage)):
            for b in range(blocks):
                x = ResidualBlock(features, strides=2 if (s > 0 and b == 0) else 1,
                                  dtype=self.dtype, name=f"stage{s + 1}_block{b + 1}")(
                    x, train=train, axis_name=axis_name)
        x = jnp.mean(x, axis=(1, 2))
        # The normalisation in float32: the triplet loss compares squared distances
        # between unit vectors, which bfloat16's 8-bit mantissa would blur.
        x = nn.Dense(self.embedding_dim, name="embedding", **layer)(x).astype(jnp.float32)
        return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
