"""Exported inference functions: StableHLO files that run with jax and numpy alone.

`export_function(fn, inputs, out_dir, signature)` serialises `fn` with `jax.export`
for CPU, CUDA and TPU (each platform that lowers here) with a symbolic batch
dimension, and writes into `out_dir`:

- `model.jax_exported`: the serialised `jax.export.Exported` (StableHLO plus its
  calling convention), input normalisation and output decoding inside;
- `signature.json`: what the function takes and returns (names, shapes with "batch"
  for the symbolic dimension, dtypes), the platforms, and the task's facts (image
  size or sample rate, class names, thresholds, ...);
- `serve.py`: `load(directory)`, the loader below as a file of its own that imports
  only json, pathlib, numpy and jax: copy it next to the two files anywhere.

`load(directory)` returns a function of numpy arrays (positional, in the order of
the signature's inputs) to a dict of numpy arrays (the signature's outputs).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import jax
import numpy as np

from jaxdl.errors import UserError

MODEL_FILE = "model.jax_exported"
SIGNATURE_FILE = "signature.json"
LOADER_FILE = "serve.py"
PLATFORMS = ("cpu", "cuda", "tpu")
FORMAT_VERSION = 1

# The loader a user copies: it must not import jaxdl or flax (a test runs it in a
# fresh interpreter and checks), so it is kept as source text and written as is.
LOADER_SOURCE = '''"""Runs a model exported by jaxdl with jax and numpy only.

    from serve import load
    predict = load("path/to/export")       # the folder holding this file's siblings
    outputs = predict(inputs)              # numpy in, dict of numpy out
"""
import json
from pathlib import Path

import jax
import numpy as np
from jax import export


def load(directory="."):
    """The exported function of `directory`: numpy arrays in (the signature's inputs,
    in order), a dict of numpy arrays out (the signature's outputs)."""
    directory = Path(directory)
    signature = json.loads((directory / "signature.json").read_text())
    exported = export.deserialize(bytearray((directory / "model.jax_exported").read_bytes()))
    names = [o["name"] for o in signature["outputs"]]
    dtypes = [np.dtype(i["dtype"]) for i in signature["inputs"]]

    def run(*inputs):
        args = [np.asarray(x, dtype=d) for x, d in zip(inputs, dtypes)]
        out = exported.call(*args)
        out = out if isinstance(out, (tuple, list)) else (out,)
        return {n: np.asarray(v) for n, v in zip(names, out)}

    run.signature = signature
    return run
'''


class ExportError(UserError, RuntimeError):
    """An export folder that is missing, incomplete or from another format."""


def export_function(fn: Callable, inputs: Sequence[Mapping[str, Any]], out_dir: str | Path,
                    *, outputs: Sequence[Mapping[str, Any]], info: Mapping[str, Any],
                    platforms: Sequence[str] = PLATFORMS) -> dict:
    """Serialises `fn` (numpy-in, tuple-of-arrays-out, jittable) into `out_dir`.

    inputs: one dict per positional argument: name, shape (a tuple whose first
      entry is "batch", the symbolic dimension), dtype (a numpy dtype name),
      description. outputs: one dict per output: name, shape, dtype, description.
    info: the task's facts for the signature (JSON-able).
    platforms: those to lower for; a platform that does not lower here is left out
      and named in the signature's `platforms_failed`.
    Returns the signature written.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    batch, = jax.export.symbolic_shape("batch")
    avals = [jax.ShapeDtypeStruct(tuple(batch if d == "batch" else int(d)
                                        for d in spec["shape"]), np.dtype(spec["dtype"]))
             for spec in inputs]
    lowered, failed = [], {}
    for platform in platforms:
        try:
            jax.export.export(jax.jit(fn), platforms=(platform,))(*avals)
            lowered.append(platform)
        except Exception as e:  # a platform this jaxlib cannot lower for
            failed[platform] = str(e).splitlines()[0][:200]
    if not lowered:
        raise ExportError(f"the function lowers for none of {list(platforms)}: {failed}")
    exported = jax.export.export(jax.jit(fn), platforms=tuple(lowered))(*avals)
    signature = {"format": "jax.export", "format_version": FORMAT_VERSION,
                 "jax_version": jax.__version__, "platforms": list(exported.platforms),
                 "platforms_failed": failed,
                 "inputs": [dict(spec, shape=list(spec["shape"])) for spec in inputs],
                 "outputs": [dict(spec, shape=list(spec["shape"])) for spec in outputs],
                 **dict(info)}
    (out_dir / MODEL_FILE).write_bytes(bytes(exported.serialize()))
    (out_dir / SIGNATURE_FILE).write_text(json.dumps(signature, indent=2) + "\n")
    (out_dir / LOADER_FILE).write_text(LOADER_SOURCE)
    return signature


def load(directory: str | Path) -> Callable[..., dict]:
    """The exported function in `directory` (see module doc): numpy arrays in, a
    dict of numpy arrays out; its `.signature` is the signature. Raises
    ExportError for a folder that holds no complete export."""
    directory = Path(directory)
    missing = [f for f in (MODEL_FILE, SIGNATURE_FILE) if not (directory / f).is_file()]
    if missing:
        raise ExportError(f"{directory}: no exported model ({', '.join(missing)} missing); "
                          f"run the experiment's `export` verb first")
    namespace: dict = {}
    exec(compile(LOADER_SOURCE, LOADER_FILE, "exec"), namespace)
    return namespace["load"](directory)


# -- what the experiments' `export` verbs share -----------------------------------------
def export_arguments(parser) -> None:
    """Export a finished run's model with jax.export (it then runs with jax and numpy only)."""
    parser.add_argument("--workdir", required=True, help="a finished run's workdir")
    parser.add_argument("--out", help="where to write the export (default: WORKDIR/export)")


def export_dir(workdir: str | Path, out: str | Path | None) -> Path:
    """--out, or WORKDIR/export."""
    return Path(out) if out else Path(workdir) / "export"


def normalized_images(images: jax.Array, mean, std) -> jax.Array:
    """uint8 [..., H, W, 3] -> float32 (x / 255 - mean) / std, inside the export (the
    same arithmetic as `jaxdl.data.transforms.normalize_image`)."""
    import jax.numpy as jnp
    x = images.astype(jnp.float32) / 255.0
    return (x - jnp.asarray(mean, jnp.float32)) / jnp.asarray(std, jnp.float32)


def image_input(size: int) -> dict:
    """The signature entry of a batch of square RGB pictures."""
    return {"name": "images", "shape": ("batch", size, size, 3), "dtype": "uint8",
            "description": f"RGB pictures, {size} x {size} (resize before calling)"}


def summary_line(out_dir: Path, signature: dict) -> dict:
    """The JSON line an `export` verb prints."""
    return {"export": str(out_dir), "platforms": signature["platforms"],
            "inputs": {i["name"]: i["shape"] for i in signature["inputs"]},
            "outputs": [o["name"] for o in signature["outputs"]]}
