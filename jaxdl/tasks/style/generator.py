"""Procedural painted textures: the neural style transfer case study's default style.

Style transfer matches Gram matrices of deep CNN features, so a style image needs a
strong, distinctive, spatially stationary texture in bold colours. The machine has
no internet and the project ships no famous paintings, so it paints its own: a
Van Gogh-like canvas of swirling, oriented impasto brush strokes in a vivid palette
(by default deep blues, ultramarine and cyan with yellow, orange and white accents),
as a pure JAX function of a PRNG key.

Method (coordinates in pixels, x right, y down, origin top-left):

1. Flow field. A direction at every point from a few random vortices (each a swirl
   whose speed peaks at its radius), a wavy horizontal drift and a few random
   low-frequency sinusoids that bend it. It is analytic, so it is evaluated only
   where needed: at stroke centres (direction and, by finite differences along the
   flow, curvature) and, for the tests, on the pixel grid (`flow_directions`).
2. Colour field. A smooth scalar in [0, 1] (sinusoids plus bright halos around some
   vortex centres, like Van Gogh's stars) picks a palette entry: palettes are
   ordered, so low values give the dark colours and halos the light accents.
3. Base coat: the colour field rendered as a smooth blend of the palette, darkened.
4. Strokes, painted in order with `jax.lax.scan` (painter's algorithm, alpha
   compositing). Each stroke is a curved, tapered superellipse along the local flow
   (bent with the local curvature), with: a soft edge; bristle streaks (sinusoids
   across the stroke width modulating brightness); two paint colours mixed in
   streaks; impasto shading (a ridge lit from the top left) and a darker rim; and a
   dry-brush tail where the bristle gaps let the paint below show through. Each
   stroke is computed only inside a fixed window around its centre, cut from a
   padded canvas with `jax.lax.dynamic_slice` and written back with
   `dynamic_update_slice`, so a stroke costs a window, not the whole image.

Public API::

  PALETTES                                    {"starry", "autumn", "sea"}: f32 [K, 3]
  painted_texture(key, size=256, *, num_strokes=None, palette=None)
                                              -> f32 [size, size, 3] in [0, 1]
  flow_directions(key, size)                  -> f32 [size, size, 2] unit (dx, dy)

`painted_texture` is a pure function of `key` (same key, same bits) and is jitted
with `size` and `num_strokes` static; a palette is a traced argument, so switching
between palettes of the same length does not recompile.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

# Palettes are ordered: the colour field maps low values to the first entries, so
# put the ground colours first and the bright accents last.
PALETTES = {
    "starry": np.asarray([
        [0.04, 0.07, 0.24],  # night navy
        [0.08, 0.16, 0.50],  # ultramarine
        [0.13, 0.30, 0.72],  # cobalt
        [0.22, 0.48, 0.84],  # cerulean
        [0.30, 0.68, 0.80],  # turquoise / cyan
        [0.62, 0.82, 0.90],  # pale sky blue
        [0.96, 0.95, 0.80],  # cream white
        [0.99, 0.84, 0.22],  # chrome yellow
        [0.95, 0.55, 0.12],  # orange
    ], np.float32),
    "autumn": np.asarray([
        [0.22, 0.08, 0.05],  # burnt umber
        [0.50, 0.10, 0.07],  # crimson
        [0.78, 0.20, 0.08],  # vermilion
        [0.92, 0.42, 0.10],  # orange
        [0.80, 0.58, 0.18],  # ochre
        [0.35, 0.38, 0.12],  # olive
        [0.98, 0.78, 0.25],  # golden yellow
        [0.98, 0.92, 0.72],  # cream
    ], np.float32),
    "sea": np.asarray([
        [0.02, 0.14, 0.16],  # deep teal
        [0.04, 0.28, 0.22],  # dark green
        [0.06, 0.46, 0.38],  # emerald
        [0.10, 0.55, 0.60],  # teal
        [0.24, 0.72, 0.72],  # turquoise
        [0.52, 0.86, 0.78],  # aquamarine
        [0.80, 0.95, 0.90],  # seafoam
        [0.97, 0.98, 0.95],  # foam white
    ], np.float32),
}
DEFAULT_PALETTE = "starry"

_NUM_VORTICES = 4
_NUM_WAVES = 4  # low-frequency sinusoids bending the flow
_NUM_FIELD_WAVES = 3  # low-frequency sinusoids of the colour field
_STROKE_PARAMS = 16  # uniform draws per stroke
_LIGHT = np.asarray([-0.6, -0.8], np.float32)  # light from the top left (x, y)


def _smoothstep(edge0, edge1, x):
    t = jnp.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def resolve_palette(palette) -> jax.Array:
    """A palette name (key of PALETTES), None (the default) or an array -> f32 [K, 3]."""
    if palette is None:
        palette = DEFAULT_PALETTE
    if isinstance(palette, str):
        if palette not in PALETTES:
            raise ValueError(
                f"unknown palette {palette!r}; choose one of {sorted(PALETTES)} "
                "or pass a float array [K, 3]")
        palette = PALETTES[palette]
    palette = jnp.asarray(palette, jnp.float32)
    if palette.ndim != 2 or palette.shape[1] != 3 or palette.shape[0] < 1:
        raise ValueError(f"a palette is a float array [K, 3] with K >= 1, got {palette.shape}")
    return palette


def _field_params(key: jax.Array, size: int) -> dict:
    """Random parameters of the flow and colour fields, in pixel units.

    Returns a dict of small arrays: vortex centres [V, 2], radii [V], signed
    strengths [V], halo brightness [V]; flow waves and colour-field waves (wave
    vectors [n, 2], phases [n], amplitudes [n]); the drift's wave parameters.
    """
    kv, kw, kf, kd = jax.random.split(key, 4)
    uv = jax.random.uniform(kv, (_NUM_VORTICES, 6))
    centre = (uv[:, 0:2] * 1.1 - 0.05) * size
    radius = (0.10 + 0.14 * uv[:, 2]) * size
    sign = jnp.where(uv[:, 3] < 0.5, -1.0, 1.0)
    strength = sign * (1.6 + 1.4 * uv[:, 4])
    halo = jnp.where(uv[:, 5] < 0.6, 0.35 + 0.35 * uv[:, 5] / 0.6, 0.0)

    def waves(k, n, lo, hi, amp):
        u = jax.random.uniform(k, (n, 4))
        freq = (lo + (hi - lo) * u[:, 0]) * 2 * np.pi / size  # cycles per image
        ang = u[:, 1] * 2 * np.pi
        wavevec = jnp.stack([jnp.cos(ang), jnp.sin(ang)], -1) * freq[:, None]
        return {"k": wavevec, "phase": u[:, 2] * 2 * np.pi, "amp": amp * (0.5 + u[:, 3])}

    ud = jax.random.uniform(kd, (3,))
    return {
        "centre": centre, "radius": radius, "strength": strength, "halo": halo,
        "flow_waves": waves(kw, _NUM_WAVES, 0.6, 2.0, 0.45),
        "field_waves": waves(kf, _NUM_FIELD_WAVES, 0.5, 1.6, 0.12),
        "drift_freq": (1.0 + 1.5 * ud[0]) * 2 * np.pi / size,
        "drift_phase": ud[1] * 2 * np.pi,
        "drift_tilt": 0.5 * (ud[2] - 0.5),
    }


def _wave_sum(waves: dict, x: jax.Array, y: jax.Array) -> jax.Array:
    """Sum of amp * sin(k . p + phase) at points (x, y) of any shape."""
    arg = (waves["k"][:, 0] * x[..., None] + waves["k"][:, 1] * y[..., None]
           + waves["phase"])
    return jnp.sum(waves["amp"] * jnp.sin(arg), axis=-1)


def _flow(p: dict, x: jax.Array, y: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Unnormalised flow vector (vx, vy) at points (x, y) of any shape, in pixels.

    A wavy horizontal drift of unit speed plus, for each vortex, a tangential swirl
    whose speed rises linearly to `strength` at its radius and decays beyond it; the
    result is then rotated by a sum of low-frequency sinusoids so it meanders.
    """
    dx = x[..., None] - p["centre"][:, 0]  # [..., V]
    dy = y[..., None] - p["centre"][:, 1]
    r2 = (dx * dx + dy * dy) / (p["radius"] ** 2)
    speed = p["strength"] * jnp.exp(0.5 - 0.5 * r2) / p["radius"]
    vx = 1.0 - jnp.sum(speed * dy, axis=-1)
    vy = (p["drift_tilt"] + 0.6 * jnp.sin(p["drift_freq"] * x + p["drift_phase"])
          + jnp.sum(speed * dx, axis=-1))
    bend = _wave_sum(p["flow_waves"], x, y)
    c, s = jnp.cos(bend), jnp.sin(bend)
    return c * vx - s * vy, s * vx + c * vy


