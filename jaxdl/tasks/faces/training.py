"""Training the face encoder: P x K identity batches and a training step with
photometric augmentation inside it.

The input pipeline does the geometric augmentation (flips, crops) and brightness
per example in numpy (`jaxdl.data.transforms.image_augmentation`), then normalises.
Colour is augmented in the jitted step (`augmented_train_step`): random greyscale,
hue, saturation, white balance, contrast, gamma and blur
(`jaxdl.data.transforms.photometric_augmentation`), vectorised over the batch, so
that identity cannot hinge on colour alone and greyscale photographs stay usable.
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp

from jaxdl.data import pipeline, transforms
from jaxdl.train.steps import train_step

# Folded into the step's key so augmentation draws are independent of dropout's.
AUGMENT_STREAM = 0x61756721


def augment_inputs(inputs: jax.Array, ids: jax.Array, key: jax.Array,
                   augment: Callable[[jax.Array, jax.Array], jax.Array],
                   mean, std) -> jax.Array:
    """Photometric augmentation of normalised inputs (pure, jittable).

    inputs: float [B, H, W, C], normalised per channel as (x - mean) / std; ids: int
    [B], each example's position in the global stream. Example i gets the key
    fold_in(key, ids[i]), so what it becomes does not depend on where it sits in
    the batch or on which device. The inputs are mapped back to [0, 1], augmented
    by `augment(key, image)`, and normalised again: float [B, H, W, C].
    """
    keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(
        jnp.asarray(ids).astype(jnp.uint32))
    mean, std = jnp.asarray(mean, jnp.float32), jnp.asarray(std, jnp.float32)
    x = jnp.clip(inputs * std + mean, 0.0, 1.0)
    return (jax.vmap(augment)(keys, x) - mean) / std


def augmented_train_step(state, batch, rng: jax.Array, axis_name: str | None = None, *,
                         augment: Callable[[jax.Array, jax.Array], jax.Array],
                         mean: tuple[float, ...], std: tuple[float, ...]):
    """`jaxdl.train.steps.train_step` on photometrically augmented inputs (pure).

    batch["inputs"] normalised with (mean, std) per channel and batch["id"] as the
    pipeline gives them; the augmentation key is fold_in(fold_in(rng, step),
    AUGMENT_STREAM) (`augment_inputs` folds in each example's id): the same on one
    device or several, and on a resumed run.
    """
    key = jax.random.fold_in(jax.random.fold_in(rng, state.step), AUGMENT_STREAM)
    inputs = augment_inputs(batch["inputs"], batch["id"], key, augment, mean, std)
    return train_step(state, {**batch, "inputs": inputs}, rng, axis_name)


def face_train_step(augment_config, mean, std) -> Callable:
    """The run's training step: `augmented_train_step` with the photometric
    augmentation of config group `augment` (see
    `transforms.photometric_augmentation_from_config`), or plain `train_step` when
    it is all off."""
    augment = transforms.photometric_augmentation_from_config(augment_config)
    if augment is None:
        return train_step
    return functools.partial(augmented_train_step, augment=augment,
                             mean=tuple(float(m) for m in mean),
                             std=tuple(float(s) for s in std))


def face_train_batches(config, data, transform, *, seed: int | None = None,
                       process_index: int | None = None, process_count: int | None = None):
    """P x K identity batches of the training people (`pipeline.identity_batches`),
    with the config's per-example flips, crops and brightness, normalised; drawn
    with `seed` (default config.seed), this process's share."""
    return pipeline.identity_batches(
        data.train, data.labels["train"],
        identities_per_batch=config.train.identities_per_batch,
        images_per_identity=config.train.images_per_identity,
        num_steps=config.train.steps, seed=config.seed if seed is None else seed,
        transform=transform, augment=transforms.augmentation_from_config(config.augment),
        process_index=process_index, process_count=process_count)
