"""Photometric augmentation (JAX) and greyscale: invariants and hand-computed cases."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from PIL import Image

from jaxdl.data import transforms as T

FULL = dict(greyscale=0.3, hue=0.1, saturation=0.5, white_balance=0.1, contrast=0.3,
            gamma=0.3, blur=0.5, blur_sigma=1.0)
IMAGES = jax.random.uniform(jax.random.key(0), (16, 8, 8, 3))
KEYS = jax.random.split(jax.random.key(1), 16)


@pytest.fixture(scope="module")
def full():
    """The whole augmentation, vmapped and jitted once for the file."""
    return jax.jit(jax.vmap(T.photometric_augmentation(**FULL)))


def test_shape_dtype_and_range(full):
    out = full(KEYS, IMAGES)
    assert out.shape == IMAGES.shape and out.dtype == jnp.float32
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    # Extreme inputs stay in range too.
    for fill in (0.0, 1.0):
        edge = full(KEYS, jnp.full_like(IMAGES, fill))
        assert float(edge.min()) >= 0.0 and float(edge.max()) <= 1.0


def test_same_key_same_bits_different_keys_differ(full):
    np.testing.assert_array_equal(np.asarray(full(KEYS, IMAGES)),
                                  np.asarray(full(KEYS, IMAGES)))
    other = full(jax.random.split(jax.random.key(2), 16), IMAGES)
    differs = np.abs(np.asarray(other) - np.asarray(full(KEYS, IMAGES))).max(axis=(1, 2, 3))
    assert np.all(differs > 1e-3)
    # Each example of a batch gets its own draw: one image repeated comes out different.
    same = full(KEYS, jnp.broadcast_to(IMAGES[:1], IMAGES.shape))
    assert len({np.asarray(x).tobytes() for x in same}) == 16


def test_all_strengths_zero_is_the_identity():
    x = IMAGES[0]
    assert T.photometric_augmentation()(KEYS[0], x) is x
    out = jax.jit(jax.vmap(T.photometric_augmentation(greyscale=0.0, blur_sigma=2.0)))(
        KEYS, IMAGES)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(IMAGES))


def test_greyscale_p1_gives_equal_channels_of_bt601_luma():
    out = np.asarray(jax.vmap(T.photometric_augmentation(greyscale=1.0))(KEYS, IMAGES))
    luma = np.asarray(IMAGES) @ np.array([0.299, 0.587, 0.114])
    for c in range(3):
        np.testing.assert_allclose(out[..., c], luma, atol=1e-6)
    # With every other step on as well, the greyscale pictures keep equal channels.
    out = np.asarray(jax.vmap(T.photometric_augmentation(**{**FULL, "greyscale": 1.0}))(
        KEYS, IMAGES))
    np.testing.assert_array_equal(out[..., 0], out[..., 1])
    np.testing.assert_array_equal(out[..., 0], out[..., 2])


def test_greyscale_probability_is_respected():
    keys = jax.random.split(jax.random.key(3), 2000)
    out = jax.vmap(T.photometric_augmentation(greyscale=0.25))(
        keys, jnp.broadcast_to(IMAGES[0], (2000, 8, 8, 3)))
    grey = np.asarray(jnp.all(out[..., 0] == out[..., 1], axis=(1, 2)))
    assert 0.21 < grey.mean() < 0.29, grey.mean()


def test_hue_keeps_luma_and_a_full_turn_is_the_identity():
    x = IMAGES[0]
    luma = lambda im: np.asarray(im) @ np.array(T.LUMA_601)
    np.testing.assert_allclose(luma(T.adjust_hue(x, 0.3)), luma(x), atol=1e-5)
    np.testing.assert_allclose(np.asarray(T.adjust_hue(x, 1.0)), np.asarray(x), atol=1e-5)
    np.testing.assert_allclose(np.asarray(T.adjust_hue(x, 0.0)), np.asarray(x), atol=1e-6)
    # Grey pixels have no hue: they stay put.
    grey = jnp.full((2, 2, 3), 0.4)
    np.testing.assert_allclose(np.asarray(T.adjust_hue(grey, 0.25)), 0.4, atol=1e-6)
    # A third of a turn moves pure red towards green (YIQ is not exactly HSV, so the
    # new colour is mostly, not only, green).
    red = jnp.asarray([[[1.0, 0.0, 0.0]]])
    turned = np.asarray(T.adjust_hue(red, 1 / 3))[0, 0]
    assert turned[1] > turned[0] and turned[1] > turned[2]


def test_saturation_contrast_and_blur_by_hand():
    x = IMAGES[0]
    luma = np.asarray(x) @ np.array(T.LUMA_601)
    np.testing.assert_allclose(np.asarray(T.adjust_saturation(x, 0.0))[..., 1], luma, atol=1e-6)
    np.testing.assert_allclose(np.asarray(T.adjust_saturation(x, 1.0)), np.asarray(x), atol=1e-6)
    flat = np.asarray(T.adjust_contrast(x, 0.0))
    np.testing.assert_allclose(flat, luma.mean(), atol=1e-6)
    # Blur: a constant image stays constant; an impulse spreads into a normalised
    # Gaussian whose 1-D profile is exp(-t^2 / 2 sigma^2), normalised.
    np.testing.assert_allclose(np.asarray(T.gaussian_blur(jnp.full((6, 6, 3), 0.7), 1.0)),
                               0.7, atol=1e-6)
    impulse = jnp.zeros((9, 9, 3)).at[4, 4].set(1.0)
    blurred = np.asarray(T.gaussian_blur(impulse, 1.0, radius=2))
    w = np.exp(-0.5 * np.arange(-2, 3) ** 2)
    w /= w.sum()
    np.testing.assert_allclose(blurred[2:7, 2:7, 0], np.outer(w, w), atol=1e-6)
    assert blurred.sum() == pytest.approx(3.0, abs=1e-5)
    np.testing.assert_allclose(np.asarray(T.gaussian_blur(x, 1e-4)), np.asarray(x), atol=1e-6)


def test_to_greyscale_matches_pillow():
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    grey = T.to_greyscale(rgb)
    assert grey.dtype == np.uint8 and grey.shape == rgb.shape
    pil = np.asarray(Image.fromarray(rgb).convert("L"))
    assert np.abs(grey[..., 0].astype(int) - pil.astype(int)).max() <= 1
    assert (grey[..., 0] == grey[..., 1]).all() and (grey[..., 0] == grey[..., 2]).all()
    # Batches too; float in, float out.
    batch = T.to_greyscale(np.stack([rgb, rgb]).astype(np.float32) / 255)
    assert batch.dtype == np.float32 and batch.shape == (2, 5, 7, 3)


def test_from_config_reads_the_keys_and_is_none_when_all_off():
    off = ml_collections.ConfigDict(dict(flip=True, crop_padding=4, brightness=0.0))
    assert T.photometric_augmentation_from_config(off) is None  # e.g. day_night's group
    zero = ml_collections.ConfigDict({k: 0.0 for k in T.PHOTOMETRIC_KEYS})
    assert T.photometric_augmentation_from_config(zero) is None
    on = ml_collections.ConfigDict(dict(greyscale=1.0))
    out = T.photometric_augmentation_from_config(on)(KEYS[0], IMAGES[0])
    np.testing.assert_array_equal(np.asarray(out[..., 0]), np.asarray(out[..., 2]))
