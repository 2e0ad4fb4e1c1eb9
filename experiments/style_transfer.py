"""Case study 3: neural style transfer (art generation).

    python -m experiments.style_transfer --config configs/style_transfer.py --workdir DIR \\
        [--content A.png ...] [--style B.png [--style C.png ...]]

The recipe: a content image C and a style image S (generated ones by default: a
day scene and a painted texture) -> a fixed feature network (VGG19; pretrained
weights from a local file, or a deterministic random one) -> targets: C's conv4_2
activations and S's Gram matrices -> update the pixels of G along -dJ/dG with
J = alpha J_content + beta J_style + gamma J_TV, coarse to fine -> stylized.png,
the progression, loss curves and results.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import cli, plots
from jaxdl import config as config_lib
from jaxdl.data.images import save_image
from jaxdl.models.layers import compute_dtype
from jaxdl.tasks.style import generator as textures
from jaxdl.tasks.style import inputs, vgg
from jaxdl.tasks.style import transfer as style_transfer
from jaxdl.train.loop import NonFiniteLossError
from jaxdl.train.metric_writers import MetricLogger
from jaxdl.workdir import prepare_workdir, write_json

DEFAULT_CONFIG = "configs/style_transfer.py"
log = logging.getLogger("style_transfer")

CHOICES = {
    "style.mode": ("blend", "per_image"),
    "model.pooling": ("avg", "max"),
    "optim.name": style_transfer.OPTIMIZERS,
    "init": style_transfer.INITS,
}


def check_config(config) -> None:
    """Refuses, before any work, values that cannot run."""
    config_lib.check_choices(config, CHOICES)
    compute_dtype(config.train.dtype)  # "float16" gets its own reason
    if len(config.scales) != len(config.iterations) or not config.scales:
        raise config_lib.ConfigError(
            f"scales {tuple(config.scales)} and iterations {tuple(config.iterations)} must "
            "be non-empty and of the same length")
    if config.scales[-1] != config.image_size:
        raise config_lib.ConfigError(f"the last scale ({config.scales[-1]}) must be "
                                     f"image_size ({config.image_size})")
    if len(config.loss.style_layers) != len(config.loss.style_layer_weights):
        raise config_lib.ConfigError("loss.style_layers and loss.style_layer_weights "
                                     "differ in length")
    for layer in (config.loss.content_layer, *config.loss.style_layers):
        if layer not in vgg.VGG19_LAYERS:
            raise config_lib.ConfigError(f"unknown VGG19 layer {layer!r}; layers are "
                                         f"{', '.join(vgg.VGG19_LAYERS)}")
    if config.style.palette not in textures.PALETTES:
        raise config_lib.ConfigError(f"style.palette must be one of "
                                     f"{', '.join(textures.PALETTES)}")


def build_problem(config, preprocessing: str) -> style_transfer.StyleProblem:
    return style_transfer.StyleProblem(
        content_layer=config.loss.content_layer,
        style_layers=tuple(zip(config.loss.style_layers,
                               map(float, config.loss.style_layer_weights))),
        alpha=config.loss.alpha, beta=config.loss.beta, gamma=config.loss.gamma,
        pooling=config.model.pooling, preprocessing=preprocessing,
        luminance_only=config.loss.keep_colors, widths=tuple(config.model.widths),
        dtype=config.train.dtype)


# -- run ----------------------------------------------------------------------
def run(config, workdir, content_paths=(), style_paths=(), *, progress: bool = True) -> dict:
    """The whole case study; writes everything into `workdir`; returns results."""
    check_config(config)
    workdir = prepare_workdir(workdir, config)
    contents, content_names, styles, style_names = inputs.load_inputs(
        config, content_paths, style_paths)
    params, weights, preprocessing = inputs.load_network(config.model)
    log.info("content: %s; style: %s; weights: %s (%s preprocessing)",
             "; ".join(content_names), "; ".join(style_names), weights, preprocessing)
    if weights == "random":
        log.info("a random VGG19 carries texture statistics but not ImageNet's; for the "
                 "paper's look pass --config.model.weights=vgg19.safetensors (see README)")
    contents, per_image = inputs.pair_contents(contents, styles, config.style.mode)
    problem = build_problem(config, preprocessing)
    for side in config.scales:
        h, w = style_transfer.scale_shape(contents.shape[1:3], side)
        if min(h, w) < style_transfer.min_side(problem):
            raise config_lib.ConfigError(
                f"the content is {h}x{w} pixels at scale {side}; the layers used need at "
                f"least {style_transfer.min_side(problem)} pixels a side")
    tx = style_transfer.make_optimizer(config.optim.name, config.optim.learning_rate,
                                       lbfgs_memory=config.optim.lbfgs_memory)
    save_inputs(workdir, contents, styles, content_names, style_names)

    total = sum(config.iterations)
    bar = _progress_bar(total, progress)
    previews = workdir / "progress"

    def on_snapshot(iteration, images):  # what is done so far is never lost
        save_image(previews / "latest.png", images[0])

    t0 = time.perf_counter()
    try:
        result = style_transfer.stylize(
            problem, params, jnp.asarray(contents), [jnp.asarray(s) for s in styles],
            scales=tuple(config.scales), iterations=tuple(config.iterations), tx=tx,
            key=jax.random.key(config.seed), init=config.init,
            noise_ratio=config.init_noise_ratio,
            style_weights=tuple(config.style.blend_weights) or None,
            per_image_styles=per_image, style_scale=config.style.scale,
            log_every=config.log_every, snapshot_every=config.snapshot_every,
            on_iteration=lambda i: bar.update(1), on_snapshot=on_snapshot)
    except style_transfer.NonFiniteError as e:
        if e.last_images is not None:
            save_image(workdir / "stylized_last_finite.png", e.last_images[0])
        raise NonFiniteLossError(f"{e}; the last finite image is in "
                                 f"{workdir / 'stylized_last_finite.png'}") from None
    finally:
        bar.close()
    seconds = time.perf_counter() - t0

    logger = MetricLogger(workdir, tensorboard=False)
    for row in result.history:
        logger.write(row["step"], {k: v for k, v in row.items() if k != "step"})
    logger.close()
    outputs = save_outputs(workdir, result, config)
    results = {
        "loss": _initial_final(result, "loss"),
        "content_loss": _initial_final(result, "content_loss"),
        "style_loss": _initial_final(result, "style_loss"),
        "tv_loss": _initial_final(result, "tv_loss"),
        "style_loss_reduction": float(1.0 - np.mean(result.final["style_loss"])
                                      / np.mean(result.initial["style_loss"])),
        "iterations": result.iterations,
        "seconds": round(seconds, 2),
        "iterations_per_second": round(result.iterations / seconds, 3),
        "image_size": list(result.images.shape[1:3]),
        "scales": list(config.scales),
        "weights": weights,
        "preprocessing": preprocessing,
        "contents": content_names,
        "styles": style_names,
        "per_image": {k: _initial_final_each(result, k) for k in result.final}
        if len(result.images) > 1 else None,
        "outputs": outputs,
        "jax_backend": jax.default_backend(),
        "config": config_lib.config_to_dict(config),
    }
    write_json(workdir / "results.json", results)
    return results


def _initial_final(result, name) -> dict:
    """Batch means at the last scale ({"initial", "final"})."""
    return {"initial": float(np.mean(result.initial[name])),
            "final": float(np.mean(result.final[name]))}


def _initial_final_each(result, name) -> list[dict]:
    return [{"initial": float(a), "final": float(b)}
            for a, b in zip(result.initial[name], result.final[name])]


def _progress_bar(total: int, enabled: bool):
    from tqdm.auto import tqdm
    return tqdm(total=total, desc="stylize", unit="it", disable=not enabled,
                dynamic_ncols=True)


# -- outputs ------------------------------------------------------------------
def save_inputs(workdir: Path, contents, styles, content_names, style_names) -> None:
    """inputs.png: the content image(s) then the style image(s), as used."""
    h, w = contents.shape[1:3]
    shown = [c for c in contents[:4]] + [
        np.asarray(style_transfer.resize(s, h, w)) for s in styles[:4]]
    titles = [f"content {i + 1}" for i in range(len(shown) - min(len(styles), 4))] + [
        f"style {i + 1}" for i in range(min(len(styles), 4))]
    plots.image_grid(np.stack(shown), workdir / "plots" / "inputs.png", titles=titles,
                     ncols=len(shown), suptitle="Inputs (styles shown resized)")


def save_outputs(workdir: Path, result, config) -> dict:
    """stylized.png (and stylized_K.png for a batch), the progression strip and the
    loss curves. Returns {name: path}."""
    outputs = {"stylized": str(save_image(workdir / "stylized.png", result.images[0]))}
    if len(result.images) > 1:
        for k, image in enumerate(result.images):
            outputs[f"stylized_{k}"] = str(save_image(workdir / f"stylized_{k}.png", image))
    h, w = result.images.shape[1:3]
    frames = [np.clip(np.asarray(style_transfer.resize(im[0], h, w)), 0, 1)
              for _, im in result.snapshots]
    outputs["progression"] = str(plots.image_grid(
        np.stack(frames), workdir / "plots" / "progression.png",
        titles=[f"iteration {i}" for i, _ in result.snapshots],
        ncols=min(len(frames), 6), suptitle="The generated image as it is optimised"))
    markers = {}
    done = 0
    for side, count in zip(list(config.scales)[1:], config.iterations):
        done += count
        markers[f"{side} px"] = done
    outputs["loss_curves"] = str(plots.learning_curves(
        result.history, workdir / "plots" / "loss_curves.png",
        title="Style transfer losses (unweighted terms)", markers=markers))
    return outputs


# -- command line -------------------------------------------------------------
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.style_transfer",
                                     description=__doc__.split("\n\n")[0])
    config_lib.add_config_arguments(parser, DEFAULT_CONFIG)
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--content", action="append", default=[], metavar="IMAGE",
                        help="content image (repeat for several, transferred together); "
                             "default: a generated day scene")
    parser.add_argument("--style", action="append", default=[], metavar="IMAGE",
                        help="style image (repeat to blend several, or see style.mode); "
                             "default: a generated painted texture")
    args, config = config_lib.resolve_config(parser, argv)
    results = run(config, args.workdir, args.content, args.style,
                  progress=not args.no_progress)
    print(json.dumps({
        "style_loss": {k: round(v, 6) for k, v in results["style_loss"].items()},
        "style_loss_reduction": round(results["style_loss_reduction"], 4),
        "content_loss": {k: round(v, 6) for k, v in results["content_loss"].items()},
        "iterations": results["iterations"], "seconds": results["seconds"],
        "weights": results["weights"], "stylized": results["outputs"]["stylized"]}))
    return 0


if __name__ == "__main__":
    sys.exit(cli.run(main))
