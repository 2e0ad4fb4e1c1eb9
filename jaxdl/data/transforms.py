"""Pure transforms: normalisation and augmentation.

Per-example numpy transforms for the input pipeline (`normalize_image`,
`image_augmentation`: flips, crops, brightness), and photometric augmentation in
JAX (`photometric_augmentation`: greyscale, hue, saturation, contrast, gamma,
white balance, blur), a pure function of (key, image) that jits and vmaps over a
batch, e.g. inside a jitted training step. `to_greyscale` is ITU-R BT.601 luma.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

# ITU-R BT.601 luma weights (what Pillow's convert("L") uses): Y = .299 R + .587 G + .114 B.
LUMA_601 = (0.299, 0.587, 0.114)


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


# -- greyscale ------------------------------------------------------------------
def to_greyscale(images: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma of RGB images [..., 3], replicated to 3 equal channels.

    uint8 in, uint8 out (rounded, as Pillow's convert("L") then back to RGB); float
    in, float32 out (unrounded).
    """
    x = np.asarray(images)
    luma = np.asarray(x, np.float32) @ np.asarray(LUMA_601, np.float32)
    if x.dtype == np.uint8:
        luma = np.clip(np.round(luma), 0, 255).astype(np.uint8)
    return np.repeat(luma[..., None], 3, axis=-1)


# -- photometric augmentation (JAX) ------------------------------------------------
# Each function takes a float image [H, W, 3] with values in [0, 1] (one example; vmap
# for a batch) and keeps its shape; random ones take a key first.

def _luma(image: jax.Array) -> jax.Array:
    """[H, W, 3] -> [H, W, 1], BT.601 luma."""
    return (image @ jnp.asarray(LUMA_601, image.dtype))[..., None]


def adjust_saturation(image: jax.Array, factor) -> jax.Array:
    """Moves each pixel away from (factor > 1) or towards (factor < 1) its own grey
    (BT.601 luma, which stays unchanged); factor 0 is greyscale, 1 the identity."""
    y = _luma(image)
    return y + factor * (image - y)


_RGB_TO_YIQ = np.asarray([[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263],
                         [0.211456, -0.522591, 0.311135]])
_YIQ_TO_RGB = np.linalg.inv(_RGB_TO_YIQ)


def adjust_hue(image: jax.Array, turns) -> jax.Array:
    """Rotates the hue by `turns` of a full circle (0.5 = 180 degrees): a rotation of
    the chroma plane (I, Q) of YIQ, so luma and saturation are kept (before clipping)."""
    angle = -2.0 * jnp.pi * turns  # minus: red -> yellow -> green, as HSV hue runs
    c, s = jnp.cos(angle), jnp.sin(angle)
    one, zero = jnp.ones_like(c), jnp.zeros_like(c)
    rotate = jnp.stack([jnp.stack([one, zero, zero]), jnp.stack([zero, c, -s]),
                        jnp.stack([zero, s, c])]).astype(image.dtype)
    matrix = jnp.asarray(_YIQ_TO_RGB, image.dtype) @ rotate @ jnp.asarray(_RGB_TO_YIQ,
                                                                       image.dtype)
    return image @ matrix.T


def adjust_contrast(image: jax.Array, factor) -> jax.Array:
    """Scales each pixel's distance from the image's mean luma by `factor`."""
    return jnp.mean(_luma(image)) + factor * (image - jnp.mean(_luma(image)))


def gaussian_blur(image: jax.Array, sigma, radius: int = 2) -> jax.Array:
    """Separable Gaussian blur of std `sigma` pixels (a traced value is fine), kernel
    2 * radius + 1 taps (static), edges extended. sigma -> 0 is the identity."""
    taps = jnp.arange(-radius, radius + 1, dtype=image.dtype)
    w = jnp.exp(-0.5 * (taps / jnp.maximum(sigma, 1e-3)) ** 2)
    w = w / w.sum()
    h, wd = image.shape[:2]
    padded = jnp.pad(image, ((radius, radius), (0, 0), (0, 0)), mode="edge")
    image = sum(w[t] * padded[t:t + h] for t in range(2 * radius + 1))
    padded = jnp.pad(image, ((0, 0), (radius, radius), (0, 0)), mode="edge")
    return sum(w[t] * padded[:, t:t + wd] for t in range(2 * radius + 1))


