"""Pretrained VGG19 weights from local files, into `jaxdl.tasks.style.vgg`'s parameter tree.

This machine never downloads anything: get a weights file elsewhere and name it.
Nothing is ever unpickled here (no torch, no pickle, no ``allow_pickle``), so a
PyTorch ``.pth``/``.pt`` checkpoint must first be converted to safetensors.

Two sources are read:

torchvision (preprocessing "torchvision"), a safetensors file. With torch and
torchvision installed, elsewhere::

    import torchvision, safetensors.torch
    m = torchvision.models.vgg19(weights="IMAGENET1K_V1")
    safetensors.torch.save_file(m.state_dict(), "vgg19.safetensors")
    # or only the convolutional part (about 80 MB instead of 550 MB):
    safetensors.torch.save_file(m.features.state_dict(), "vgg19_features.safetensors")

``m.state_dict()`` has keys ``features.N.weight`` / ``features.N.bias`` (plus
``classifier.*``, ignored here); ``m.features.state_dict()`` has the bare keys
``N.weight`` / ``N.bias``. Both are accepted, and so are keys with a common prefix
before ``features.`` (``vgg19.features.N.weight``, ``model.features.N.weight``)
that some exports add. ``N`` runs over TORCHVISION_CONV_INDICES. An existing
``vgg19-dcbb9e9d.pth`` converts the same way: ``torch.load`` it (in torch, where it
is trusted), then ``safetensors.torch.save_file(state_dict, "vgg19.safetensors")``.
float16/bfloat16 files are upcast to float32.

Keras (preprocessing "caffe": the Keras applications' VGG19 was converted from the
original Caffe model), an HDF5 file, either

* ``keras.applications.VGG19(weights="imagenet", include_top=False)
  .save_weights("vgg19.weights.h5")`` (Keras 3 layout ``layers/block1_conv1/vars/0``),
* the file ``vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5`` (or the one
  without ``_notop``) from the keras releases on GitHub
  (https://github.com/fchollet/deep-learning-models/releases), which
  ``keras.applications`` caches under ``~/.keras/models/``, or
* a full model saved by Keras 2's ``model.save("model.h5")`` (weights under the
  ``model_weights`` group).

Legacy Keras 2 files store ``block{b}_conv{l}/.../kernel:0`` and ``bias:0``; the
``th_dim_ordering`` (Theano) files are not supported (they are refused by shape).
A Keras 3 ``.keras`` archive is a zip; extract its ``model.weights.h5`` and pass
that.

`load_vgg19_weights` dispatches on the suffix and returns the tree with the
preprocessing mode to give `VGG19(preprocessing=...)`.
"""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path
from typing import Sequence

import numpy as np

from jaxdl.errors import UserError
from jaxdl.tasks.style.vgg import VGG19_CONVS, VGG19_WIDTHS

# torchvision `vgg19().features` indices of the 16 convolutions, in VGG19_CONVS order.
TORCHVISION_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)

_FLOAT_DTYPES = ("F16", "BF16", "F32", "F64")
_KERAS_LAYER = re.compile(r"^block([1-5])_conv([1-4])$")
_TORCH_KEY = re.compile(r"^(|.*\.)(\d+)\.(weight|bias)$")
_PICKLE_SUFFIXES = (".pth", ".pt", ".pkl", ".pickle", ".bin", ".ckpt", ".tar")
_CONVERT_HINT = (
    "Pickled checkpoints are refused (unpickling runs arbitrary code). Convert it "
    "to safetensors where torch is installed: load it there (torch.load, or "
    "torchvision.models.vgg19(weights='IMAGENET1K_V1')) and save with "
    "safetensors.torch.save_file(model.state_dict(), 'vgg19.safetensors').")


class WeightsError(UserError, ValueError):
    """A weights file that cannot be used; the message names the file and the problem."""


class WeightsFileNotFoundError(WeightsError, FileNotFoundError):
    """The named weights file does not exist (also a FileNotFoundError)."""


def _check_widths(widths: Sequence[int]) -> tuple[int, ...]:
    widths = tuple(int(w) for w in widths)
    if len(widths) != 5 or any(w <= 0 for w in widths):
        raise ValueError(f"widths must be 5 positive ints (one per block), got {widths}")
    return widths


