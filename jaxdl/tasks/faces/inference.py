"""A trained face encoder at work: embed pictures, and the decisions of the verbs.

`encode_step` is the pure function (state, batch) -> unit embeddings; the rest
feeds it pictures and files and turns distances into the answers of the
experiment's `verify`, `identify` and `cluster` verbs. Printing and argument
parsing stay in `experiments/face_verification.py`.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl.clustering import kmeans
from jaxdl.data import images, pipeline, transforms
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