def _colour_field(p: dict, x: jax.Array, y: jax.Array) -> jax.Array:
    """Smooth colour-field value (about [0, 1]) at points (x, y): picks palette entries."""
    dx = x[..., None] - p["centre"][:, 0]  # [..., V]
    dy = y[..., None] - p["centre"][:, 1]
    r2 = (dx * dx + dy * dy) / (0.55 * p["radius"]) ** 2
    return 0.32 + _wave_sum(p["field_waves"], x, y) + jnp.sum(p["halo"] * jnp.exp(-r2), -1)


@functools.partial(jax.jit, static_argnames=("size",))
def flow_directions(key: jax.Array, size: int) -> jax.Array:
    """Unit flow direction (dx, dy) at each pixel centre of `painted_texture(key, size)`.

    Returns:
      float32 [size, size, 2]; strokes are laid along these directions (up to sign).
    """
    key_field, _, _ = jax.random.split(key, 3)
    p = _field_params(key_field, size)
    c = jnp.arange(size, dtype=jnp.float32) + 0.5
    vx, vy = _flow(p, c[None, :] + 0 * c[:, None], c[:, None] + 0 * c[None, :])
    norm = jnp.sqrt(vx * vx + vy * vy) + 1e-6
    return jnp.stack([vx / norm, vy / norm], -1)


