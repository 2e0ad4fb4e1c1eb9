"""The face encoder's training step with photometric augmentation inside it."""

import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from jaxdl.data import transforms
from jaxdl.tasks.faces.training import (AUGMENT_STREAM, augment_inputs,
                                        augmented_train_step, face_train_step)
from jaxdl.train.steps import train_step

MEAN, STD = (0.5, 0.4, 0.3), (0.25, 0.2, 0.22)
FULL = transforms.photometric_augmentation(greyscale=0.3, hue=0.1, saturation=0.5,
                                           contrast=0.3, gamma=0.3, blur=0.5)


def _normalised(images):
    return (images - jnp.asarray(MEAN)) / jnp.asarray(STD)


@pytest.fixture(scope="module")
def setup():
    """A quick-preset encoder state and a P x K batch of normalised random faces."""
    from experiments.face_verification import create_state
    from jaxdl.config import load_config
    config = load_config("configs/face_verification.py:quick")
    state = create_state(config, jax.random.key(0), 10)
    images = jax.random.uniform(jax.random.key(1), (8, 32, 32, 3))
    batch = {"inputs": _normalised(images), "identity": jnp.repeat(jnp.arange(4), 2),
             "id": jnp.arange(100, 108)}
    return state, images, batch


def test_inputs_are_augmented_in_pixel_space_and_normalised_again():
    images = jax.random.uniform(jax.random.key(2), (6, 8, 8, 3))
    grey = transforms.photometric_augmentation(greyscale=1.0)
    out = augment_inputs(_normalised(images), jnp.arange(6), jax.random.key(0), grey,
                         MEAN, STD)
    want = _normalised(jnp.asarray(transforms.to_greyscale(np.asarray(images))))
    np.testing.assert_allclose(np.asarray(out), np.asarray(want), atol=1e-5)


def test_each_example_is_keyed_by_its_id_not_its_place():
    images = jax.random.uniform(jax.random.key(3), (6, 8, 8, 3))
    ids = jnp.arange(10, 16)
    f = jax.jit(functools.partial(augment_inputs, augment=FULL, mean=MEAN, std=STD))
    out = np.asarray(f(_normalised(images), ids, jax.random.key(0)))
    order = np.array([3, 0, 5, 1, 4, 2])
    shuffled = np.asarray(f(_normalised(images)[order], ids[order], jax.random.key(0)))
    np.testing.assert_allclose(shuffled, out[order], atol=1e-6)
    np.testing.assert_array_equal(out, np.asarray(f(_normalised(images), ids,
                                                    jax.random.key(0))))
    other = np.asarray(f(_normalised(images), ids, jax.random.key(1)))
    assert np.abs(other - out).max() > 1e-2


def test_augmented_step_trains_on_the_augmented_pictures(setup):
    """With greyscale p=1 the step equals the plain step on greyscale inputs: the
    inputs are un-normalised, augmented and normalised again, nothing else changes."""
    state, images, batch = setup
    rng = jax.random.key(5)
    grey_step = functools.partial(augmented_train_step,
                                  augment=transforms.photometric_augmentation(greyscale=1.0),
                                  mean=MEAN, std=STD)
    aug, m_aug = jax.jit(grey_step)(state, batch, rng)
    grey_inputs = _normalised(jnp.asarray(transforms.to_greyscale(np.asarray(images))))
    plain, m_plain = jax.jit(train_step)(state, {**batch, "inputs": grey_inputs}, rng)
    assert float(m_aug["loss"]) == pytest.approx(float(m_plain["loss"]), abs=1e-4)
    for a, b in zip(jax.tree.leaves(plain.params), jax.tree.leaves(aug.params)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-4)
    assert int(aug.step) == int(state.step) + 1
    assert AUGMENT_STREAM  # the augmentation's draws are folded apart from dropout's


def test_face_train_step_from_config():
    off = ml_collections.ConfigDict(dict(flip=True, crop_padding=2, brightness=0.1,
                                         greyscale=0.0, hue=0.0, blur=0.0))
    assert face_train_step(off, MEAN, STD) is train_step
    on = ml_collections.ConfigDict(dict(greyscale=0.25, blur=0.2, blur_sigma=1.0))
    step = face_train_step(on, np.asarray(MEAN), np.asarray(STD))
    assert step.func is augmented_train_step and step.keywords["mean"] == MEAN
