"""Neural style transfer (Gatys et al. 2015) as pure functions of pixels.

The generated image G is the variable: its pixels move down the gradient of

    J(G) = alpha J_content(C, G) + beta J_style(S, G) + gamma J_TV(G)

computed through a fixed feature network (VGG19, `jaxdl.tasks.style.vgg`). The pieces:

- `StyleProblem`: what is matched (layers, weights, pooling, colour handling);
  static, so jit closes over it.
- `compute_targets`: the content activations and the (blended) style Gram
  matrices, computed once per scale. Targets carry a leading batch axis, so N
  contents, or N styles, are transferred together under `jax.vmap`.
- `loss_terms` / `transfer_step`: the loss and one optimiser step on the pixels
  (Adam or L-BFGS from optax), pixels clamped to [0, 1]. Pure: no I/O.
- `stylize`: coarse-to-fine driver; each scale starts from the previous result
  upsampled, so most iterations run on small images (the 2-core CPU budget).

Keep-colours mode (`luminance_only`) transfers on the luminance (Y of YIQ) only and
puts the content's chroma back afterwards (Gatys et al. 2016, "Preserving colour").
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxdl import losses
from jaxdl.models.layers import compute_dtype
from jaxdl.tasks.style import vgg as vgg_lib
from jaxdl.tasks.style.vgg import VGG19

INITS = ("content", "noise", "mix")
OPTIMIZERS = ("adam", "lbfgs")

# RGB <-> YIQ (NTSC); Y is luminance, I and Q carry colour.
_RGB_TO_YIQ = np.asarray([[0.299, 0.587, 0.114],
                          [0.595716, -0.274453, -0.321263],
                          [0.211456, -0.522591, 0.311135]], np.float32)
_YIQ_TO_RGB = np.linalg.inv(_RGB_TO_YIQ).astype(np.float32)


def rgb_to_yiq(images: jax.Array) -> jax.Array:
    """[..., 3] RGB -> [..., 3] YIQ (Y in [0, 1] for RGB in [0, 1])."""
    return jnp.asarray(images, jnp.float32) @ _RGB_TO_YIQ.T


def yiq_to_rgb(images: jax.Array) -> jax.Array:
    """[..., 3] YIQ -> [..., 3] RGB (not clipped)."""
    return jnp.asarray(images, jnp.float32) @ _YIQ_TO_RGB.T


def luminance(images: jax.Array) -> jax.Array:
    """[..., 3] RGB -> [..., 1] luminance Y."""
    return rgb_to_yiq(images)[..., :1]


def match_luminance(style_y: jax.Array, content_y: jax.Array) -> jax.Array:
    """Shifts and scales the style's luminance [..., H, W, 1] to the content's mean
    and standard deviation, so only its texture, not its brightness, is transferred."""
    s_mean, s_std = jnp.mean(style_y), jnp.std(style_y)
    c_mean, c_std = jnp.mean(content_y), jnp.std(content_y)
    return jnp.clip((style_y - s_mean) * (c_std / (s_std + 1e-6)) + c_mean, 0.0, 1.0)


def with_content_colours(generated_y: jax.Array, content_rgb: jax.Array) -> jax.Array:
    """Luminance [..., 1] of the result + the content's I and Q -> RGB in [0, 1]."""
    yiq = rgb_to_yiq(content_rgb)
    return jnp.clip(yiq_to_rgb(jnp.concatenate([generated_y, yiq[..., 1:]], -1)), 0.0, 1.0)


def resize(images: jax.Array, height: int, width: int) -> jax.Array:
    """[..., H, W, C] -> [..., height, width, C], bilinear, antialiased when shrinking."""
    images = jnp.asarray(images, jnp.float32)
    if images.shape[-3:-1] == (height, width):
        return images
    return jax.image.resize(images, images.shape[:-3] + (height, width, images.shape[-1]),
                            "linear", antialias=True)


