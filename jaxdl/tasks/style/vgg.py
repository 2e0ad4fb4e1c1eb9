"""VGG19's convolutional part as a feature network (pure flax.linen).

Style transfer (Gatys et al. 2015) reads activations of a VGG19 trained on
ImageNet; the layers are named as in the paper and the course: `conv{block}_{n}`
is the ReLU output of the n-th 3x3 convolution of block b, `pool{block}` the
pooling after the block. Weight files (torchvision safetensors, Keras .h5) are
read by `jaxdl.tasks.style.vgg_weights` into the parameter tree this module makes:
``{"conv1_1": {"kernel": [3, 3, C_in, C_out], "bias": [C_out]}, ...}``.
"""

from __future__ import annotations

from typing import Any, Sequence

import jax
import jax.numpy as jnp
import flax.linen as nn
import numpy as np

from jaxdl.models.layers import conv, pool_2x2

# Convolutions per block and their widths: VGG19 ("E" in Simonyan & Zisserman 2014).
VGG19_BLOCKS = (2, 2, 4, 4, 4)
VGG19_WIDTHS = (64, 128, 256, 512, 512)
VGG19_CONVS = tuple(f"conv{b + 1}_{n + 1}" for b, count in enumerate(VGG19_BLOCKS)
                    for n in range(count))
VGG19_LAYERS = tuple(name for b, count in enumerate(VGG19_BLOCKS)
                     for name in [f"conv{b + 1}_{n + 1}" for n in range(count)]
                     + [f"pool{b + 1}"])

# Input normalisations the published weights were trained with, for RGB in [0, 1].
# torchvision: (x - mean) / std. caffe (Keras applications' VGG19, converted from
# the original Caffe model): BGR channel order, 0..255 scale, mean subtracted.
PREPROCESSING = ("torchvision", "caffe")
TORCHVISION_MEAN = (0.485, 0.456, 0.406)
TORCHVISION_STD = (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


def preprocess(images: jax.Array, mode: str) -> jax.Array:
    """RGB in [0, 1], [..., H, W, 3] -> the network's input under `mode`
    ("torchvision" or "caffe"; see PREPROCESSING)."""
    if mode == "torchvision":
        return (images - jnp.asarray(TORCHVISION_MEAN)) / jnp.asarray(TORCHVISION_STD)
    if mode == "caffe":
        return images[..., ::-1] * 255.0 - jnp.asarray(CAFFE_MEAN_BGR)
    raise ValueError(f"unknown VGG preprocessing {mode!r}; choose from {PREPROCESSING}")


def deepest_layer(names: Sequence[str]) -> str:
    """Of layer names (see VGG19_LAYERS), the one computed last."""
    unknown = [n for n in names if n not in VGG19_LAYERS]
    if unknown or not names:
        raise ValueError(f"unknown VGG19 layer(s) {unknown or list(names)}; layers are "
                         f"{', '.join(VGG19_LAYERS)}")
    return max(names, key=VGG19_LAYERS.index)


class VGG19(nn.Module):
    """VGG19 without its classifier: 16 3x3 convolutions (+ ReLU) in 5 blocks, each
    block followed by 2x2 pooling of stride 2.

    Attributes:
      pooling: "avg" (Gatys et al.: smoother gradients for image synthesis) or "max"
        (what the network was trained with).
      preprocessing: how [0, 1] RGB input is normalised ("torchvision", "caffe"),
        matching where the weights came from.
      outputs: layer names to return; the network stops at the deepest of them
        (so style transfer never pays for conv5_2..pool5). Empty: all layers.
      widths: filters per block (VGG19's are VGG19_WIDTHS; tests use narrow ones).
      dtype: compute dtype of the convolutions (jnp.bfloat16 for mixed precision).
        Parameters stay float32, the input normalisation is computed in float32,
        and every returned feature map is float32 (so Gram matrices and losses
        are computed in float32). float64 input (under `jax.enable_x64`, for
        finite-difference gradient checks) is computed in float64 whatever dtype
        says, as it was before dtype existed.
    """

    pooling: str = "avg"
    preprocessing: str = "torchvision"
    outputs: Sequence[str] = ()
    widths: Sequence[int] = VGG19_WIDTHS
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, images: jax.Array) -> dict[str, jax.Array]:
        """images: float [B, H, W, 3] RGB in [0, 1] (or [H, W, 3]).

        Returns {layer name: float32 activations [B, h, w, C]} for the requested
        layers (ReLU outputs for `conv*`; the batch axis is dropped for [H, W, 3]
        input).
        """
        if self.pooling not in ("avg", "max"):
            raise ValueError(f"pooling must be 'avg' or 'max', got {self.pooling!r}")
        wanted = tuple(self.outputs) or VGG19_LAYERS
        last = deepest_layer(wanted)
        single = images.ndim == 3
        x = preprocess(images[None] if single else images, self.preprocessing)
        compute = x.dtype if x.dtype == jnp.float64 else self.dtype
        features_dtype = jnp.promote_types(compute, jnp.float32)  # at least float32
        x = x.astype(compute)
        found = {}
        for name in VGG19_LAYERS:
            if name.startswith("conv"):
                block = int(name[4]) - 1
                x = nn.relu(nn.Conv(self.widths[block], (3, 3), padding="SAME",
                                    kernel_init=nn.initializers.he_normal(),
                                    conv_general_dilated=conv, name=name,
                                    dtype=compute, param_dtype=jnp.float32)(x))
            else:
                x = pool_2x2(x, self.pooling)
            if name in wanted:
                found[name] = (x[0] if single else x).astype(features_dtype)
            if name == last:
                break
        return found