def expected_shapes(widths: Sequence[int] = VGG19_WIDTHS) -> dict[str, dict[str, tuple]]:
    """Flax parameter shapes per convolution for VGG19 with `widths` filters per block.

    Returns {"conv1_1": {"kernel": (3, 3, 3, widths[0]), "bias": (widths[0],)}, ...,
    "conv5_4": {"kernel": (3, 3, widths[4], widths[4]), "bias": (widths[4],)}} in
    VGG19_CONVS order (kernels are [3, 3, C_in, C_out]; the input has 3 channels).
    """
    widths = _check_widths(widths)
    shapes = {}
    c_in = 3
    for name in VGG19_CONVS:
        c_out = widths[int(name[4]) - 1]
        shapes[name] = {"kernel": (3, 3, c_in, c_out), "bias": (c_out,)}
        c_in = c_out
    return shapes


def _existing_file(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.exists():
        raise WeightsFileNotFoundError(f"VGG19 weights file {str(path)!r} does not exist")
    if not path.is_file():
        raise WeightsError(f"VGG19 weights path {str(path)!r} is not a file")
    return path


def _problems(path: Path, kind: str, missing: list[str], bad: list[str]) -> None:
    """Raises one WeightsError listing every missing key and every wrong shape."""
    parts = []
    if missing:
        parts.append(f"missing {len(missing)} key(s): {', '.join(missing)}")
    if bad:
        parts.append("wrong shape(s): " + "; ".join(bad))
    if parts:
        raise WeightsError(f"{kind} weights file {str(path)!r}: " + ". ".join(parts))


# ---------------------------------------------------------------- torchvision


def _torch_prefix(keys: Sequence[str], path: Path) -> str:
    """The prefix before `N.weight` shared by the file's conv keys: "features.",
    "vgg19.features.", ... or "" (bare `features.state_dict()` keys)."""
    counts: dict[str, int] = {}
    conv_indices = set(TORCHVISION_CONV_INDICES)
    for key in keys:
        m = _TORCH_KEY.match(key)
        if m is None or int(m.group(2)) not in conv_indices:
            continue
        prefix = m.group(1)
        if prefix == "" or prefix.endswith("features."):
            counts[prefix] = counts.get(prefix, 0) + 1
    if not counts:
        return "features."  # nothing recognisable: report the standard keys missing
    best = max(counts.values())
    winners = sorted(p for p, c in counts.items() if c == best)
    if len(winners) > 1:
        raise WeightsError(
            f"torchvision weights file {str(path)!r}: conv keys appear under several "
            f"prefixes {winners}; keep one set (e.g. only 'features.N.weight')")
    return winners[0]


def load_torchvision_safetensors(path: str | os.PathLike,
                                 widths: Sequence[int] = VGG19_WIDTHS) -> dict:
    """Reads torchvision-layout VGG19 weights from a safetensors file.

    The file holds `{prefix}N.weight` (torch conv layout [C_out, C_in, 3, 3]) and
    `{prefix}N.bias` ([C_out]) for N in TORCHVISION_CONV_INDICES, where the prefix is
    "features." (a full `vgg19().state_dict()`), "" (`vgg19().features.state_dict()`)
    or anything ending in "features." shared by all conv keys (e.g.
    "vgg19.features."). Other keys (`classifier.*`) are ignored. float16/bfloat16
    values are upcast.

    Returns {"params": {"conv1_1": {"kernel": float32 [3, 3, C_in, C_out],
    "bias": float32 [C_out]}, ..., "conv5_4": ...}} (numpy arrays), checked against
    `expected_shapes(widths)`. Raises WeightsError naming the file for a file that is
    not safetensors, missing keys (all listed) or wrong shapes (key, expected, found).
    """
    from safetensors import safe_open

    path = _existing_file(path)
    shapes = expected_shapes(widths)
    try:
        handle = safe_open(str(path), framework="numpy")
    except Exception as e:  # SafetensorError is not exported under a stable name
        raise WeightsError(f"{str(path)!r} is not a readable safetensors file: {e}") from e
    with handle as f:
        keys = list(f.keys())
        prefix = _torch_prefix(keys, path)
        present = set(keys)
        missing, bad = [], []
        for name, index in zip(VGG19_CONVS, TORCHVISION_CONV_INDICES):
            c_in, c_out = shapes[name]["kernel"][2:]
            wanted = {f"{prefix}{index}.weight": (c_out, c_in, 3, 3),
                      f"{prefix}{index}.bias": (c_out,)}
            for key, shape in wanted.items():
                if key not in present:
                    missing.append(key)
                    continue
                found = f.get_slice(key)
                if tuple(found.get_shape()) != shape:
                    bad.append(f"{key}: expected {shape}, found {tuple(found.get_shape())}")
                elif found.get_dtype() not in _FLOAT_DTYPES:
                    bad.append(f"{key}: expected a float dtype, found {found.get_dtype()}")
        _problems(path, "torchvision", missing, bad)
        params = {}
        for name, index in zip(VGG19_CONVS, TORCHVISION_CONV_INDICES):
            weight = f.get_tensor(f"{prefix}{index}.weight")
            bias = f.get_tensor(f"{prefix}{index}.bias")
            kernel = weight.astype(np.float32).transpose(2, 3, 1, 0)
            params[name] = {
                "kernel": np.ascontiguousarray(kernel),
                "bias": np.ascontiguousarray(bias.astype(np.float32)),
            }
    return {"params": params}


def save_torchvision_safetensors(params: dict, path: str | os.PathLike) -> Path:
    """Writes a VGG19 parameter tree as torchvision-layout safetensors.

    `params` is {"params": {conv name: {"kernel": [3, 3, C_in, C_out], "bias":
    [C_out]}}} or the inner dict. Writes `features.N.weight` ([C_out, C_in, 3, 3],
    float32) and `features.N.bias` for N in TORCHVISION_CONV_INDICES, the inverse of
    `load_torchvision_safetensors`. Returns the path written.
    """
    from safetensors.numpy import save_file

    inner = params["params"] if "params" in params else params
    missing = [name for name in VGG19_CONVS if name not in inner]
    if missing:
        raise ValueError(f"parameter tree lacks convolution(s) {', '.join(missing)}")
    tensors = {}
    for name, index in zip(VGG19_CONVS, TORCHVISION_CONV_INDICES):
        kernel = np.asarray(inner[name]["kernel"], dtype=np.float32)
        if kernel.ndim != 4 or kernel.shape[:2] != (3, 3):
            raise ValueError(
                f"{name} kernel must be [3, 3, C_in, C_out], got {kernel.shape}")
        tensors[f"features.{index}.weight"] = np.ascontiguousarray(
            kernel.transpose(3, 2, 0, 1))
        tensors[f"features.{index}.bias"] = np.ascontiguousarray(
            np.asarray(inner[name]["bias"], dtype=np.float32))
    path = Path(path)
    save_file(tensors, str(path))
    return path


# ---------------------------------------------------------------------- Keras


def _keras_entry(dataset_path: str) -> tuple[str, str] | None:
    """(conv name, "kernel" | "bias") for an HDF5 dataset path holding a VGG19 conv
    variable in either Keras layout, else None."""
    parts = dataset_path.split("/")
    if parts[0] in ("optimizer_weights", "optimizer"):
        return None
    layer_at = [i for i, part in enumerate(parts[:-1]) if _KERAS_LAYER.match(part)]
    if not layer_at:
        return None
    i = layer_at[-1]
    m = _KERAS_LAYER.match(parts[i])
    name = f"conv{m.group(1)}_{m.group(2)}"
    if name not in VGG19_CONVS:  # block1_conv3 etc. do not exist in VGG19
        return None
    leaf, rest = parts[-1], parts[i + 1:]
    if leaf.endswith("kernel:0"):
        return name, "kernel"
    if leaf.endswith("bias:0"):
        return name, "bias"
    if rest == ["vars", "0"]:  # Keras 3: vars are numbered in creation order
        return name, "kernel"
    if rest == ["vars", "1"]:
        return name, "bias"
    return None


def load_keras_h5(path: str | os.PathLike, widths: Sequence[int] = VGG19_WIDTHS) -> dict:
    """Reads Keras VGG19 weights from an HDF5 file (either Keras layout).

    Legacy Keras 2 / keras.applications files (`vgg19_weights_tf_dim_ordering_tf_
    kernels[_notop].h5`, or a full `model.save` file with a `model_weights` group)
    hold datasets ending in `kernel:0` / `bias:0` below a group `block{b}_conv{l}`
    (often `block1_conv1/block1_conv1/kernel:0`); Keras 3 `.weights.h5` files hold
    `layers/block{b}_conv{l}/vars/0` (kernel) and `vars/1` (bias). The file is walked,
    so any nesting is found. Kernels are already [3, 3, C_in, C_out].

    Returns {"params": {"conv1_1": {"kernel": float32 [3, 3, C_in, C_out],
    "bias": float32 [C_out]}, ...}} for the 16 convolutions (`block{b}_conv{l}` ->
    `conv{b}_{l}`), checked against `expected_shapes(widths)`. Raises WeightsError
    naming the file for a file that is not HDF5, missing layers (all listed), a layer
    found twice, or wrong shapes (layer, expected, found).
    """
    import h5py

    path = _existing_file(path)
    shapes = expected_shapes(widths)
    if not h5py.is_hdf5(str(path)):
        hint = ""
        if zipfile.is_zipfile(path):
            hint = (" (it is a zip archive, like a Keras 3 .keras file: extract its "
                    "model.weights.h5 and pass that)")
        raise WeightsError(f"{str(path)!r} is not an HDF5 file{hint}")
    found: dict[str, dict[str, str]] = {}
    duplicates = []
    params: dict[str, dict[str, np.ndarray]] = {name: {} for name in VGG19_CONVS}
    try:
        with h5py.File(str(path), "r") as h5:
            root = h5["model_weights"] if "model_weights" in h5 else h5

            def visit(name, obj):
                if not isinstance(obj, h5py.Dataset):
                    return None
                entry = _keras_entry(name)
                if entry is None:
                    return None
                conv, role = entry
                if role in found.setdefault(conv, {}):
                    duplicates.append(
                        f"{conv} {role} at both {found[conv][role]} and {name}")
                    return None
                found[conv][role] = name
                if obj.dtype.kind != "f":
                    raise WeightsError(f"Keras weights file {str(path)!r}: {name} has "
                                       f"dtype {obj.dtype}, expected a float dtype")
                params[conv][role] = np.asarray(obj[()], dtype=np.float32)
                return None

            root.visititems(visit)
    except WeightsError:
        raise
    except (OSError, KeyError) as e:
        raise WeightsError(f"cannot read Keras weights file {str(path)!r}: {e}") from e
    if duplicates:
        raise WeightsError(f"Keras weights file {str(path)!r}: ambiguous, found "
                           + "; ".join(duplicates))
    missing, bad = [], []
    for name in VGG19_CONVS:
        b, l = name[4], name[6]
        layer = f"block{b}_conv{l}"
        lacking = [role for role in ("kernel", "bias") if role not in params[name]]
        if lacking:
            missing.append(f"{layer} ({', '.join(lacking)})")
            continue
        for role in ("kernel", "bias"):
            got = params[name][role].shape
            if got != shapes[name][role]:
                bad.append(f"{layer} {role} ({found[name][role]}): expected "
                           f"{shapes[name][role]}, found {got}")
    _problems(path, "Keras", missing, bad)
    return {"params": params}


# ------------------------------------------------------------------- dispatch


def load_vgg19_weights(path: str | os.PathLike,
                       widths: Sequence[int] = VGG19_WIDTHS) -> tuple[dict, str]:
    """Loads pretrained VGG19 weights, choosing the reader by the file's suffix.

    `.safetensors` -> `load_torchvision_safetensors`, preprocessing "torchvision";
    `.h5` / `.hdf5` / `.keras` (if HDF5) -> `load_keras_h5`, preprocessing "caffe".
    Pickled checkpoints (`.pth`, `.pt`, `.pkl`, ...) and other suffixes are refused
    with WeightsError explaining how to convert to safetensors.

    Returns ({"params": {"conv1_1": {"kernel", "bias"}, ...}}, preprocessing mode),
    ready for `VGG19(preprocessing=mode, widths=widths).apply(tree, images)`.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        return load_torchvision_safetensors(path, widths), "torchvision"
    if suffix in (".h5", ".hdf5", ".keras"):
        return load_keras_h5(path, widths), "caffe"
    if suffix in _PICKLE_SUFFIXES:
        raise WeightsError(f"refusing {str(path)!r}: {_CONVERT_HINT}")
    raise WeightsError(
        f"unsupported VGG19 weights file {str(path)!r} (suffix {suffix!r}): use a "
        f".safetensors file (torchvision layout) or a Keras .h5 file. {_CONVERT_HINT}")