@dataclasses.dataclass(frozen=True)
class StyleProblem:
    """The objective, fixed for a run (hashable: jit and lru caches key on it).

    Attributes:
      content_layer: activations matched for content (course: "conv4_2").
      style_layers: ((layer, lambda_l), ...) matched through Gram matrices.
      alpha, beta, gamma: weights of the content, style and total-variation terms.
      pooling: "avg" or "max" in the VGG19.
      preprocessing: the VGG19's input normalisation ("torchvision", "caffe").
      luminance_only: optimise a one-channel luminance image (keep-colours mode).
      widths: filters per VGG19 block.
      dtype: compute dtype of the feature network, a name in
        `jaxdl.models.layers.COMPUTE_DTYPES` ("float32" or "bfloat16"); its
        parameters, the optimised pixels and the losses stay float32.
    """

    content_layer: str = "conv4_2"
    style_layers: tuple[tuple[str, float], ...] = (
        ("conv1_1", 0.2), ("conv2_1", 0.2), ("conv3_1", 0.2), ("conv4_1", 0.2),
        ("conv5_1", 0.2))
    alpha: float = 10.0
    beta: float = 40.0
    gamma: float = 0.0
    pooling: str = "avg"
    preprocessing: str = "torchvision"
    luminance_only: bool = False
    widths: tuple[int, ...] = (64, 128, 256, 512, 512)
    dtype: str = "float32"

    @property
    def network(self) -> VGG19:
        layers = (self.content_layer,) + tuple(name for name, _ in self.style_layers)
        return VGG19(pooling=self.pooling, preprocessing=self.preprocessing,
                     outputs=tuple(dict.fromkeys(layers)), widths=self.widths,
                     dtype=compute_dtype(self.dtype))

    def features(self, params, image: jax.Array) -> dict[str, jax.Array]:
        """image [H, W, C] (C = 3, or 1 in luminance mode) -> {layer: [h, w, c]}."""
        if image.shape[-1] == 1:
            image = jnp.repeat(image, 3, axis=-1)
        return self.network.apply(params, image)


def min_side(problem: StyleProblem) -> int:
    """The fewest pixels an image side may have so that the deepest layer the
    problem reads is not empty (each 2x2 pooling before it halves the sides)."""
    layers = [problem.content_layer] + [name for name, _ in problem.style_layers]
    deepest = vgg_lib.deepest_layer(layers)
    before = vgg_lib.VGG19_LAYERS[:vgg_lib.VGG19_LAYERS.index(deepest) + 1]
    return 2 ** sum(name.startswith("pool") for name in before)


def _check_big_enough(problem: StyleProblem, shape: Sequence[int], what: str) -> None:
    """Refuses an image too small for the deepest layer (its loss would be NaN)."""
    need = min_side(problem)
    if min(shape) < need:
        raise ValueError(f"the {what} image is {shape[0]}x{shape[1]} pixels at this scale; "
                         f"the layers used need at least {need} pixels a side (one 2x2 "
                         "pooling halves them); use larger scales")


def compute_targets(problem: StyleProblem, params, contents: jax.Array,
                    styles: Sequence[jax.Array], style_weights: Sequence[float] | None = None,
                    *, per_image_styles: bool = False) -> dict:
    """What the generated images are pulled towards, one entry per image.

    Args:
      contents: [N, H, W, 3] RGB in [0, 1] (in luminance mode converted here).
      styles: style images [Hs, Ws, 3], each of any size.
      style_weights: blend weights of the styles (normalised to sum 1; default
        equal); the blend is of normalised Gram matrices.
      per_image_styles: instead of blending, image i takes style i (N styles for
        N images; one content may be repeated N times).

    Returns {"content": [N, h, w, c] content activations,
             "grams": {layer: [N, c, c]} normalised Gram matrices}.
    """
    contents = jnp.asarray(contents, jnp.float32)
    n = contents.shape[0]
    if problem.luminance_only:
        content_y = luminance(contents)
        styles = [match_luminance(luminance(s), content_y) for s in styles]
        contents = content_y
    features = batched_features(problem)
    _check_big_enough(problem, contents.shape[1:3], "content")
    content_acts = features(params, contents)[problem.content_layer]
    style_grams = []
    for style in styles:
        _check_big_enough(problem, style.shape[:2], "style")
        acts = jax.tree.map(lambda a: a[0],
                            features(params, jnp.asarray(style, jnp.float32)[None]))
        style_grams.append({layer: losses.gram_matrix(acts[layer], normalize=True)
                            for layer, _ in problem.style_layers})
    if per_image_styles:
        if len(style_grams) != n:
            raise ValueError(f"per-image styles need one style per image: {n} images, "
                             f"{len(style_grams)} styles")
        grams = {layer: jnp.stack([g[layer] for g in style_grams])
                 for layer, _ in problem.style_layers}
    else:
        w = np.ones(len(styles)) if style_weights is None else np.asarray(style_weights, float)
        if len(w) != len(styles) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError(f"style weights must be {len(styles)} non-negative numbers "
                             f"with a positive sum, got {list(w)}")
        w = w / w.sum()
        grams = {layer: jnp.broadcast_to(
                     sum(wi * g[layer] for wi, g in zip(w, style_grams)),
                     (n,) + style_grams[0][layer].shape)
                 for layer, _ in problem.style_layers}
    return {"content": content_acts, "grams": grams}