def default_num_strokes(size: int) -> int:
    """Strokes for a size x size canvas: enough to cover it about five times over."""
    return max(16, int(round(size * size / 40)))


def painted_texture(key: jax.Array, size: int = 256, *, num_strokes: int | None = None,
                    palette=None) -> jax.Array:
    """Paints a canvas of swirling impasto brush strokes, a pure function of `key`.

    Args:
      key: a PRNG key (typed or raw uint32 [2]).
      size: canvas height and width in pixels (static).
      num_strokes: strokes painted over the base coat (static); None: scales with
        the area (`default_num_strokes`, 1,638 at size 256).
      palette: a name in PALETTES, None ("starry") or an array [K, 3] of RGB colours
        in [0, 1], ordered from the ground colours to the accents.

    Returns:
      float32 [size, size, 3], RGB in [0, 1].
    """
    pal = resolve_palette(palette)
    if num_strokes is None:
        num_strokes = default_num_strokes(size)
    return _paint(key, pal, size=int(size), num_strokes=int(num_strokes))


@functools.partial(jax.jit, static_argnames=("size", "num_strokes"))
def _paint(key: jax.Array, palette: jax.Array, *, size: int, num_strokes: int) -> jax.Array:
    """painted_texture with a resolved palette [K, 3]: -> f32 [size, size, 3]."""
    key_field, key_strokes, key_pick = jax.random.split(key, 3)
    p = _field_params(key_field, size)
    k = palette.shape[0]

    # --- Base coat: the colour field as a smooth palette blend, darkened. ---
    c = jnp.arange(size, dtype=jnp.float32) + 0.5
    gx, gy = c[None, :] + 0 * c[:, None], c[:, None] + 0 * c[None, :]
    t = jnp.clip(_colour_field(p, gx, gy), 0.0, 1.0) * (k - 1)
    lo = jnp.floor(t).astype(jnp.int32)
    hi = jnp.minimum(lo + 1, k - 1)
    frac = (t - lo)[..., None]
    base = (palette[lo] * (1 - frac) + palette[hi] * frac) * 0.8

    if num_strokes == 0:
        return jnp.clip(base, 0.0, 1.0)

    # --- Per-stroke parameters, all drawn up front. ---
    u = jax.random.uniform(key_strokes, (num_strokes, _STROKE_PARAMS))
    cx, cy = u[:, 0] * size, u[:, 1] * size
    length = size * (1 / 12 + (1 / 6 - 1 / 12) * u[:, 2] ** 1.5)
    width = size * (1 / 60 + (1 / 30 - 1 / 60) * u[:, 3])
    vx, vy = _flow(p, cx, cy)
    norm = jnp.sqrt(vx * vx + vy * vy) + 1e-6
    sgn = jnp.where(u[:, 4] < 0.5, -1.0, 1.0)  # which end is the (dry) tail
    tx, ty = sgn * vx / norm, sgn * vy / norm
    # Curvature: change of the flow angle along the flow, by central differences.
    h = 0.02 * size
    ax, ay = _flow(p, cx + h * tx, cy + h * ty)
    bx, by = _flow(p, cx - h * tx, cy - h * ty)
    dtheta = jnp.arctan2(bx * ay - by * ax, bx * ax + by * ay)
    curv = jnp.clip(dtheta / (2 * h), -1.6 / length, 1.6 / length)

    # Colour: the colour field at the centre plus jitter picks an entry; some strokes
    # take a random entry (accents); a second, neighbouring entry mixes in streaks.
    tc = _colour_field(p, cx, cy) + 0.22 * (u[:, 5] - 0.5)
    idx = jnp.clip(jnp.floor(jnp.clip(tc, 0.0, 0.9999) * k), 0, k - 1).astype(jnp.int32)
    pick = jax.random.randint(key_pick, (num_strokes, 2), 0, k)
    idx = jnp.where(u[:, 6] < 0.08, pick[:, 0], idx)
    idx2 = jnp.clip(idx + jnp.where(u[:, 7] < 0.5, -1, 1), 0, k - 1)
    idx2 = jnp.where(u[:, 8] < 0.1, pick[:, 1], idx2)
    jitter = 1.0 + 0.12 * (u[:, 9:10] - 0.5)  # brightness jitter, keeps the hue
    col1 = palette[idx] * jitter
    col2 = palette[idx2] * jitter
    strokes = {
        "cx": cx, "cy": cy, "tx": tx, "ty": ty, "curv": curv,
        "length": length, "width": width, "col1": col1, "col2": col2,
        "mix": 0.15 + 0.45 * u[:, 10],
        "opacity": 0.85 + 0.15 * u[:, 11],
        "period": jnp.maximum(2.4, width * (0.28 + 0.16 * u[:, 12])),
        "phase": u[:, 13] * 2 * np.pi,
        "phase2": u[:, 14] * 2 * np.pi,
        "dry": 0.4 + 0.6 * u[:, 15],
    }

    # --- Painting: each stroke touches only a win x win window of a padded canvas. ---
    win = int(np.ceil(size / 6 + size / 30 + 4))
    win += win % 2
    half = win // 2
    pad = half + 1
    canvas = jnp.pad(base, ((pad, pad), (pad, pad), (0, 0)))
    wy, wx = np.mgrid[0:win, 0:win].astype(np.float32) + 0.5

    def paint(canvas, s):
        ox = jnp.floor(s["cx"]).astype(jnp.int32) - half  # window origin, image coords
        oy = jnp.floor(s["cy"]).astype(jnp.int32) - half
        patch = jax.lax.dynamic_slice(canvas, (oy + pad, ox + pad, 0), (win, win, 3))
        dx = wx + (ox.astype(jnp.float32) - s["cx"])
        dy = wy + (oy.astype(jnp.float32) - s["cy"])
        along = dx * s["tx"] + dy * s["ty"]
        across = -dx * s["ty"] + dy * s["tx"]
        across = across - 0.5 * s["curv"] * along * along  # bend along the flow
        a = along / (0.5 * s["length"])  # -1 at the loaded start, +1 at the tail
        hw = 0.5 * s["width"] * (1.0 - 0.3 * _smoothstep(0.0, 1.0, a))  # tail tapers
        b = across / hw
        r = jnp.abs(a) ** 4 + b * b  # superellipse: flat body, rounded ends
        soft = jnp.minimum(0.6, 3.0 / s["width"])
        alpha = jnp.clip((1.0 - r) / soft, 0.0, 1.0)
        # Bristles: streaks across the width, fixed along the stroke.
        bristle = (jnp.sin(2 * np.pi * across / s["period"] + s["phase"])
                   + 0.5 * jnp.sin(2 * np.pi * across / (1.9 * s["period"]) + s["phase2"]))
        bristle = bristle / 1.5  # in [-1, 1]
        # Dry-brush tail: the bristle gaps open up towards the end of the stroke.
        gaps = _smoothstep(0.0, 0.7, -bristle) * _smoothstep(-0.1, 1.0, a) * s["dry"]
        alpha = alpha * (1.0 - gaps) * s["opacity"]
        # Paint: two colours mixed in streaks; bristle brightness; impasto ridge lit
        # from the top left; a darker rim where the paint piles up.
        m = s["mix"] * (0.5 + 0.5 * jnp.sin(2 * np.pi * across / (3.1 * s["period"])
                                               + s["phase2"]))
        colour = s["col1"] * (1 - m[..., None]) + s["col2"] * m[..., None]
        light = -s["ty"] * _LIGHT[0] + s["tx"] * _LIGHT[1]  # normal . (towards light)
        shade = (1.0 + 0.13 * bristle + 0.22 * jnp.clip(b, -1, 1) * light
                 - 0.3 * _smoothstep(0.5, 1.0, r) + 0.08 * (1 - jnp.clip(a, -1, 1)) / 2)
        colour = colour * shade[..., None]
        alpha = alpha[..., None]
        patch = patch * (1 - alpha) + colour * alpha
        return jax.lax.dynamic_update_slice(canvas, patch, (oy + pad, ox + pad, 0)), None

    canvas, _ = jax.lax.scan(paint, canvas, strokes)
    return jnp.clip(canvas[pad:pad + size, pad:pad + size], 0.0, 1.0)
