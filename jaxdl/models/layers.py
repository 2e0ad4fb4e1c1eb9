"""Layers shared by jaxdl's models."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import flax.linen as nn
import numpy as np

from jaxdl.config import ConfigError

# Compute dtypes a config may name (`train.dtype`): the dtype of the models'
# activations and matmuls; parameters, batch-norm statistics and optimiser state
# stay float32 whatever it is.
COMPUTE_DTYPES = ("float32", "bfloat16")


def compute_dtype(name: str) -> jnp.dtype:
    """A config's compute dtype name -> the dtype: "float32" -> jnp.float32,
    "bfloat16" -> jnp.bfloat16. Anything else raises ConfigError (float16 with its
    own reason: it needs loss scaling)."""
    if name == "float32":
        return jnp.float32
    if name == "bfloat16":
        return jnp.bfloat16
    if name == "float16":
        raise ConfigError("compute dtype 'float16' needs loss scaling, which jaxdl does "
                          "not implement; use 'bfloat16' (it has float32's exponent range)")
    raise ConfigError(f"unknown compute dtype {name!r}; choose from: "
                      + ", ".join(COMPUTE_DTYPES))


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
        # `keep` is a Python float (weakly typed): x / keep keeps x's dtype, so
        # bfloat16 activations stay bfloat16.
        return jnp.where(mask, x / keep, jnp.zeros_like(x))


# The kernel gradient on CPU is summed over chunks of the batch of about this many
# output positions (batch x spatial), in at most FILTER_GRAD_MAX_CHUNKS unrolled
# pieces; see `conv` and docs/performance.md for the measurements behind them.
FILTER_GRAD_POSITIONS = 4096
FILTER_GRAD_MAX_CHUNKS = 16


def _filter_grad_chunk(batch: int, positions: int) -> int:
    """Examples per chunk: the largest divisor of `batch` whose chunk has at most
    FILTER_GRAD_POSITIONS output positions, raised if needed to the smallest
    giving at most FILTER_GRAD_MAX_CHUNKS chunks."""
    divisors = [c for c in range(1, batch + 1) if batch % c == 0]
    fits = [c for c in divisors if c * positions <= FILTER_GRAD_POSITIONS] or [1]
    return max(fits[-1], min(c for c in divisors if batch // c <= FILTER_GRAD_MAX_CHUNKS))


def conv(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None,
         dimension_numbers=None, feature_group_count=1, batch_group_count=1,
         precision=None, preferred_element_type=None):
    """`jax.lax.conv_general_dilated` with the same values and gradients, whose
    gradient with respect to the kernel is, on CPU, summed over chunks of the batch.

    XLA's CPU backend computes a kernel gradient as one convolution contracting
    over every output position of the batch, and that runs 2-4x slower than the
    same sum taken over chunks of about FILTER_GRAD_POSITIONS positions (measured
    in docs/performance.md). On other backends, and for grouped convolutions, this
    is plain `conv_general_dilated`. Pass it to `flax.linen.Conv(conv_general_dilated=conv)`.

    On CPU it is a `jax.custom_vjp`: reverse-mode only (grad, vjp, vmap of
    them); forward-mode (`jax.jvp`, `jax.jacfwd`) through it raises.
    """
    kwargs = dict(window_strides=window_strides, padding=padding,
                  lhs_dilation=lhs_dilation, rhs_dilation=rhs_dilation,
                  dimension_numbers=dimension_numbers,
                  feature_group_count=feature_group_count,
                  batch_group_count=batch_group_count, precision=precision,
                  preferred_element_type=preferred_element_type)
    if jax.default_backend() != "cpu" or feature_group_count != 1 or batch_group_count != 1:
        return jax.lax.conv_general_dilated(lhs, rhs, **kwargs)
    return _chunked_conv(lhs, rhs, tuple((k, _hashable(v)) for k, v in sorted(kwargs.items())))


def _hashable(v):
    """Lists (e.g. flax's padding pairs) as tuples, so the arguments can be static."""
    if isinstance(v, list) or (isinstance(v, tuple) and not hasattr(v, "_fields")):
        return tuple(_hashable(x) for x in v)
    return v


def _plain(lhs, rhs, kwargs):
    return jax.lax.conv_general_dilated(lhs, rhs, **dict(kwargs))


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _chunked_conv(lhs, rhs, kwargs):
    return _plain(lhs, rhs, kwargs)


def _chunked_conv_fwd(lhs, rhs, kwargs):
    return _plain(lhs, rhs, kwargs), (lhs, rhs)


def _chunked_conv_bwd(kwargs, residuals, g):
    lhs, rhs = residuals
    _, lhs_vjp = jax.vjp(lambda x: _plain(x, rhs, kwargs), lhs)
    (d_lhs,) = lhs_vjp(g)
    numbers = jax.lax.conv_dimension_numbers(lhs.shape, rhs.shape,
                                             dict(kwargs)["dimension_numbers"])
    batch_axis = numbers.lhs_spec[0]
    out_batch_axis = numbers.out_spec[0]
    batch = lhs.shape[batch_axis]
    positions = int(np.prod([g.shape[a] for a in numbers.out_spec[2:]]))
    c = _filter_grad_chunk(batch, positions)

    def kernel_grad(x, dy):
        return jax.vjp(lambda w: _plain(x, w, kwargs), rhs)[1](dy)[0]

    # Unrolled: inside a loop XLA's CPU convolution is about 10x slower still.
    # The chunks' partial sums are added in float32 (at least): added in bfloat16,
    # 16 chunks' kernel gradient was 2.7-3.1x further from float32's than the
    # unchunked bfloat16 convolution's, in float32 1.4x (see
    # tests/models/test_mixed_precision.py). For float32 nothing changes.
    take = lambda a, axis, i: jax.lax.slice_in_dim(a, i, i + c, axis=axis)
    acc = jnp.promote_types(rhs.dtype, jnp.float32)
    d_rhs = sum(kernel_grad(take(lhs, batch_axis, i), take(g, out_batch_axis, i)).astype(acc)
                for i in range(0, batch, c))
    return d_lhs, d_rhs.astype(rhs.dtype)


_chunked_conv.defvjp(_chunked_conv_fwd, _chunked_conv_bwd)


def pool_2x2(x: jax.Array, kind: str = "max") -> jax.Array:
    """2x2 pooling with stride 2 over [B, H, W, C] (odd edges dropped, as 'VALID'
    pooling does): the maximum of the four strided slices, or the windows' mean.

    The same values as `flax.linen.max_pool` / `avg_pool` with window and strides
    (2, 2), but its gradient is elementwise selects instead of XLA's
    select-and-scatter (reduce_window's gradient), which on CPU is several times
    slower. Where a maximum is tied, the gradient is shared between the tied inputs
    (after a ReLU, ties are zeros, whose gradient the ReLU then zeroes).
    Keeps x's dtype (for bfloat16, "avg" sums in float32 inside `jnp.mean`).
    """
    if kind not in ("max", "avg"):
        raise ValueError(f"pooling must be 'max' or 'avg', got {kind!r}")
    b, h, w, c = x.shape
    x = x[:, :h // 2 * 2, :w // 2 * 2]
    if kind == "avg":  # (as a reshape: measured faster than slices for VGG19)
        return x.reshape(b, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))
    return jnp.maximum(jnp.maximum(x[:, 0::2, 0::2], x[:, 0::2, 1::2]),
                       jnp.maximum(x[:, 1::2, 0::2], x[:, 1::2, 1::2]))
