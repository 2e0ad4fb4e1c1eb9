"""Procedural faces for the face verification case study, as pure JAX functions.

The face case study (verification with a triplet-loss encoder, identification by
1-nearest-neighbour, clustering by k-means) needs many pictures of many people. The
project renders its own: a person is a parameter vector drawn from one key (face
shape and size, skin tone, eyes, brows, nose, mouth, ears, hair style and colour,
facial hair, glasses), and a picture of that person is a pure function of the
person and a second key that draws everything that is not identity (position,
scale, in-plane rotation, lighting direction, intensity and colour, expression and
gaze, background, clothing, partial occlusion, sensor noise).

The nuisances move raw pixels more than identity does, so 1-nearest-neighbour on raw
pixels identifies poorly, while identity stays plain to a person (and a small CNN
trained with a triplet loss) who looks at hair, skin, eyes, glasses and beard.
Colours stay in natural ranges (skin along a light-to-dark ramp, natural hair
colours, no dyed hair, plain frames) and shape varies widely (face outline, eyes,
brows, nose, mouth, ears, hairline and temples, hair texture, neck and shoulders,
frame weight), so that identity survives in greyscale: real face photographs are
often grey, and an encoder that told people apart by hue would have little to go
on there (generator 1.2).

Public API::

  identity_params(key)                        -> dict of jnp arrays (one person)
  render_face(identity, key, size=64)         -> float32 [size, size, 3] in [0, 1]
  render_identities(key, I, K, size=64)       -> {"image": u8 [I*K,size,size,3],
                                                  "identity": int32 [I*K]}
  identity_key(key, i), image_key(key, i, j)  -> the keys render_identities uses

Person i of `render_identities(key, ...)` is `identity_params(identity_key(key, i))`,
with identity_key(key, i) = fold_in(key, i), and their picture j is rendered from
image_key(key, i, j) = fold_in(fold_in(key, i), 1_000_000 + j); so a person and
their pictures do not depend on how many people or pictures are asked for, and
disjoint identity ranges (or seeds) give disjoint splits. Same key, same bits. The
batched render matches the per-face one to float32 rounding (|diff| < 1e-4, from
XLA fusing a*b+c into FMAs differently in the two programs; per-pixel randomness is
an integer hash and parameters are snapped to a dyadic grid as in
jaxdl.tasks.day_night.generator); after uint8 quantisation a value on a rounding boundary can
land one level apart: measured 25 of 500 64x64 pictures with 1 such value (generator 1.1).

Coordinates: image coordinates are in image widths (x right, y down, origin
top-left). Face coordinates (u right, v down) are in units of the face's half
height, origin at the face centre; eyes sit near v = -0.1, the chin near v = 1.
Colours are RGB in [0, 1] before the camera's gain, noise and clipping.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl.data.procedural import Draws, categorical, fbm, hash_normal, quantize, snap

__all__ = ["identity_params", "render_face", "render_identities", "identity_key",
           "image_key", "IMAGE_KEY_OFFSET", "HAIR_STYLES", "FACIAL_HAIR_STYLES",
           "GLASSES_STYLES", "quantize"]

IMAGE_KEY_OFFSET = 1_000_000  # picture j of a person uses fold_in(person_key, OFFSET + j)

HAIR_STYLES = ("bald", "buzz", "short", "side_part", "fringe", "long", "big")
_HAIR_STYLE_PROBS = (0.07, 0.10, 0.18, 0.17, 0.16, 0.22, 0.10)
FACIAL_HAIR_STYLES = ("none", "moustache", "goatee", "beard", "stubble")
_FACIAL_HAIR_PROBS = (0.52, 0.12, 0.10, 0.14, 0.12)
GLASSES_STYLES = ("none", "round", "rectangular", "sunglasses")
_GLASSES_PROBS = (0.55, 0.17, 0.17, 0.11)

# Skin tones from light to dark; a person's tone interpolates along this ramp.
_SKIN_RAMP = np.asarray([
    [0.98, 0.84, 0.74], [0.92, 0.74, 0.60], [0.80, 0.60, 0.44], [0.62, 0.42, 0.28],
    [0.42, 0.27, 0.18], [0.28, 0.18, 0.12]], np.float32)
# Natural hair colours only: black, dark brown, brown, auburn, red, blonde, platinum,
# grey (1.1 also had dyed blue and magenta, which made identity a matter of hue).
_HAIR_COLOURS = np.asarray([
    [0.06, 0.05, 0.05], [0.20, 0.12, 0.07], [0.40, 0.25, 0.13], [0.55, 0.22, 0.10],
    [0.80, 0.36, 0.12], [0.86, 0.70, 0.40], [0.95, 0.92, 0.80], [0.62, 0.62, 0.62]],
    np.float32)
_HAIR_COLOUR_PROBS = (0.22, 0.2, 0.16, 0.1, 0.06, 0.13, 0.05, 0.08)
_IRIS_COLOURS = np.asarray([
    [0.30, 0.18, 0.08], [0.12, 0.08, 0.05], [0.25, 0.45, 0.75], [0.30, 0.55, 0.30],
    [0.50, 0.50, 0.55]], np.float32)
# Frames: black, brown, tortoiseshell, gold, silver, clear.
_FRAME_COLOURS = np.asarray([
    [0.05, 0.05, 0.05], [0.40, 0.22, 0.10], [0.55, 0.35, 0.18], [0.85, 0.70, 0.25],
    [0.70, 0.70, 0.72], [0.92, 0.92, 0.92]], np.float32)

_NUM_IDENTITY_DRAWS = 64
_NUM_IMAGE_DRAWS = 64


def identity_key(key: jax.Array, i) -> jax.Array:
    """The key of person i under `key`: fold_in(key, i)."""
    return jax.random.fold_in(key, i)


def image_key(key: jax.Array, i, j) -> jax.Array:
    """The key of picture j of person i: fold_in(fold_in(key, i), IMAGE_KEY_OFFSET + j)."""
    return jax.random.fold_in(identity_key(key, i), IMAGE_KEY_OFFSET + j)


def identity_params(key: jax.Array) -> dict:
    """Draws one person's identity parameters, a pure function of `key`.

    Args:
      key: a PRNG key (typed or raw uint32 [2]).

    Returns:
      A dict of float32 (or int32 for the categorical entries) jnp arrays; lengths in
      face units (the face's half height), colours RGB in [0, 1]:
      face_width, jaw, chin, head_size: scalars (face outline; size relative to the
        picture's scale);
      skin: [3];
      eye_spacing, eye_y, eye_width, eye_height: scalars; iris: [3];
      brow_thickness, brow_arch, brow_tilt, brow_gap: scalars;
      nose_length, nose_width: scalars;
      mouth_y, mouth_width, lip_thickness, smile_bias: scalars; lips: [3];
      ear_size: scalar;
      hair_style: int32 index into HAIR_STYLES; hair: [3]; hair_volume, hairline,
        hair_length, parting: scalars;
      facial_hair: int32 index into FACIAL_HAIR_STYLES;
      glasses: int32 index into GLASSES_STYLES; frame: [3]; lens_size: scalar;
      neck_width (relative to face_width), shoulder_width: scalars;
      hair_curl (texture contrast, 0 smooth .. 1 curly), temples (how far the
        hairline recedes at the sides), frame_thickness: scalars.
    """
    draw = Draws(key, _NUM_IDENTITY_DRAWS)
    p = {}
    # Shape ranges are wide (wider than generator 1.1's) so that shape, not colour,
    # carries most of a person's identity.
    p["face_width"] = draw(0.58, 0.95)
    p["jaw"] = draw(0.0, 0.5)  # how much the face narrows towards the chin
    p["chin"] = draw(0.88, 1.14)  # chin depth below the centre
    p["head_size"] = draw(0.9, 1.1)
    tone = draw(0.0, 1.0) * (len(_SKIN_RAMP) - 1)
    lo = jnp.clip(jnp.floor(tone).astype(jnp.int32), 0, len(_SKIN_RAMP) - 2)
    frac = tone - lo
    skin = jnp.asarray(_SKIN_RAMP)[lo] * (1 - frac) + jnp.asarray(_SKIN_RAMP)[lo + 1] * frac
    skin = snap(skin)
    # A small shift along the ramp's hue (per channel), not off it.
    p["skin"] = snap(jnp.clip(skin * (1.0 + draw(-0.03, 0.03, (3,))), 0.0, 1.0))
    p["eye_spacing"] = draw(0.22, 0.4)
    p["eye_y"] = draw(-0.24, 0.02)
    p["eye_width"] = draw(0.1, 0.18)
    p["eye_height"] = draw(0.055, 0.105)
    p["iris"] = jnp.asarray(_IRIS_COLOURS)[categorical(draw(), (0.35, 0.25, 0.2, 0.12, 0.08))]
    p["brow_thickness"] = draw(0.02, 0.09)
    p["brow_arch"] = draw(0.0, 0.08)
    p["brow_tilt"] = draw(-0.4, 0.4)
    p["brow_gap"] = draw(0.08, 0.2)
    p["nose_length"] = draw(0.2, 0.46)
    p["nose_width"] = draw(0.06, 0.16)
    p["mouth_y"] = draw(0.42, 0.65)
    p["mouth_width"] = draw(0.14, 0.31)
    p["lip_thickness"] = draw(0.025, 0.08)
    p["smile_bias"] = draw(-0.04, 0.06)
    lip_red = draw(0.0, 1.0)
    p["lips"] = snap(skin * (1 - 0.5 * lip_red) + np.float32([0.75, 0.22, 0.25]) * 0.5 * lip_red)
    p["ear_size"] = draw(0.1, 0.24)
    p["hair_style"] = categorical(draw(), _HAIR_STYLE_PROBS)
    hair_base = jnp.asarray(_HAIR_COLOURS)[categorical(draw(), _HAIR_COLOUR_PROBS)]
    # Lighter or darker shades of the base colour (one factor), a little warmer or
    # cooler (per channel): natural hair stays natural.
    shade = draw(-0.25, 0.25) + draw(-0.08, 0.08, (3,))
    p["hair"] = snap(jnp.clip(hair_base * (1.0 + shade), 0.0, 1.0))
    p["hair_volume"] = draw(0.03, 0.24)
    p["hairline"] = draw(-0.66, -0.36)
    p["hair_length"] = draw(0.9, 1.7)
    p["parting"] = draw(-1.0, 1.0)
    p["facial_hair"] = categorical(draw(), _FACIAL_HAIR_PROBS)
    p["glasses"] = categorical(draw(), _GLASSES_PROBS)
    p["frame"] = jnp.asarray(_FRAME_COLOURS)[categorical(draw(), (0.35, 0.15, 0.15, 0.12, 0.12,
                                                                    0.11))]
    p["lens_size"] = draw(0.12, 0.17)
    # Build: neck width (relative to the face) and shoulder width.
    p["neck_width"] = draw(0.34, 0.52)
    p["shoulder_width"] = draw(1.7, 2.5)
    # Hair texture (smooth 0 .. curly 1), how much the temples recede, frame weight.
    p["hair_curl"] = draw(0.0, 1.0)
    p["temples"] = draw(0.05, 0.55)
    p["frame_thickness"] = draw(0.025, 0.055)
    return p


def _cover(signed_dist, px_per_unit):
    """Anti-aliased coverage in [0, 1] of a signed distance (positive inside)."""
    return jax.nn.sigmoid(signed_dist * px_per_unit * 2.5)


def _ellipse_dist(u, v, cu, cv, au, av):
    """Approximate signed distance (positive inside) to an axis-aligned ellipse."""
    r = jnp.sqrt(((u - cu) / au) ** 2 + ((v - cv) / av) ** 2)
    return (1.0 - r) * jnp.minimum(au, av)


def _box_dist(u, v, cu, cv, hu, hv):
    """Signed distance (positive inside) to an axis-aligned box of half-sizes hu, hv."""
    qu, qv = jnp.abs(u - cu) - hu, jnp.abs(v - cv) - hv
    outside = jnp.sqrt(jnp.maximum(qu, 0.0) ** 2 + jnp.maximum(qv, 0.0) ** 2)
    return -(outside + jnp.minimum(jnp.maximum(qu, qv), 0.0))


def _over(rgb, colour, alpha):
    """Paints `colour` ([..., 3] or [3]) over `rgb` [S, S, 3] with coverage alpha [S, S]."""
    a = alpha[..., None]
    return rgb * (1 - a) + colour * a


@functools.partial(jax.jit, static_argnames=("size",))
def render_face(identity: dict, key: jax.Array, size: int = 64) -> jax.Array:
    """Renders one picture of a person, a pure function of (identity, key).

    Args:
      identity: a dict from identity_params (one person; unbatched arrays).
      key: a PRNG key drawing the nuisances: position, scale, in-plane rotation,
        lighting direction, intensity and colour, expression (smile, open mouth, brow
        raise, squint) and gaze, background, clothing, partial occlusion, sensor noise.
      size: image height and width in pixels (static).

    Returns:
      float32 [size, size, 3], RGB in [0, 1].
    """
    p = identity
    key_draws, key_seeds = jax.random.split(key)
    draw = Draws(key_draws, _NUM_IMAGE_DRAWS)
    seeds = jax.random.bits(key_seeds, (6, 2), jnp.uint32)  # per-pixel hash seeds

    # --- Pose: the face's centre, scale and roll map image to face coordinates. ---
    coords = (np.arange(size, dtype=np.float32) + 0.5) / size
    yy, xx = coords[:, None], coords[None, :]
    cx, cy = 0.5 + draw(-0.07, 0.07), 0.47 + draw(-0.06, 0.06)
    scale = snap(draw(0.34, 0.42) * p["head_size"])  # face half height in image widths
    angle = draw(-0.21, 0.21)  # radians, about +-12 degrees
    cos_a, sin_a = snap(jnp.cos(angle)), snap(jnp.sin(angle))
    dx, dy = (xx - cx) / scale, (yy - cy) / scale
    # Face coordinates of each pixel [S, S].
    u = cos_a * dx + sin_a * dy
    v = cos_a * dy - sin_a * dx
    px = snap(scale * size)  # pixels per face unit

    # --- Expression and gaze. ---
    smile = snap(p["smile_bias"] + draw(-0.08, 0.1))  # mouth corners up (> 0) or down
    mouth_open = jnp.maximum(draw(-0.05, 0.09), 0.0)
    brow_raise = draw(-0.04, 0.07)
    squint = draw(0.55, 1.1)
    gaze_u, gaze_v = draw(-0.5, 0.5), draw(-0.3, 0.3)

    # --- Background: a gradient between two colours, texture and a few shapes. ---
    bg_a, bg_b = draw(0.0, 1.0, (3,)), draw(0.0, 1.0, (3,))
    bg_angle = draw(0.0, 2 * np.pi)
    t = jnp.clip(0.5 + (xx - 0.5) * jnp.cos(bg_angle) + (yy - 0.5) * jnp.sin(bg_angle), 0, 1)
    bg = bg_a * (1 - t[..., None]) + bg_b * t[..., None]
    texture = fbm(seeds[0], 4, 4, 3, size) - 0.5
    bg = bg * (1.0 + draw(0.0, 0.6) * texture)[..., None]
    shape_col = draw(0.0, 1.0, (3,))
    shape_box = ((jnp.abs(xx - draw(0.0, 1.0)) < draw(0.05, 0.3))
                 & (jnp.abs(yy - draw(0.0, 1.0)) < draw(0.1, 0.5))).astype(jnp.float32)
    bg = _over(bg, shape_col, shape_box * (draw() < 0.4))

    # --- The person's albedo, painted back to front; `alpha` is the person's coverage. ---
    skin, hair = p["skin"], p["hair"]
    fw = p["face_width"]
    style = p["hair_style"]
    rgb = jnp.zeros((size, size, 3), jnp.float32)
    alpha = jnp.zeros((size, size), jnp.float32)

    def paint(rgb, alpha, colour, cover):
        return _over(rgb, colour, cover), alpha * (1 - cover) + cover

    # Shoulders and shirt (clothing changes from picture to picture), then the neck.
    shirt = draw(0.05, 0.95, (3,))
    rgb, alpha = paint(rgb, alpha, shirt, _cover(
        _ellipse_dist(u, v, 0.0, 2.55, p["shoulder_width"], 1.2), px))
    neck = _box_dist(u, v, 0.0, 1.1, p["neck_width"] * fw, 0.6)
    rgb, alpha = paint(rgb, alpha, skin * 0.85, _cover(neck, px))

    # Long hair falls behind the head down to the shoulders.
    is_long = style == HAIR_STYLES.index("long")
    back = _box_dist(u, v, 0.0, snap(0.3 * p["hair_length"] - 0.1), fw + p["hair_volume"] + 0.08,
                     snap(0.2 + 0.7 * p["hair_length"]))
    rgb, alpha = paint(rgb, alpha, hair * 0.8, is_long * _cover(back, px))

    # Ears on both sides of the face, at eye level.
    ear_v = p["eye_y"] + 0.12
    ear_d = jnp.maximum(_ellipse_dist(u, v, -fw, ear_v, 0.6 * p["ear_size"], p["ear_size"]),
                        _ellipse_dist(u, v, fw, ear_v, 0.6 * p["ear_size"], p["ear_size"]))
    rgb, alpha = paint(rgb, alpha, skin * 0.9, _cover(ear_d, px))

    # The face: an ellipse narrowing towards the chin.
    width_at_v = fw * (1.0 - p["jaw"] * jnp.clip(v, 0.0, 1.2) ** 2)
    depth_at_v = jnp.where(v > 0, p["chin"], 1.0)
    face_r = jnp.sqrt((u / width_at_v) ** 2 + (v / depth_at_v) ** 2)
    face_d = (1.0 - face_r) * width_at_v
    face = _cover(face_d, px)
    rgb, alpha = paint(rgb, alpha, skin, face)

    # Nose: a lit ridge with a shadowed side and two nostrils.
    ey = p["eye_y"]
    nose_tip_v = ey + p["nose_length"]
    nose_t = jnp.clip((v - ey) / p["nose_length"], 0.0, 1.0)
    nose_half_w = p["nose_width"] * (0.35 + 0.65 * nose_t)
    in_nose = _cover(jnp.minimum(nose_half_w - jnp.abs(u), jnp.minimum(v - ey, nose_tip_v - v)),
                     px)
    nostrils = jnp.maximum(
        _cover(_ellipse_dist(u, v, -0.55 * p["nose_width"], nose_tip_v, 0.035, 0.022), px),
        _cover(_ellipse_dist(u, v, 0.55 * p["nose_width"], nose_tip_v, 0.035, 0.022), px))
    rgb = _over(rgb, skin * 0.72, in_nose * jnp.clip(u / p["nose_width"] * 2, 0, 1) * face)
    rgb = _over(rgb, skin * 0.35, nostrils * face)

    # Eyes: white, iris (looking where the gaze points), pupil, and a dark upper lid.
    es, ew, eh = p["eye_spacing"], p["eye_width"], p["eye_height"] * squint
    iris_r = 0.75 * p["eye_height"]
    for side in (-1.0, 1.0):
        ecu = side * es
        eye_d = _ellipse_dist(u, v, ecu, ey, ew, eh)
        eye = _cover(eye_d, px)
        rgb = _over(rgb, np.float32([0.93, 0.92, 0.9]), eye)
        iu, iv = snap(ecu + gaze_u * (ew - iris_r)), snap(ey + gaze_v * eh * 0.5)
        iris_d = iris_r - jnp.sqrt((u - iu) ** 2 + (v - iv) ** 2)
        rgb = _over(rgb, p["iris"], _cover(iris_d, px) * eye)
        rgb = _over(rgb, np.float32([0.02, 0.02, 0.02]),
                    _cover(iris_d - 0.55 * iris_r, px) * eye)
        lid = _cover(0.022 - jnp.abs(eye_d), px) * (v < ey)
        rgb = _over(rgb, skin * 0.3, lid)

    # Brows: arched bands above the eyes, in the hair colour (darkened).
    brow_col = jnp.where(style == 0, skin * 0.45, hair * 0.8)
    brow_v0 = ey - p["brow_gap"] - brow_raise
    for side in (-1.0, 1.0):
        bu = (u - side * es) / (1.2 * ew)  # -1..1 across the brow
        centre_v = brow_v0 - p["brow_arch"] * (1 - bu**2) - side * p["brow_tilt"] * 0.08 * bu
        brow_d = jnp.minimum(p["brow_thickness"] - jnp.abs(v - centre_v),
                             (1.0 - jnp.abs(bu)) * 1.2 * ew)
        rgb = _over(rgb, brow_col, _cover(brow_d, px))

    # Mouth: lips along a curve (smile), a dark gap when open.
    mw = p["mouth_width"]
    mu = u / mw
    curve = p["mouth_y"] - smile * (mu**2 - 0.3)
    across = (1.0 - jnp.abs(mu)) * mw
    lt = p["lip_thickness"]
    upper = jnp.minimum(across, jnp.minimum(v - (curve - lt), curve - v))
    gap = jnp.minimum(across, jnp.minimum(v - curve, curve + mouth_open - v))
    lower = jnp.minimum(across * 0.9, jnp.minimum(v - (curve + mouth_open),
                                                  curve + mouth_open + 1.2 * lt - v))
    rgb = _over(rgb, p["lips"], _cover(upper, px))
    rgb = _over(rgb, p["lips"], _cover(lower, px))
    rgb = _over(rgb, np.float32([0.22, 0.04, 0.05]), _cover(gap, px) * (mouth_open > 0.005))
    rgb = _over(rgb, skin * 0.4, _cover(0.012 - jnp.abs(v - curve), px)
                * _cover(across, px) * (mouth_open <= 0.005))

    # Facial hair: moustache, goatee, beard or stubble, in the hair colour.
    fh = p["facial_hair"]
    beard_col = jnp.where(style == 0, np.float32([0.15, 0.1, 0.08]),
                          0.5 * hair + np.float32([0.09, 0.06, 0.04]))  # darker, less dyed
    moustache = jnp.minimum(mw * 1.15 - jnp.abs(u),
                            jnp.minimum(v - (curve - lt - 0.09), (curve - lt + 0.01) - v))
    goatee = jnp.minimum(0.5 * mw - jnp.abs(u),
                         jnp.minimum(v - (curve + mouth_open + 1.2 * lt), 1.05 * p["chin"] - v))
    beard_face = jnp.minimum(face_d + 0.06, v - snap(ey + 0.5 * p["nose_length"]))
    beard_face = jnp.minimum(beard_face, jnp.maximum(v - nose_tip_v - 0.03,
                                                     jnp.abs(u) - 1.3 * p["nose_width"]))
    beard_mouth = -jnp.maximum(upper, jnp.maximum(lower, gap))
    beard = jnp.minimum(beard_face, beard_mouth + 0.01)
    beard_cover = (
        (fh == 1) * _cover(moustache, px)
        + (fh == 2) * jnp.maximum(_cover(goatee, px), _cover(moustache, px))
        + (fh == 3) * _cover(beard, px)
        + (fh == 4) * 0.45 * _cover(beard, px))
    beard_texture = 0.8 + 0.4 * fbm(seeds[1], 16, 16, 1, size)
    rgb, alpha = paint(rgb, alpha, beard_col * beard_texture[..., None], beard_cover)

    # Hair on top: a cap inside a slightly larger head ellipse, above the hairline.
    vol = snap(p["hair_volume"]) + jnp.where(style == HAIR_STYLES.index("big"), 0.25, 0.0)
    vol = jnp.where(style == HAIR_STYLES.index("buzz"), 0.02, vol)
    cap_d = _ellipse_dist(u, v, 0.0, -0.08, fw + vol, 1.0 + vol)
    hairline = p["hairline"] + p["temples"] * (u / fw) ** 2  # temples lower than the middle
    hairline = jnp.where(style == HAIR_STYLES.index("side_part"),
                         p["hairline"] + 0.12 + 0.25 * p["parting"] * u / fw, hairline)
    hairline = jnp.where(style == HAIR_STYLES.index("fringe"),
                         ey - p["brow_gap"] - 0.12 + 0.03 * jnp.sin(u * 40.0), hairline)
    side_limit = jnp.where(is_long, 1.0, ey + 0.05)  # hair beside the face ends here
    side_limit = jnp.where(style == HAIR_STYLES.index("big"), ey + 0.3, side_limit)
    hair_region = jnp.minimum(cap_d, jnp.maximum(hairline - v, -face_d))
    hair_region = jnp.minimum(hair_region, side_limit - v)
    hair_alpha = _cover(hair_region, px) * jnp.where(style == HAIR_STYLES.index("buzz"), 0.7, 1.0)
    hair_alpha = hair_alpha * (style != 0)
    curl = snap(0.2 + 0.8 * p["hair_curl"])  # texture contrast; mean shade kept at 1
    hair_texture = 1.0 - 0.5 * curl + curl * fbm(seeds[2], 12, 12, 2, size)
    rgb, alpha = paint(rgb, alpha, hair * hair_texture[..., None], hair_alpha)

    # Glasses: two lenses (round or rectangular rims, or dark sunglasses) and a bridge.
    gl = p["glasses"]
    lr = p["lens_size"]
    frame_t = p["frame_thickness"]
    lens_d = []
    for side in (-1.0, 1.0):
        round_d = lr - jnp.sqrt((u - side * es) ** 2 + (v - ey) ** 2)
        rect_d = _box_dist(u, v, side * es, ey, lr * 1.1, lr * 0.75)
        lens_d.append(jnp.where(gl == 1, round_d, rect_d))
    lens = jnp.maximum(lens_d[0], lens_d[1])
    rim = _cover(frame_t - jnp.abs(lens), px)
    bridge = _cover(jnp.minimum(frame_t - jnp.abs(v - ey + 0.3 * lr), es - jnp.abs(u)), px)
    temples = _cover(jnp.minimum(frame_t - jnp.abs(v - ey + 0.3 * lr),
                                 jnp.minimum(jnp.abs(u) - es - lr, fw + 0.02 - jnp.abs(u))), px)
    has_glasses = gl > 0
    lens_tint = _cover(lens, px) * (gl == 3) * 0.88
    rgb, alpha = paint(rgb, alpha, np.float32([0.04, 0.05, 0.06]), lens_tint)
    frame_cover = jnp.maximum(jnp.maximum(rim, bridge), temples) * has_glasses
    rgb, alpha = paint(rgb, alpha, p["frame"], frame_cover)

    # --- Lighting: a directional light on the head's ellipsoid, plus ambient. ---
    light_angle = draw(0.0, 2 * np.pi)
    light_tilt = draw(0.0, 0.65)  # 0: frontal light, 0.65: light from one side
    lx = snap(light_tilt * jnp.cos(light_angle))
    ly = snap(light_tilt * jnp.sin(light_angle))
    lz = snap(jnp.sqrt(1.0 - light_tilt**2 * 0.95))
    nu, nv = jnp.clip(u / (fw + 0.15), -1, 1), jnp.clip(v / 1.2, -1, 1)
    nz = jnp.sqrt(jnp.maximum(1.0 - nu**2 - nv**2, 0.0))
    # The light direction is in image axes; rotate it into face axes.
    lu, lv = snap(cos_a * lx + sin_a * ly), snap(cos_a * ly - sin_a * lx)
    lambert = jnp.maximum(nu * lu + nv * lv + nz * lz, 0.0)
    ambient = draw(0.3, 0.6)
    shade = ambient + (1 - ambient) * lambert
    person = rgb * shade[..., None]
    image = bg * (1 - alpha[..., None]) + person * alpha[..., None]

    # --- Partial occlusion: a hand-sized disc or a bar in front of the face. ---
    occ_kind = draw()
    occ_col = draw(0.0, 1.0, (3,)) * (0.8 + 0.4 * fbm(seeds[3], 6, 6, 2, size))[..., None]
    occ_x, occ_y = cx + draw(-0.25, 0.25), cy + draw(-0.2, 0.3)
    disc = _cover(draw(0.06, 0.12) - jnp.sqrt((xx - occ_x) ** 2 + (yy - occ_y) ** 2), size)
    bar_angle = draw(0.0, np.pi)
    bar = _cover(draw(0.02, 0.05) - jnp.abs((xx - occ_x) * jnp.cos(bar_angle)
                                            + (yy - occ_y) * jnp.sin(bar_angle)), size)
    occluder = jnp.where(occ_kind < 0.07, disc, jnp.where(occ_kind < 0.12, bar, 0.0))
    image = _over(image, occ_col, occluder)

    # --- Camera: exposure, colour temperature, sensor noise, clipping. ---
    gain = snap(jnp.exp(draw(-0.3, 0.2)))
    warmth = draw(-0.05, 0.05)
    tint = jnp.stack([1.0 + warmth, jnp.float32(1.0), 1.0 - warmth])
    channel = np.arange(size * size * 3, dtype=np.uint32).reshape(size, size, 3)
    noise = draw(0.005, 0.03) * hash_normal(seeds[4], channel)
    image = jnp.clip(image * gain * tint + noise, 0.0, 1.0)
    return image.astype(jnp.float32)


@functools.partial(jax.jit, static_argnames=("num_identities", "images_per_identity", "size",
                                             "chunk"))
def render_identities(key: jax.Array, num_identities: int, images_per_identity: int,
                      size: int = 64, chunk: int = 256) -> dict:
    """Renders K pictures of each of I people, quantised to uint8.

    Picture n = i * K + j shows person i (identity_params(identity_key(key, i))) drawn
    with image_key(key, i, j); it equals quantize(render_face(...)) of those keys up to
    one uint8 level at rare rounding-boundary pixels (see the module docstring), and it
    does not depend on I or K (a prefix of people is the same people, bit for bit).
    Pictures are rendered `chunk` at a time (vmapped inside lax.map) to bound memory;
    `chunk` does not change the result.

    Args:
      key: a PRNG key; num_identities (I), images_per_identity (K), size, chunk:
        Python ints (static; each new value recompiles).

    Returns:
      {"image": uint8 [I*K, size, size, 3]; "identity": int32 [I*K], values in [0, I)}.
    """
    if num_identities < 1 or images_per_identity < 1:
        raise ValueError("render_identities needs num_identities >= 1 and "
                         f"images_per_identity >= 1, got {num_identities}, "
                         f"{images_per_identity}")
    n = num_identities * images_per_identity
    flat = jnp.arange(n, dtype=jnp.int32)
    ids = flat // images_per_identity

    def one(index):
        i, j = index // images_per_identity, index % images_per_identity
        person = identity_params(identity_key(key, i))
        return render_face(person, image_key(key, i, j), size)

    images = quantize(jax.lax.map(one, flat, batch_size=min(chunk, n)))
    return {"image": images, "identity": ids}
