"""Building blocks of the procedural image generators (day'n'night scenes, faces).

Pure JAX, chosen so that a generator renders the same bits however it is batched:
per-pixel randomness is an integer hash (not threefry), per-image parameters come
from one uniform vector handed out in static slices (:class:`Draws`) and are snapped
to a dyadic grid (:func:`snap`), and noise fields are hashed lattices with static
interpolation weights. See :mod:`jaxdl.tasks.day_night.generator` for why.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


class Draws:
    """Hands out consecutive slices of one vector of uniform [0, 1) draws.

    One PRNG call per scene for all scalar parameters keeps tracing and compiling
    fast; slices are static, so every parameter is a fixed entry of the vector. Each
    draw is mapped to [lo, hi) and snapped (`snap`).
    """

    def __init__(self, key: jax.Array, n: int):
        self._u = jax.random.uniform(key, (n,))
        self._n, self._i = n, 0

    def __call__(self, lo=0.0, hi=1.0, shape=()):
        count = int(np.prod(shape, dtype=np.int64))
        assert self._i + count <= self._n, "too few draws: raise the count given to Draws"
        u = self._u[self._i:self._i + count].reshape(shape)
        self._i += count
        return snap(lo + (hi - lo) * u)


def snap(x: jax.Array) -> jax.Array:
    """Rounds to a multiple of 2**-16 (exactly: scaling by a power of two is exact).

    XLA on CPU fuses a*b+c into one FMA or not depending on how the surrounding
    program is fused, so a scalar can come out one ulp apart in a batched and an
    unbatched render. Snapping each per-scene parameter to a coarse dyadic grid cuts
    the arithmetic chain there, so such ulps almost never reach the pixels.
    """
    return jnp.round(x * 65536.0) * np.float32(2.0**-16)


def categorical(u, probs) -> jax.Array:
    """Index drawn from `probs` (a static tuple) given one uniform draw u in [0, 1)."""
    edges = np.cumsum(np.asarray(probs, np.float64))[:-1].astype(np.float32)
    return jnp.sum(u >= edges).astype(jnp.int32)


def hash_u32(x: jax.Array) -> jax.Array:
    """lowbias32 integer hash: uint32 array -> uint32 array of the same shape."""
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x7FEB352D)
    x = x ^ (x >> 15)
    x = x * jnp.uint32(0x846CA68B)
    return x ^ (x >> 16)


def hash_unit(seed: jax.Array, index) -> jax.Array:
    """Uniform [0, 1) float32 for each uint32 `index`, a pure function of (seed, index).

    Per-pixel randomness uses this cheap elementwise hash instead of threefry: it is
    about ten times faster on CPU and, being integer arithmetic, bit-identical however
    it is batched.
    """
    h = hash_u32(hash_u32(jnp.asarray(index, jnp.uint32) ^ seed[0]) + seed[1])
    return (h >> 8).astype(jnp.float32) * np.float32(2.0**-24)


def hash_normal(seed: jax.Array, index) -> jax.Array:
    """Approximately standard-normal float32 per uint32 `index` (sum of 4 uniform bytes)."""
    h = hash_u32(hash_u32(jnp.asarray(index, jnp.uint32) ^ seed[0]) + seed[1])
    total = ((h & 255) + ((h >> 8) & 255) + ((h >> 16) & 255) + (h >> 24)).astype(jnp.float32)
    return (total - 510.0) / np.float32(np.sqrt(4 * (256**2 - 1) / 12))


def smoothstep(edge0, edge1, x):
    t = jnp.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def value_noise(seed: jax.Array, ny: int, nx: int, size: int) -> jax.Array:
    """Smooth value noise in [0, 1] over a size x size grid: [size, size] float32.

    The lattice has ny x nx cells over the image; lattice values are hashed from their
    integer coordinates (no gathers), and interpolated with smoothstep weights that
    depend on `size` only (static numpy constants).
    """
    c = (np.arange(size, dtype=np.float64) + 0.5) / size
    gy, gx = c[:, None] * ny, c[None, :] * nx
    iy, ix = np.floor(gy).astype(np.uint32), np.floor(gx).astype(np.uint32)
    fy, fx = gy - iy, gx - ix
    fy = (fy * fy * (3.0 - 2.0 * fy)).astype(np.float32)  # smoothstep weights, static
    fx = (fx * fx * (3.0 - 2.0 * fx)).astype(np.float32)

    def corner(dy, dx):
        return hash_unit(seed, (iy + dy) * np.uint32(1021) + (ix + dx))

    top = corner(0, 0) * (1 - fx) + corner(0, 1) * fx
    bottom = corner(1, 0) * (1 - fx) + corner(1, 1) * fx
    return top * (1 - fy) + bottom * fy


def fbm(seed: jax.Array, base_y: int, base_x: int, octaves: int, size: int) -> jax.Array:
    """Fractal noise in [0, 1], [size, size] float32.

    The sum of `octaves` value-noise layers, each twice as fine and half as strong as
    the one before, normalised by the total weight.
    """
    total, norm = 0.0, 0.0
    for i in range(octaves):
        octave_seed = seed + jnp.uint32(0x9E3779B9 * (i + 1) & 0xFFFFFFFF)
        total = total + 0.5**i * value_noise(octave_seed, base_y * 2**i, base_x * 2**i, size)
        norm += 0.5**i
    return total / norm


def disc(dist, radius, size: int):
    """Anti-aliased disc coverage in [0, 1] from a distance field (image widths)."""
    return jax.nn.sigmoid((radius - dist) * size * 2.5)


def quantize(image: jax.Array) -> jax.Array:
    """Float image in [0, 1] (any shape) -> uint8, round(clip(x, 0, 1) * 255)."""
    return jnp.round(jnp.clip(image, 0.0, 1.0) * 255.0).astype(jnp.uint8)
