"""Invariants of the procedural painted texture (jaxdl.tasks.style.generator).

Everything renders at 64x64 with the default stroke count (102 strokes) and only a
handful of palette lengths, so the file compiles a few small programs and stays fast.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

from jaxdl.tasks.style import generator as textures

S = 64


def _render(seed: int, **kwargs) -> np.ndarray:
    return np.asarray(textures.painted_texture(jax.random.key(seed), S, **kwargs))


@pytest.fixture(scope="module")
def images():
    """Default-palette textures for keys 0..3: {seed: f32 [S, S, 3]}."""
    return {seed: _render(seed) for seed in range(4)}


def _box_blur(a: np.ndarray, r: int) -> np.ndarray:
    """Mean over a (2r+1)^2 window with edge padding, per channel: same shape as a."""
    pad = np.pad(a, ((r, r), (r, r)) + ((0, 0),) * (a.ndim - 2), mode="edge")
    out = np.zeros_like(a, dtype=np.float64)
    for dy in range(2 * r + 1):
        for dx in range(2 * r + 1):
            out += pad[dy:dy + a.shape[0], dx:dx + a.shape[1]]
    return out / (2 * r + 1) ** 2


def _high_pass_luminance(img: np.ndarray) -> np.ndarray:
    """Luminance minus its 5x5 box blur: the brush-stroke detail, without the base coat."""
    lum = img.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    return lum - _box_blur(lum, 2)


def _flow_alignment(img: np.ndarray, flow: np.ndarray, block: int = 8) -> float:
    """How well the image's local stripes follow `flow` [S, S, 2] (unit vectors).

    Per block of block x block pixels, the structure tensor J = sum(g g^T) of the
    high-passed luminance gradient g gives the dominant stripe orientation (across
    the gradient), as a doubled-angle vector of length lambda1 - lambda2. The score
    is sum over blocks of that vector dotted with the unit doubled-angle flow
    direction, divided by sum(trace J): 1 when every block is a perfect stripe along
    the flow, about 0 for isotropic or randomly oriented structure, -1 when stripes
    run across the flow.
    """
    gy, gx = np.gradient(_high_pass_luminance(img))
    n = img.shape[0] // block

    def block_sum(a):
        return a.reshape(n, block, n, block).sum(axis=(1, 3))

    jxx, jyy, jxy = block_sum(gx * gx), block_sum(gy * gy), block_sum(gx * gy)
    # Stripes run perpendicular to the gradient: negate the gradient's doubled angle.
    sx, sy = -(jxx - jyy), -2.0 * jxy
    fx, fy = flow[..., 0], flow[..., 1]
    f2x, f2y = block_sum(fx * fx - fy * fy), block_sum(2 * fx * fy)
    f2n = np.hypot(f2x, f2y) + 1e-12
    return float(((sx * f2x + sy * f2y) / f2n).sum() / (jxx + jyy).sum())


def test_deterministic_and_key_dependent(images):
    again = _render(0)
    np.testing.assert_array_equal(again, images[0])  # same key -> same bits
    assert again.tobytes() == images[0].tobytes()
    for a in range(4):
        for b in range(a + 1, 4):
            assert np.abs(images[a] - images[b]).mean() > 0.05, (a, b)


def test_dtype_shape_range(images):
    for img in images.values():
        assert img.dtype == np.float32
        assert img.shape == (S, S, 3)
        assert np.isfinite(img).all()
        assert img.min() >= 0.0 and img.max() <= 1.0


def test_jit_with_static_size_and_strokes():
    fn = jax.jit(textures.painted_texture, static_argnames=("size", "num_strokes"))
    out = np.asarray(fn(jax.random.key(0), size=S, num_strokes=textures.default_num_strokes(S)))
    np.testing.assert_array_equal(out, _render(0))


def test_single_colour_palette_only_changes_brightness():
    # Strokes modulate brightness only (bristles, shading, jitter, darkened base),
    # so with one colour every pixel is a non-negative multiple of it, and on
    # average a little darker than the paint itself. Brightness peaks at about 1.52
    # times the paint, so a paint with no channel above 0.65 is never clipped.
    colour = np.array([0.60, 0.30, 0.13], np.float32)
    img = _render(1, palette=colour[None]).reshape(-1, 3).astype(np.float64)
    scale = img @ colour / (colour @ colour)  # least-squares brightness per pixel
    assert np.abs(img - scale[:, None] * colour).max() < 1e-5
    assert scale.min() > 0.3 and scale.max() < 1.55
    ratio = img.mean(axis=0) / colour
    assert np.ptp(ratio) < 1e-4  # the mean colour has exactly the paint's hue
    assert 0.7 < ratio.mean() < 1.05, ratio


def test_two_colour_palette_spans_both_colours():
    # Every pixel is s * ((1 - m) c1 + m c2) with s > 0, m in [0, 1]: it lies in the
    # cone of the two paints (no channel above 0.65: never clipped), and both
    # paints show up on the canvas.
    c1, c2 = np.array([0.64, 0.16, 0.08]), np.array([0.08, 0.22, 0.62])
    img = _render(2, palette=np.stack([c1, c2]).astype(np.float32))
    pixels = img.reshape(-1, 3).astype(np.float64)
    basis = np.stack([c1, c2], axis=1)  # [3, 2]
    coef, *_ = np.linalg.lstsq(basis, pixels.T, rcond=None)  # [2, P]
    assert np.abs(basis @ coef - pixels.T).max() < 1e-4
    assert coef.min() > -1e-4
    share = coef[1] / coef.sum(axis=0)  # how much of c2 each pixel holds
    assert (share < 0.25).mean() > 0.1 and (share > 0.75).mean() > 0.02
    mean = pixels.mean(axis=0)
    assert np.linalg.norm(mean - (1 - share.mean()) * c1 - share.mean() * c2) < 0.15


def test_is_a_texture_not_flat(images):
    for seed, img in images.items():
        assert (img.std(axis=(0, 1)) > 0.05).all(), seed
        # Stroke-scale detail: the high-pass energy is far above the base coat's.
        detail = _high_pass_luminance(img).std()
        base = _high_pass_luminance(_render(seed, num_strokes=0)).std()
        assert detail > 0.03 and detail > 3 * base, (seed, detail, base)


def test_strokes_follow_the_flow_field(images):
    scores, shuffled, bases = [], [], []
    rng = np.random.default_rng(0)
    for seed, img in images.items():
        flow = np.asarray(textures.flow_directions(jax.random.key(seed), S))
        np.testing.assert_allclose(np.linalg.norm(flow, axis=-1), 1.0, atol=1e-3)
        scores.append(_flow_alignment(img, flow))
        shuffled.append(_flow_alignment(
            img.reshape(-1, 3)[rng.permutation(S * S)].reshape(img.shape), flow))
        bases.append(_flow_alignment(_render(seed, num_strokes=0), flow))
    # Each canvas's stripes run along its own flow; the same pixels shuffled (no
    # orientation) and the stroke-less base coat do not.
    assert min(scores) > 0.25, scores
    assert max(np.abs(shuffled)) < 0.1, shuffled
    assert np.mean(scores) > np.mean(bases) + 0.2, (scores, bases)


def test_palette_names_and_errors():
    assert textures.DEFAULT_PALETTE in textures.PALETTES
    for name, pal in textures.PALETTES.items():
        assert pal.dtype == np.float32 and pal.ndim == 2 and pal.shape[1] == 3, name
        assert pal.min() >= 0 and pal.max() <= 1, name
    np.testing.assert_array_equal(
        np.asarray(textures.resolve_palette("sea")), textures.PALETTES["sea"])
    with pytest.raises(ValueError, match="starry") as info:
        textures.painted_texture(jax.random.key(0), S, palette="mona_lisa")
    for name in textures.PALETTES:
        assert name in str(info.value)
    with pytest.raises(ValueError):
        textures.resolve_palette(np.zeros((3, 4), np.float32))
