"""Pure per-example transforms (numpy): normalisation and augmentation."""

from __future__ import annotations

from typing import Callable

import numpy as np


def channel_stats(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std of uint8 images [N, H, W, C], in [0, 1] units.

    Compute them on the training set only, so no validation or test pixel leaks
    into the model.
    """
    x = np.asarray(images, np.float64) / 255.0
    mean = x.mean(axis=(0, 1, 2))
    std = x.std(axis=(0, 1, 2))
    return mean.astype(np.float32), np.maximum(std, 1e-3).astype(np.float32)


def normalize_image(image: np.ndarray, mean, std) -> np.ndarray:
    """uint8 [..., H, W, C] -> float32 (x/255 - mean) / std."""
    x = np.asarray(image, np.float32) / 255.0
    return (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)


def classification_example(mean, std) -> Callable[[dict], dict]:
    """{"image": uint8, "label": int} -> {"inputs": float32 normalised, "label": int32}."""
    def transform(ex: dict) -> dict:
        return {"inputs": normalize_image(ex["image"], mean, std),
                "label": np.int32(ex["label"])}
    return transform


def augmentation_from_config(augment) -> Callable[[dict, np.random.Generator], dict] | None:
    """`image_augmentation` from a config group (flip, crop_padding, brightness);
    None when all are off."""
    if not (augment.flip or augment.crop_padding or augment.brightness):
        return None
    return image_augmentation(flip=augment.flip, crop_padding=augment.crop_padding,
                              brightness=augment.brightness)


def image_augmentation(*, flip: bool = True, crop_padding: int = 0,
                       brightness: float = 0.0) -> Callable[[dict, np.random.Generator], dict]:
    """Random augmentation of ex["image"] (uint8 [H, W, C]) with grain's per-example rng.

    flip: mirror left-right with probability 1/2 (never upside down: the sky stays up).
    crop_padding: pad by this many pixels (edge values) and crop back at a random offset.
    brightness: multiply by a factor drawn uniformly from [1 - b, 1 + b].
    """
    def augment(ex: dict, rng: np.random.Generator) -> dict:
        img = np.asarray(ex["image"])
        if flip and rng.random() < 0.5:
            img = img[:, ::-1]
        if crop_padding:
            p = crop_padding
            h, w = img.shape[:2]
            padded = np.pad(img, ((p, p), (p, p), (0, 0)), mode="edge")
            dy, dx = rng.integers(0, 2 * p + 1, size=2)
            img = padded[dy:dy + h, dx:dx + w]
        if brightness:
            factor = rng.uniform(1.0 - brightness, 1.0 + brightness)
            img = np.clip(np.asarray(img, np.float32) * factor, 0, 255).astype(np.uint8)
        return dict(ex, image=np.ascontiguousarray(img))
    return augment
