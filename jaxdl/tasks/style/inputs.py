"""The images of a style-transfer run: contents, styles and the feature network.

By default the content is a generated day scene (`jaxdl.tasks.day_night.generator`)
and the style a painted texture (`jaxdl.tasks.style.generator`); files given on the
command line replace them. The network is VGG19 with weights from a local file, or a
deterministic random one.
"""

from __future__ import annotations

import jax
import numpy as np

from jaxdl.config import ConfigError
from jaxdl.data.images import load_image
from jaxdl.tasks.day_night import generator as day_night
from jaxdl.tasks.style import generator as textures
from jaxdl.tasks.style import transfer as style_transfer
from jaxdl.tasks.style import vgg, vgg_weights


def load_inputs(config, content_paths=(), style_paths=()):
    """Content images [N, H, W, 3] and style images (list of [Hs, Ws, 3]), RGB floats
    in [0, 1], with a name for each. Files are read at full size; contents are
    resized to the first one's aspect with the longer side image_size."""
    size = config.image_size
    if content_paths:
        raw = [load_image(p) for p in content_paths]
        shape = style_transfer.scale_shape(raw[0].shape[:2], size)
        contents = np.stack([np.asarray(style_transfer.resize(r / 255.0, *shape))
                             for r in raw])
        content_names = [str(p) for p in content_paths]
    else:
        scene = day_night.render_scene(jax.random.key(config.content.scene_seed), size)
        contents = np.asarray(scene["image"])[None]
        content_names = [f"day'n'night scene (seed {config.content.scene_seed})"]
    if style_paths:
        styles = [load_image(p).astype(np.float32) / 255.0 for p in style_paths]
        style_names = [str(p) for p in style_paths]
    else:
        styles = [np.asarray(textures.painted_texture(
            jax.random.key(config.style.texture_seed), size, palette=config.style.palette))]
        style_names = [f"painted texture ({config.style.palette}, seed "
                       f"{config.style.texture_seed})"]
    return contents.astype(np.float32), content_names, styles, style_names


def load_network(model):
    """(VGG19 variables, what they are: "random" or the file's path, preprocessing)
    for a run's `model` config group (weights: a file, or "" for a random VGG19)."""
    widths = tuple(model.widths)
    if not model.weights:
        return vgg.init_vgg19(model.random_seed, widths=widths), "random", "torchvision"
    params, preprocessing = vgg_weights.load_vgg19_weights(model.weights, widths=widths)
    return params, str(model.weights), preprocessing


def pair_contents(contents, styles, mode: str):
    """Contents and per-image flag for vmap: one content and several per-image styles
    means the content is repeated once per style."""
    if mode == "per_image" and len(styles) > 1:
        if len(contents) == 1:
            contents = np.repeat(contents, len(styles), axis=0)
        if len(contents) != len(styles):
            raise ConfigError(
                f"style.mode=per_image pairs contents with styles: {len(contents)} "
                f"contents, {len(styles)} styles")
        return contents, True
    return contents, False