def loss_terms(problem: StyleProblem, params, image: jax.Array,
               targets: Mapping) -> tuple[jax.Array, dict]:
    """J and its terms for one image [H, W, C] and its targets (one entry of
    `compute_targets`' batch). Returns (loss, {"loss", "content_loss",
    "style_loss", "tv_loss"}); the terms are unweighted."""
    acts = problem.features(params, image)
    j_content = losses.content_loss(targets["content"], acts[problem.content_layer])
    j_style = losses.style_loss(targets["grams"], acts, dict(problem.style_layers))
    j_tv = losses.total_variation_loss(image)
    loss = problem.alpha * j_content + problem.beta * j_style + problem.gamma * j_tv
    return loss, {"loss": loss, "content_loss": j_content, "style_loss": j_style,
                  "tv_loss": j_tv}


def total_loss(problem: StyleProblem, params, image: jax.Array, targets: Mapping) -> jax.Array:
    """J(G) for one image: alpha J_content + beta J_style + gamma J_TV."""
    return loss_terms(problem, params, image, targets)[0]


def make_optimizer(name: str, learning_rate: float, *, lbfgs_memory: int = 10
                   ) -> optax.GradientTransformationExtraArgs:
    """Adam (learning rate on [0, 1] pixels) or L-BFGS with optax's zoom line search
    (learning_rate unused). Both accept L-BFGS's extra update arguments."""
    if name == "adam":
        return optax.with_extra_args_support(optax.adam(learning_rate))
    if name == "lbfgs":
        return optax.lbfgs(memory_size=lbfgs_memory)
    raise ValueError(f"unknown optimizer {name!r}; choose from {OPTIMIZERS}")


def transfer_step(problem: StyleProblem, tx: optax.GradientTransformationExtraArgs,
                  params, image: jax.Array, opt_state, targets: Mapping):
    """One optimiser step on the pixels of one image. Pure.

    image: [H, W, C] in [0, 1]; targets: one entry of `compute_targets`.
    Returns (new image clamped to [0, 1], new optimiser state, loss terms at the
    image before the step).
    """
    def value_fn(x):
        return total_loss(problem, params, x, targets)

    (loss, terms), grad = jax.value_and_grad(
        functools.partial(loss_terms, problem, params), has_aux=True)(image, targets)
    updates, opt_state = tx.update(grad, opt_state, image, value=loss, grad=grad,
                                   value_fn=value_fn)
    image = jnp.clip(optax.apply_updates(image, updates), 0.0, 1.0)
    return image, opt_state, terms


@functools.lru_cache(maxsize=None)
def batched_features(problem: StyleProblem) -> Callable:
    """(params, images [N, H, W, C]) -> {layer: [N, h, w, c]} (jitted once per
    problem; every scale and style size reuses it, compiling per shape)."""
    return jax.jit(jax.vmap(problem.features, in_axes=(None, 0)))


@functools.lru_cache(maxsize=None)
def batched_step(problem: StyleProblem, tx) -> Callable:
    """transfer_step for a batch [N, H, W, C] (vmapped, one jit per problem/optimiser):
    (params, images, opt_states, targets) -> (images, opt_states, terms [N])."""
    step = functools.partial(transfer_step, problem, tx)
    return jax.jit(jax.vmap(step, in_axes=(None, 0, 0, 0)))


@functools.lru_cache(maxsize=None)
def batched_loss_terms(problem: StyleProblem) -> Callable:
    """(params, images [N, ...], targets) -> terms, each [N] (jitted)."""
    fn = functools.partial(loss_terms, problem)
    return jax.jit(jax.vmap(lambda p, x, t: fn(p, x, t)[1], in_axes=(None, 0, 0)))


def initial_images(contents: jax.Array, key: jax.Array, init: str,
                   noise_ratio: float = 0.6) -> jax.Array:
    """The starting pixels for contents [N, H, W, C]: "content" (a copy), "noise"
    (uniform in [0, 1]) or "mix": (1 - r) content + r noise, r = noise_ratio."""
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; choose from {INITS}")
    if init == "content":
        return contents
    noise = jax.random.uniform(key, contents.shape, jnp.float32)
    if init == "noise":
        return noise
    return (1.0 - noise_ratio) * contents + noise_ratio * noise


def scale_shape(shape: tuple[int, int], longer_side: int) -> tuple[int, int]:
    """(H, W) scaled so the longer side is `longer_side` (aspect kept, >= 1 pixel)."""
    h, w = shape
    f = longer_side / max(h, w)
    return max(1, round(h * f)), max(1, round(w * f))


@dataclasses.dataclass
class StylizeResult:
    """What `stylize` returns (host numpy arrays).

    images: [N, H, W, 3] RGB in [0, 1] at the last scale.
    history: rows {"step", "scale", "train/loss", ...} (batch means, of the image
      before that step) at step 1, every `log_every` steps and at each scale's end.
    snapshots: [(iteration, [N, H_s, W_s, 3])] every `snapshot_every` iterations.
    initial, final: loss terms {name: [N]} of the starting and the final image,
      both measured at the last scale (so they compare).
    iterations: total iterations over all scales.
    """

    images: np.ndarray
    history: list[dict]
    snapshots: list[tuple[int, np.ndarray]]
    initial: dict[str, np.ndarray]
    final: dict[str, np.ndarray]
    iterations: int