def init_vgg19(seed: int = 0, *, widths: Sequence[int] = VGG19_WIDTHS,
               probe_size: int = 64) -> dict:
    """A deterministic random VGG19 whose activations keep their scale layer to layer.

    He-normal kernels keep the second moment of ReLU activations only on average and
    not through average pooling, so each convolution is then rescaled to give
    post-ReLU activations of mean square 1 on a fixed probe (4 smooth random images
    of `probe_size` pixels, made from `seed`: no data involved). This puts every style
    layer's Gram matrix on the same scale.

    One forward pass suffices: with zero biases, ReLU and pooling are positively
    homogeneous, so scaling conv l's kernel by s_l scales every later activation by
    s_l. Layer l's activations are raw_l * prod(s_1..s_l), so s_l = c_l / c_(l-1)
    with c_l = 1 / rms(raw_l).

    Returns the parameter tree {"params": {"conv1_1": {"kernel", "bias"}, ...}} for
    all 16 convolutions (biases zero).
    """
    # numpy's PCG64 streams: the same numbers on every platform, and no compilation
    # per kernel shape (16 jax.random calls would compile 16 programs).
    model = VGG19(widths=tuple(widths), outputs=VGG19_CONVS)
    probe = _probe_images(seed, probe_size)
    raw = {}
    for i, (name, shape) in enumerate(_conv_shapes(widths).items()):
        fan_in = shape[0] * shape[1] * shape[2]
        kernel = np.random.default_rng([seed, i]).standard_normal(shape, np.float32)
        raw[name] = {"kernel": kernel * np.float32(np.sqrt(2.0 / fan_in)),  # He normal
                     "bias": np.zeros(shape[-1], np.float32)}
    acts = jax.jit(model.apply)({"params": raw}, probe)
    params, previous = {}, 1.0
    for name in VGG19_CONVS:
        cumulative = 1.0 / np.sqrt(float(jnp.mean(acts[name] ** 2)) + 1e-30)
        params[name] = {"kernel": (raw[name]["kernel"] * (cumulative / previous)
                                   ).astype(np.float32),
                        "bias": raw[name]["bias"]}
        previous = cumulative
    return {"params": params}


def _probe_images(seed: int, size: int) -> jax.Array:
    """4 smooth random RGB images [4, size, size, 3] in [0, 1]: white noise on a grid
    8 times coarser, upsampled bilinearly."""
    side = max(1, size // 8)
    coarse = np.random.default_rng([seed, 1_000]).uniform(size=(4, side, side, 3))
    return jax.image.resize(jnp.asarray(coarse, jnp.float32), (4, size, size, 3), "bilinear")


def _conv_shapes(widths: Sequence[int]) -> dict[str, tuple[int, int, int, int]]:
    """{conv name: kernel shape [3, 3, C_in, C_out]} for VGG19 with `widths`."""
    shapes, c_in = {}, 3
    for name in VGG19_CONVS:
        c_out = widths[int(name[4]) - 1]
        shapes[name] = (3, 3, c_in, c_out)
        c_in = c_out
    return shapes
