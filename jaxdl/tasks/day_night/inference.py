"""A trained day'n'night classifier at work: image files in batches, and its export.

`predict_files` yields one row per file (its label and probability, or its error)
with images going through the model a batch at a time; `export_classifier` writes
the classifier with `jaxdl.serving`. Printing stays in experiments/day_night.py.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl.data import transforms
from jaxdl.data.images import ImageError, load_image
from jaxdl.train.steps import predict_step


def predict_files(state, files: Sequence[str], *, image_size: int, normalization: dict,
                  class_names: Sequence[str], threshold: float,
                  batch_size: int = 64) -> Iterator[dict]:
    """One row per file, in order: {"path", "label", "p_<class 1>"} or, for a file
    that cannot be read, {"path", "error"}. Images are read and predicted
    `batch_size` at a time, padded to one compiled shape."""
    apply = jax.jit(predict_step)
    key = f"p_{class_names[1]}"
    for lo in range(0, len(files), batch_size):
        pictures, rows = [], []
        for path in files[lo:lo + batch_size]:
            try:
                pictures.append(load_image(path, image_size))
                rows.append({"path": path})
            except ImageError as e:
                rows.append({"path": path, "error": str(e)})
        if pictures:
            x = transforms.normalize_image(np.stack(pictures), normalization["mean"],
                                           normalization["std"])
            padded = np.zeros((batch_size,) + x.shape[1:], np.float32)
            padded[:len(x)] = x
            probs = iter(np.asarray(jax.nn.sigmoid(apply(state, {"inputs": padded})))[:len(x)])
        for row in rows:
            if "error" not in row:
                p = float(next(probs))
                row.update(label=class_names[1] if p > threshold else class_names[0],
                           **{key: round(p, 6)})
            yield row


def export_classifier(state, *, image_size: int, normalization: dict,
                      class_names: Sequence[str], threshold: float, out_dir) -> dict:
    """Writes the classifier with `jaxdl.serving.export_function`: uint8 pictures in,
    p(class 1) and the label index out (normalisation and threshold inside).
    Returns the signature."""
    from jaxdl import serving
    threshold = float(threshold)

    def infer(pictures):
        x = serving.normalized_images(pictures, normalization["mean"], normalization["std"])
        p = jax.nn.sigmoid(predict_step(state, {"inputs": x}))
        return p, (p > threshold).astype(jnp.int32)

    name = class_names[1]
    return serving.export_function(
        infer, [serving.image_input(image_size)], out_dir,
        outputs=[{"name": f"p_{name}", "shape": ["batch"], "dtype": "float32",
                  "description": f"probability of {name!r}"},
                 {"name": "label", "shape": ["batch"], "dtype": "int32",
                  "description": f"index into class_names: p_{name} > threshold"}],
        info={"task": "day_night", "image_size": image_size, "class_names": list(class_names),
              "threshold": threshold, "normalization": normalization,
              "weights": "ema_params" if state.ema_decay else "params"})
