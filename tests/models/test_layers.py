"""The CPU-friendly convolution and pooling are the functions they replace."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl.models import layers
from jaxdl.models.layers import conv, pool_2x2

CONVS = [  # (input shape, kernel shape, strides, padding, dimension numbers)
    ((64, 12, 12, 3), (3, 3, 3, 8), (1, 1), "SAME", ("NHWC", "HWIO", "NHWC")),
    ((6, 9, 9, 4), (3, 3, 4, 8), (2, 2), [(0, 1), (0, 1)], ("NHWC", "HWIO", "NHWC")),
    ((32, 40, 5), (15, 5, 6), (4,), "VALID", ("NWC", "WIO", "NWC")),
]


@pytest.mark.parametrize("shapes", CONVS)
def test_conv_values_and_gradients_match_lax(shapes):
    xs, ws, strides, padding, numbers = shapes
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=xs), jnp.float32)
    w = jnp.asarray(rng.normal(size=ws), jnp.float32)

    def loss(fn):
        return lambda x, w: jnp.sum(jnp.sin(fn(x, w, strides, padding,
                                                dimension_numbers=numbers)))
    np.testing.assert_allclose(
        conv(x, w, strides, padding, dimension_numbers=numbers),
        jax.lax.conv_general_dilated(x, w, strides, padding, dimension_numbers=numbers),
        rtol=0, atol=0)
    want = jax.grad(loss(jax.lax.conv_general_dilated), argnums=(0, 1))(x, w)
    got = jax.jit(jax.grad(loss(conv), argnums=(0, 1)))(x, w)
    for g, e in zip(got, want):
        np.testing.assert_allclose(g, e, rtol=1e-4, atol=1e-4 * float(jnp.max(jnp.abs(e))))


def test_filter_gradient_chunks():
    # at most 4096 positions per chunk, at most 16 chunks, always a divisor
    assert layers._filter_grad_chunk(64, 64 * 64) == 4   # 16 chunks of 4 (cap)
    assert layers._filter_grad_chunk(64, 32 * 32) == 4   # 4 x 1024 = 4096
    assert layers._filter_grad_chunk(32, 496) == 8       # 8 x 496 <= 4096 < 16 x 496
    assert layers._filter_grad_chunk(6, 100) == 6        # the whole batch fits
    assert layers._filter_grad_chunk(1, 256 * 256) == 1
    assert layers._filter_grad_chunk(7, 4000) == 1       # 7 is prime: 7 chunks of 1


@pytest.mark.parametrize("kind,flax_pool", [("max", nn.max_pool), ("avg", nn.avg_pool)])
@pytest.mark.parametrize("size", [(8, 8), (7, 9)])
def test_pool_2x2_matches_flax(kind, flax_pool, size):
    x = jnp.asarray(np.random.default_rng(1).normal(size=(3, *size, 5)), jnp.float32)
    want = flax_pool(x, (2, 2), strides=(2, 2))
    np.testing.assert_allclose(pool_2x2(x, kind), want, rtol=1e-6)
    # no ties in random normals: the gradients agree exactly too
    g = lambda f: jax.grad(lambda x: jnp.sum(jnp.cos(f(x)) * jnp.arange(want.size).reshape(
        want.shape)))(x)
    np.testing.assert_allclose(g(lambda x: pool_2x2(x, kind)),
                               g(lambda x: flax_pool(x, (2, 2), strides=(2, 2))),
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError):
        pool_2x2(x, "min")
