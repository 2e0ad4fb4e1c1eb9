"""A trained face encoder at work: embed pictures, and the decisions of the verbs.

`encode_step` is the pure function (state, batch) -> unit embeddings; the rest
feeds it pictures and files and turns distances into the answers of the
experiment's `verify`, `identify` and `cluster` verbs. Printing and argument
parsing stay in `experiments/face_verification.py`.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl.clustering import kmeans
from jaxdl.data import images, pipeline, transforms
from jaxdl.errors import UserError
from jaxdl.train import loop
from jaxdl.train.steps import predict_step


def face_example(mean, std):
    """{"image", "identity"} -> {"inputs": normalised float32, "identity": int32}."""
    def transform(ex):
        return {"inputs": transforms.normalize_image(ex["image"], mean, std),
                "identity": np.int32(ex["identity"])}
    return transform


def encode_step(state, batch, *, flip_average: bool = False) -> jax.Array:
    """Unit embeddings [B, D] of batch["inputs"] [B, H, W, C] (a pure function).

    With `flip_average`, the embedding of a face is the normalised sum of the
    embeddings of the picture and of its mirror image (test-time augmentation;
    the encoder is trained with random flips, so both are pictures of the person).
    """
    emb = predict_step(state, batch)
    if flip_average:
        mirrored = predict_step(state, {**batch, "inputs": batch["inputs"][:, :, ::-1, :]})
        emb = emb + mirrored
        emb = emb / jnp.maximum(jnp.linalg.norm(emb, axis=-1, keepdims=True), 1e-12)
    return emb


@functools.lru_cache(maxsize=None)
def _jit_encode(flip_average: bool):
    return jax.jit(functools.partial(encode_step, flip_average=flip_average))


def encoder(config):
    """jit(encode_step) with the run's test-time augmentation (one per setting)."""
    return _jit_encode(bool(config.eval.get("flip_average", False)))


def embed(encode, state, source, transform, batch_size: int) -> np.ndarray:
    """Embeddings [N, D] of every example of `source`, in order."""
    return loop.predict_all(encode, state, pipeline.evaluation_batches(
        source, global_batch_size=batch_size, transform=transform, process_index=0,
        process_count=1))


def embed_pictures(config, state, transform, pictures) -> np.ndarray:
    """Embeddings [M, D] of uint8 pictures [M, S, S, 3] (or a list of them)."""
    if not len(pictures):
        return np.zeros((0, config.model.embedding_dim), np.float32)
    x = transform({"image": np.stack(pictures), "identity": 0})["inputs"]
    return np.asarray(encoder(config)(state, {"inputs": x}))


def embed_files(config, state, transform, paths: Sequence[str | Path]
                ) -> tuple[np.ndarray, list[str], list[tuple[str, str]]]:
    """(embeddings [M, D] of the readable files, their paths, [(path, error)])."""
    good, errors, pictures = [], [], []
    for path in paths:
        try:
            pictures.append(images.load_image(path, config.data.image_size))
            good.append(str(path))
        except images.ImageError as err:
            errors.append((str(path), str(err)))
    return embed_pictures(config, state, transform, pictures), good, errors


def embed_files_indexed(config, state, transform, files: Sequence[str | Path],
                        batch_size: int) -> tuple[np.ndarray, list[dict]]:
    """(embeddings float32 [M, D] of the readable files, in order; one line per file:
    {"index": row, "path"} or {"path", "error"} with no row), `batch_size` files
    read at a time."""
    rows, lines, n = [], [], 0
    for start in range(0, len(files), batch_size):
        chunk = [str(f) for f in files[start:start + batch_size]]
        emb, _, errors = embed_files(config, state, transform, chunk)
        bad = dict(errors)
        for path in chunk:
            if path in bad:
                lines.append({"path": path, "error": bad[path]})
            else:
                lines.append({"index": n, "path": path})
                n += 1
        rows.append(np.asarray(emb, np.float32))
    matrix = (np.concatenate(rows) if rows
              else np.zeros((0, config.model.embedding_dim), np.float32))
    return matrix, lines