class NonFiniteError(FloatingPointError):
    """The loss became NaN or infinite; carries the last finite images."""

    def __init__(self, message: str, last_images: np.ndarray | None):
        super().__init__(message)
        self.last_images = last_images


def stylize(problem: StyleProblem, params, contents: jax.Array, styles: Sequence[jax.Array],
            *, scales: Sequence[int], iterations: Sequence[int],
            tx: optax.GradientTransformationExtraArgs, key: jax.Array,
            init: str = "content", noise_ratio: float = 0.6,
            style_weights: Sequence[float] | None = None, per_image_styles: bool = False,
            style_scale: float = 1.0, log_every: int = 10, snapshot_every: int = 50,
            on_iteration: Callable[[int], None] | None = None,
            on_snapshot: Callable[[int, np.ndarray], None] | None = None) -> StylizeResult:
    """Coarse-to-fine style transfer of contents [N, H, W, 3] (RGB in [0, 1]).

    At scale s the images' longer side is `scales[s]` (aspect of the contents kept),
    styles' longer side `style_scale` times that; `iterations[s]` steps run there,
    starting from the previous scale's result upsampled (the first from `init`).
    on_iteration(i) is called after each iteration (progress bars); on_snapshot(i,
    images RGB [N, h, w, 3]) at each snapshot (saving previews as they come).
    Raises NonFiniteError if the loss stops being finite.
    """
    if len(scales) != len(iterations) or not scales:
        raise ValueError(f"scales {list(scales)} and iterations {list(iterations)} must be "
                         "non-empty and of the same length")
    contents = jnp.asarray(contents, jnp.float32)
    full_shape = contents.shape[1:3]
    step = batched_step(problem, tx)
    terms_fn = batched_loss_terms(problem)
    key_init, _ = jax.random.split(key)

    def rgb(images, contents_s):  # the optimised pixels as colour images
        if problem.luminance_only:
            return with_content_colours(images, contents_s)
        return images

    def targets_at(shape):
        contents_s = resize(contents, *shape)
        style_side = max(1, round(max(shape) * style_scale))
        styles_s = [resize(s, *_style_shape(s.shape[:2], style_side)) for s in styles]
        return contents_s, compute_targets(problem, params, contents_s, styles_s,
                                           style_weights, per_image_styles=per_image_styles)

    def _style_shape(shape, side):  # longer side `side`, shorter one never too small
        h, w = scale_shape(shape, side)
        grow = max(1.0, min_side(problem) / min(h, w))
        return max(round(h * grow), min_side(problem)), max(round(w * grow), min_side(problem))

    def start(contents_s):
        base = luminance(contents_s) if problem.luminance_only else contents_s
        return initial_images(base, key_init, init, noise_ratio)

    history, snapshots = [], []
    images, done = None, 0
    last_good = None
    for s, (side, count) in enumerate(zip(scales, iterations)):
        shape = scale_shape(full_shape, side)
        contents_s, targets = targets_at(shape)
        images = start(contents_s) if images is None else resize(images, *shape)
        opt_state = jax.vmap(tx.init)(images)
        for i in range(count):
            images_before = images
            images, opt_state, terms = step(params, images, opt_state, targets)
            done += 1
            if done == 1 or done % log_every == 0 or i == count - 1:
                row = {k: np.asarray(v) for k, v in terms.items()}
                if not all(np.all(np.isfinite(v)) for v in row.values()):
                    raise NonFiniteError(
                        f"the loss is not finite at iteration {done} (scale {side}px): "
                        f"{ {k: v.tolist() for k, v in row.items()} }",
                        None if last_good is None else np.asarray(rgb(*last_good)))
                last_good = (images_before, contents_s)  # stays on device until needed
                history.append({"step": done, "scale": side,
                                **{f"train/{k}": float(v.mean()) for k, v in row.items()}})
            if done % snapshot_every == 0 or (s == len(scales) - 1 and i == count - 1):
                picture = np.asarray(rgb(images, contents_s))
                snapshots.append((done, picture))
                if on_snapshot is not None:
                    on_snapshot(done, picture)
            if on_iteration is not None:
                on_iteration(done)
    # Initial and final losses at the last scale, where the result is judged.
    first = start(contents_s)
    initial = {k: np.asarray(v) for k, v in terms_fn(params, first, targets).items()}
    final = {k: np.asarray(v) for k, v in terms_fn(params, images, targets).items()}
    return StylizeResult(images=np.asarray(rgb(images, contents_s)), history=history,
                         snapshots=snapshots, initial=initial, final=final, iterations=done)