def photometric_augmentation(*, greyscale: float = 0.0, hue: float = 0.0,
                             saturation: float = 0.0, contrast: float = 0.0,
                             gamma: float = 0.0, white_balance: float = 0.0,
                             blur: float = 0.0, blur_sigma: float = 1.0
                             ) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """A random photometric augmentation `augment(key, image) -> image`, pure and
    jittable; `jax.vmap(augment)(keys [B], images [B, H, W, 3])` for a batch.

    image: float [H, W, 3] in [0, 1]; the result has the same shape and dtype, in
    [0, 1]. In order, each with its own draw:
      hue: rotate the hue by a uniform [-hue, hue] turns (luma kept);
      saturation: scale saturation by a uniform [1 - s, 1 + s];
      white_balance: multiply each channel by its own uniform [1 - w, 1 + w];
      greyscale: probability of replacing the image by its BT.601 luma (3 equal channels);
      contrast: scale the distance from the mean luma by a uniform [1 - c, 1 + c];
      gamma: raise to the power exp(uniform [-g, g]);
      blur: probability of a Gaussian blur with std uniform [0.3, blur_sigma] pixels.
    A strength of 0 leaves that step out; all 0 is the identity (same bits).
    """
    def augment(key: jax.Array, image: jax.Array) -> jax.Array:
        k = jax.random.split(key, 9)
        u = lambda i, lo, hi, shape=(): jax.random.uniform(k[i], shape, image.dtype, lo, hi)
        x = image
        if hue:
            x = adjust_hue(x, u(0, -hue, hue))
        if saturation:
            x = adjust_saturation(x, u(1, 1.0 - saturation, 1.0 + saturation))
        if white_balance:
            x = x * u(2, 1.0 - white_balance, 1.0 + white_balance, (3,))
        if hue or saturation or white_balance:
            x = jnp.clip(x, 0.0, 1.0)
        if greyscale:
            x = jnp.where(u(3, 0.0, 1.0) < greyscale,
                          jnp.broadcast_to(_luma(x), x.shape), x)
        if contrast:
            x = jnp.clip(adjust_contrast(x, u(4, 1.0 - contrast, 1.0 + contrast)), 0.0, 1.0)
        if gamma:
            x = jnp.clip(x, 0.0, 1.0) ** jnp.exp(u(5, -gamma, gamma))
        if blur:
            blurred = gaussian_blur(x, u(6, 0.3, max(blur_sigma, 0.3)),
                                    radius=max(1, int(np.ceil(2.0 * blur_sigma))))
            x = jnp.where(u(7, 0.0, 1.0) < blur, blurred, x)
        return x if x is image else jnp.clip(x, 0.0, 1.0).astype(image.dtype)
    return augment


PHOTOMETRIC_KEYS = ("greyscale", "hue", "saturation", "contrast", "gamma",
                    "white_balance", "blur", "blur_sigma")


def photometric_augmentation_from_config(augment
                                         ) -> Callable[[jax.Array, jax.Array], jax.Array] | None:
    """`photometric_augmentation` from the keys of a config group (PHOTOMETRIC_KEYS;
    a missing key is 0, blur_sigma 1); None when every strength is 0."""
    kw = {name: float(augment.get(name, 1.0 if name == "blur_sigma" else 0.0))
          for name in PHOTOMETRIC_KEYS}
    if not any(v for name, v in kw.items() if name != "blur_sigma"):
        return None
    return photometric_augmentation(**kw)