def nearest_identity(gallery_emb: np.ndarray, gallery_names: Sequence[str],
                     probe_emb: np.ndarray, threshold: float) -> tuple[str | None, float]:
    """(name of the nearest gallery face, or None when even it is at `threshold` or
    farther: an unknown person; that distance) for one probe embedding [D]."""
    d = np.linalg.norm(gallery_emb - probe_emb, axis=1)
    best = int(np.argmin(d))
    return (gallery_names[best] if d[best] < threshold else None), float(d[best])


def cluster_embeddings(embeddings: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """k-means cluster index [M] of each embedding [M, D]."""
    return np.asarray(kmeans(jax.random.key(seed), embeddings, k)["assignments"])


# -- decision thresholds --------------------------------------------------------------
class Threshold(NamedTuple):
    """A verb's decision threshold: "same person" when the L2 distance is below `value`."""
    name: str      # "far_calibrated" | "accuracy_optimal" | "accuracy_optimal_validation" | "explicit"
    value: float

    def fields(self) -> dict:
        """What a verb's JSON line says of it: {"threshold", "threshold_name"}."""
        return {"threshold": self.value, "threshold_name": self.name}


class ThresholdError(UserError, ValueError):
    """No such threshold in this run, or a meaningless explicit one."""


def choose_threshold(results: dict | None, choice: str | float | None = None, *,
                     workdir="the run", default: str = "far") -> Threshold:
    """The decision threshold of a finished run's results.json.

    choice: "far" (the FAR-calibrated one; an error on a run without it),
    "accuracy" (the accuracy-optimal one, results.json verification.threshold),
    "accuracy_validation" (accuracy-optimal on the validation people), a float (an
    explicit distance), or None: `default`, falling back with a one-line warning to
    verification.threshold on a run whose results.json predates "thresholds".
    """
    if choice is not None and not isinstance(choice, str):
        value = float(choice)
        if not (np.isfinite(value) and value > 0):
            raise ThresholdError(f"--threshold {choice}: a distance threshold must be a "
                                 "finite number > 0 (unit embeddings: at most 2)")
        return Threshold("explicit", value)
    if not results or "threshold" not in results.get("verification", {}):
        raise ThresholdError(f"{workdir}: no results.json with a verification threshold "
                             "(has the run finished?); pass --threshold X")
    calibrated = results.get("thresholds")
    want = default if choice is None else choice
    if calibrated is None and want != "accuracy":
        if choice == "far":
            raise ThresholdError(f"{workdir}: results.json has no FAR-calibrated threshold "
                                 "(the run predates it); use --accuracy-threshold or "
                                 "--threshold X")
        print(f"warning: {workdir}: results.json has no \"thresholds\" block (an older "
              "run); using verification.threshold, the accuracy-optimal one",
              file=sys.stderr, flush=True)
        want = "accuracy"
    if want == "far":
        return Threshold("far_calibrated", float(calibrated["far_calibrated"]))
    if want == "accuracy_validation":
        return Threshold("accuracy_optimal_validation",
                         float(calibrated["accuracy_optimal_validation"]))
    return Threshold("accuracy_optimal", float(results["verification"]["threshold"]))


# -- export ---------------------------------------------------------------------------
def export_encoder(config, state, normalization: dict, threshold: Threshold, out_dir):
    """Writes the encoder with `jaxdl.serving.export_function`: uint8 pictures in, unit
    embeddings out (normalisation and the run's flip averaging inside); the
    signature carries `threshold` and its name. Returns the signature."""
    from jaxdl import serving
    flip = bool(config.eval.get("flip_average", False))

    def infer(pictures):
        x = serving.normalized_images(pictures, normalization["mean"], normalization["std"])
        return (encode_step(state, {"inputs": x}, flip_average=flip),)

    return serving.export_function(
        infer, [serving.image_input(config.data.image_size)], out_dir,
        outputs=[{"name": "embeddings", "shape": ["batch", config.model.embedding_dim],
                  "dtype": "float32",
                  "description": "unit-length embeddings: same person when the "
                                 "Euclidean distance is below the threshold"}],
        info={"task": "face_verification", "image_size": config.data.image_size,
              "embedding_dim": config.model.embedding_dim, "threshold": threshold.value,
              "threshold_name": threshold.name, "flip_average": flip,
              "normalization": normalization,
              "weights": "ema_params" if state.ema_decay else "params"})
