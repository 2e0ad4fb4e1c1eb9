"""Neural style transfer: the course's third case study.

    python -m experiments.style_transfer --config configs/style_transfer.py[:PRESET] \\
        --workdir DIR [--content A.png ...] [--style B.png ...]

Presets: "" (default: a generated day scene painted in a generated brush-stroke
texture, 256x256, coarse-to-fine 128 -> 256 px, a few minutes on 2 CPU cores),
"quick" (a narrow network on 48-pixel images: seconds, for tests and smoke runs).
"""

import ml_collections

from jaxdl.config import choose_preset

PRESETS = ("default", "quick")


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
    preset = choose_preset(arg, PRESETS)
    c = ml_collections.ConfigDict()
    c.seed = 0                       # noise initialisation
    c.image_size = 256               # longer side of the output, pixels

    # Inputs when no --content / --style file is given: generated, no download.
    c.content = ml_collections.ConfigDict()
    c.content.scene_seed = 3         # jaxdl.tasks.day_night.generator.render_scene key (3: a clear day)
    c.style = ml_collections.ConfigDict()
    c.style.texture_seed = 0         # jaxdl.tasks.style.generator.painted_texture key
    c.style.palette = "starry"       # a name in jaxdl.tasks.style.generator.PALETTES
    # Several --style files: "blend" their Gram matrices with `blend_weights`
    # (empty = equal) into one output, or "per_image": one output per style
    # (transferred together under vmap).
    c.style.mode = "blend"
    c.style.blend_weights = ()
    c.style.scale = 1.0              # style image's longer side / the output's

    # Feature network: VGG19. weights: "" = deterministic random VGG19 (no download
    # possible here); or a local .safetensors (torchvision layout) or Keras .h5 file.
    c.model = ml_collections.ConfigDict()
    c.model.weights = ""
    c.model.random_seed = 0
    c.model.pooling = "avg"          # "avg" (Gatys et al.) | "max"
    c.model.widths = (64, 128, 256, 512, 512)  # VGG19's; narrower only without a file

    # J = alpha J_content + beta J_style + gamma J_TV (course: alpha 10, beta 40).
    c.loss = ml_collections.ConfigDict()
    c.loss.content_layer = "conv4_2"
    c.loss.style_layers = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
    c.loss.style_layer_weights = (0.2, 0.2, 0.2, 0.2, 0.2)
    c.loss.alpha = 10.0
    c.loss.beta = 40.0
    c.loss.gamma = 2.0               # TV: damps single-pixel speckle
    c.loss.keep_colors = False       # transfer on luminance only; keep the content's colours

    c.optim = ml_collections.ConfigDict()
    c.optim.name = "adam"            # "adam" | "lbfgs" (optax.lbfgs, zoom line search)
    c.optim.learning_rate = 0.02     # Adam, on pixels in [0, 1]
    c.optim.lbfgs_memory = 10

    c.train = ml_collections.ConfigDict()
    # Compute dtype of the feature network: "float32" | "bfloat16"; parameters and
    # the optimised image stay float32.
    c.train.dtype = "float32"

    c.init = "content"               # "content" | "noise" | "mix"
    c.init_noise_ratio = 0.6         # "mix": (1 - r) content + r uniform noise

    # Coarse-to-fine: iterations[i] steps with the longer side at scales[i] pixels
    # (the last scale should be image_size), each starting from the previous result.
    c.scales = (128, 256)
    c.iterations = (200, 200)
    c.log_every = 10
    c.snapshot_every = 50            # progression strip and progress/latest.png

    if preset == "quick":
        c.image_size = 48
        c.model.widths = (8, 8, 16, 16, 16)
        c.scales = (32, 48)
        c.iterations = (6, 4)
        c.log_every = 2
        c.snapshot_every = 3
    return c
