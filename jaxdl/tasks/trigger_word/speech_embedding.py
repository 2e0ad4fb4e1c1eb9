"""openWakeWord's frozen speech-embedding front end, rebuilt in flax.

Two networks turn 16 kHz audio into one 96-d speech embedding every 80 ms:

* the melspectrogram network: a 512-tap DFT (two convolutions, real and imaginary
  parts, stride 160 samples = 10 ms; the window is a 400-sample 25 ms one on taps
  56-455 of the 512), power, a [257, 32] mel matrix (60-3800 Hz: only bins
  2-121 are used), then dB: 10 log10(max(mel, 1e-10)), floored at 80 dB below the
  clip's maximum (top-db, one maximum per example). Audio [B, N] in int16 scale
  (PCM values as floats) -> mel [B, T, 32], T = (N - 512) // 160 + 1.
* the embedding network: 20 convolutions (batch norm folded in; 3x3, then 1x3 on
  frequency with SAME padding alternating with 3x1 on time, VALID), each but the
  last followed by leaky ReLU (alpha 0.2) and max(x, -0.4), and 5 max pools
  (time / 8, frequency 32 -> 1). Mel frames [B, 76, 32], transformed x / 10 + 2 as
  openWakeWord does, -> one embedding [B, 96]. Run fully convolutionally on
  [B, T, 32] it gives [B, (T - 76) // 8 + 1, 96]: the same as sliding the 76-frame
  window 8 frames at a time, because every pool's window starts on a multiple of
  its stride.

Time resolution: one embedding per 8 mel frames = 1280 samples = 80 ms; embedding
i reads samples [1280 i, 1280 i + 12512) (76 frames of the 512-tap window) and
depends on the 0.775 s = 12400 samples of them under the 400-sample windows.
`SpeechEmbedding` chains both on audio at full scale 1.0 (multiplied by 32768).

Weights: openWakeWord's conversions (``melspectrogram.tflite``,
``embedding_model.tflite``) of Google's speech_embedding model (Apache-2.0, on TF
Hub), shipped in the pyopen-wakeword wheel (Apache-2.0, like openWakeWord's code)
under ``pyopen_wakeword/models``. `load_weights` reads them with the ``tflite``
flatbuffer reader, walking each graph and checking it has exactly the structure
rebuilt here (`EmbeddingWeightsError` otherwise); no TensorFlow is needed. The
wheel's TFLite C library is the reference the rebuild is tested against
(tests/tasks/trigger_word/test_speech_embedding.py).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import math
from pathlib import Path
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import tflite

from jaxdl.errors import UserError

SAMPLE_RATE = 16000
MEL_BINS = 32
EMBEDDING_DIM = 96
MEL_WINDOW = 512        # samples per DFT window (taps of the convolution)
MEL_HOP = 160           # samples between mel frames (10 ms)
WINDOW_FRAMES = 76      # mel frames per embedding
HOP_FRAMES = 8          # mel frames between embeddings (80 ms)
MIN_SAMPLES = MEL_WINDOW + (WINDOW_FRAMES - 1) * MEL_HOP   # 12512: one embedding

MEL_FILE = "melspectrogram.tflite"
EMBEDDING_FILE = "embedding_model.tflite"

# The melspectrogram graph's constants (checked against the file by `load_weights`).
POWER_FLOOR = 1e-10                                      # clip of the mel power
DB_SCALES = (10.0, float(np.float32(0.43429446)))        # x 10, x 1/ln 10: dB
TOP_DB = 80.0                                            # floor below the maximum
MEL_TRANSFORM = (10.0, 2.0)                              # openWakeWord: x / 10 + 2
# What of the DFT can change the output (`variables` checks the rest is zero): the
# taps up to the window's last nonzero one, and the bins the mel filters use.
DFT_TAPS = 456
DFT_BINS = (2, 122)

_INSTALL_HINT = (f"install pyopen-wakeword (pip install pyopen-wakeword; Linux x86_64 "
                 f"wheels), or copy {MEL_FILE} and {EMBEDDING_FILE} from its "
                 f"pyopen_wakeword/models folder into a folder and pass it as model_dir")


class EmbeddingWeightsError(UserError, ValueError):
    """A speech-embedding model file that cannot be used; names the file and the fix."""


class EmbeddingWeightsNotFoundError(EmbeddingWeightsError, FileNotFoundError):
    """The model folder or one of its two files does not exist."""


# ----------------------------------------------------------------- architecture


class Pad(NamedTuple):
    """Zero padding of the frequency axis (before, after)."""
    freq: tuple[int, int]


class Conv(NamedTuple):
    """Convolution, stride 1: kernel (time, freq), output channels, the frequency
    padding ("SAME" or "VALID"; time is always VALID). Weights: `conv_{index}`."""
    kernel: tuple[int, int]
    features: int
    padding: str


class LeakyRelu(NamedTuple):
    alpha: float


class Floor(NamedTuple):
    """max(x, value)."""
    value: float


class MaxPool(NamedTuple):
    """Max pool (time, freq) window and strides; padding of the frequency axis."""
    window: tuple[int, int]
    strides: tuple[int, int]
    padding: str


def _embedding_layers() -> tuple:
    alpha, floor = float(np.float32(0.2)), float(np.float32(-0.4))
    act = (LeakyRelu(alpha), Floor(floor))
    layers = [Pad((1, 1)), Conv((3, 3), 24, "VALID"), *act]
    blocks = [(24, 1, (2, 2), "VALID"), (48, 2, (1, 2), "SAME"), (72, 2, (2, 2), "VALID"),
              (96, 2, (1, 2), "VALID"), (96, 2, (2, 2), "VALID")]
    for width, pairs, pool, pool_padding in blocks:
        for _ in range(pairs):
            layers += [Conv((1, 3), width, "SAME"), *act, Conv((3, 1), width, "VALID"), *act]
        layers.append(MaxPool(pool, pool, pool_padding))
    layers.append(Conv((3, 1), EMBEDDING_DIM, "VALID"))
    return tuple(layers)


# The embedding network, layer by layer, as in embedding_model.tflite.
EMBEDDING_LAYERS = _embedding_layers()


# ----------------------------------------------------------------- reading files


def default_model_dir() -> Path:
    """pyopen-wakeword's ``models`` folder (found without importing the package)."""
    spec = importlib.util.find_spec("pyopen_wakeword")
    if spec is None or not spec.origin:
        raise EmbeddingWeightsNotFoundError(
            f"the speech-embedding networks come from the pyopen-wakeword package, "
            f"which is not installed: {_INSTALL_HINT}")
    return Path(spec.origin).parent / "models"


def _resolve(model_dir: str | Path | None) -> str:
    path = default_model_dir() if model_dir in (None, "") else Path(model_dir)
    return str(path.expanduser().resolve())


_OP_NAMES = {v: k for k, v in vars(tflite.BuiltinOperator).items()
             if not k.startswith("_") and isinstance(v, int)}


def _fail(path: Path, problem: str):
    raise EmbeddingWeightsError(
        f"speech-embedding model file {str(path)!r} {problem}; reinstall pyopen-wakeword "
        f"or pass a model_dir holding openWakeWord's {MEL_FILE} and {EMBEDDING_FILE}")


def _read(reader, path: Path):
    """reader(path), any failure of a truncated or corrupt flatbuffer as one
    EmbeddingWeightsError naming the file."""
    try:
        return reader(path)
    except EmbeddingWeightsError:
        raise
    except Exception as e:
        _fail(path, f"cannot be read as a TFLite model ({type(e).__name__}: {e})")


class _Graph:
    """The one subgraph of a .tflite file: ops in order, constant tensors, options."""

    def __init__(self, path: Path):
        self.path = path
        if not path.is_file():
            raise EmbeddingWeightsNotFoundError(
                f"speech-embedding model file {str(path)!r} does not exist: {_INSTALL_HINT}")
        buf = path.read_bytes()
        if len(buf) < 8 or not tflite.Model.ModelBufferHasIdentifier(buf, 0):
            self.fail("is not a TFLite flatbuffer (no TFL3 identifier)")
        self.model = tflite.Model.GetRootAsModel(buf, 0)
        if self.model.SubgraphsLength() != 1:
            self.fail(f"has {self.model.SubgraphsLength()} subgraphs, expected 1")
        self.graph = self.model.Subgraphs(0)
        self.ops = []
        for i in range(self.graph.OperatorsLength()):
            op = self.graph.Operators(i)
            code = self.model.OperatorCodes(op.OpcodeIndex())
            builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            self.ops.append((_OP_NAMES.get(builtin, str(builtin)), op))

    def fail(self, problem: str):
        _fail(self.path, problem)

    def inputs(self, op) -> list[int]:
        return [op.Inputs(j) for j in range(op.InputsLength())]

    def output(self, op) -> int:
        return op.Outputs(0)

    def const(self, index: int) -> np.ndarray | None:
        """The tensor's data (a copy, float32 or int32) or None if it is not constant."""
        tensor = self.graph.Tensors(index)
        data = self.model.Buffers(tensor.Buffer()).DataAsNumpy()
        if isinstance(data, int) or data.size == 0:
            return None
        dtype = {0: np.float32, 2: np.int32, 4: np.int64}.get(tensor.Type())
        if dtype is None:
            self.fail(f"has tensor {tensor.Name().decode()!r} of unsupported type {tensor.Type()}")
        shape = tuple(int(s) for s in tensor.ShapeAsNumpy()) if tensor.ShapeLength() else ()
        return np.frombuffer(data.tobytes(), dtype).reshape(shape).copy()

    def scalar(self, op, position: int) -> float | None:
        value = self.const(self.inputs(op)[position])
        return None if value is None or value.size != 1 else float(value.reshape(()))

    def options(self, op, cls):
        table = op.BuiltinOptions()
        if table is None:
            self.fail("has an operator without its options")
        options = cls()
        options.Init(table.Bytes, table.Pos)
        return options


def _padding(graph: _Graph, code: int) -> str:
    names = {tflite.Padding.SAME: "SAME", tflite.Padding.VALID: "VALID"}
    if code not in names:
        graph.fail(f"uses padding mode {code}")
    return names[code]


_SHAPE_OPS = ("EXPAND_DIMS", "TRANSPOSE", "SQUEEZE", "RESHAPE")
# The melspectrogram graph's computing ops and their constant operands, in order.
_MEL_OPS = (("CONV_2D",), ("MUL", "square"), ("CONV_2D",), ("MUL", "square"), ("ADD",),
            ("BATCH_MATMUL",), ("MINIMUM", math.inf), ("MAXIMUM", POWER_FLOOR), ("LOG",),
            ("MUL", DB_SCALES[0]), ("MUL", DB_SCALES[1]), ("MINIMUM", math.inf),
            ("REDUCE_MAX",), ("SUB", TOP_DB), ("MAXIMUM",))


def _read_melspectrogram(path: Path) -> dict[str, np.ndarray]:
    graph = _Graph(path)
    found, kernels, biases, mel = [], [], [], None
    for name, op in graph.ops:
        if name in _SHAPE_OPS:
            continue
        ins = graph.inputs(op)
        entry: tuple = (name,)
        if name == "CONV_2D":
            opt = graph.options(op, tflite.Conv2DOptions)
            kernel, bias = graph.const(ins[1]), graph.const(ins[2])
            if (kernel is None or kernel.shape[1:] != (1, MEL_WINDOW, 1) or bias is None
                    or bias.shape != kernel.shape[:1] or _padding(graph, opt.Padding()) != "VALID"
                    or (opt.StrideH(), opt.StrideW()) != (1, MEL_HOP)
                    or (opt.DilationHFactor(), opt.DilationWFactor()) != (1, 1)
                    or opt.FusedActivationFunction() != 0):
                graph.fail(f"is not the expected melspectrogram graph: a convolution is not "
                           f"a DFT of {MEL_WINDOW} taps, stride {MEL_HOP}, VALID, no activation")
            kernels.append(kernel[:, 0, :, 0].T)    # OHWI -> [taps, bins]
            biases.append(bias)
        elif name == "MUL" and ins[0] == ins[1]:
            entry = (name, "square")
        elif name == "BATCH_MATMUL":
            mel = graph.const(ins[1])
        elif name == "REDUCE_MAX":
            axes = graph.const(ins[1])
            if axes is None or sorted(axes.ravel().tolist()) != [0, 1, 2, 3]:
                graph.fail("is not the expected melspectrogram graph: its top-db maximum "
                           "is not over all four axes")
        elif name != "LOG" and len(ins) == 2:
            value = graph.scalar(op, 1)
            if value is not None:
                entry = (name, value)
        found.append(entry)

    def same(a, b):
        return a[0] == b[0] and len(a) == len(b) and all(
            x == y if isinstance(x, str) or isinstance(y, str)
            else bool(np.isclose(x, y, rtol=1e-6, atol=0))
            for x, y in zip(a[1:], b[1:]))

    if len(found) != len(_MEL_OPS) or not all(map(same, found, _MEL_OPS)):
        i = next((i for i, (a, b) in enumerate(zip(found, _MEL_OPS)) if not same(a, b)),
                 min(len(found), len(_MEL_OPS)))
        graph.fail(f"is not the expected melspectrogram graph: {len(found)} computing ops "
                   f"(expected {len(_MEL_OPS)}), op {i} is "
                   f"{found[i] if i < len(found) else None} (expected "
                   f"{_MEL_OPS[i] if i < len(_MEL_OPS) else None})")
    bins = MEL_WINDOW // 2 + 1
    if mel is None or mel.shape != (bins, MEL_BINS) or kernels[0].shape[1] != bins:
        graph.fail(f"is not the expected melspectrogram graph: its mel matrix has shape "
                   f"{None if mel is None else mel.shape}, expected {(bins, MEL_BINS)}")
    return {"dft_kernels": np.stack(kernels), "dft_biases": np.stack(biases), "mel_matrix": mel}


def _read_embedding(path: Path) -> dict[str, dict[str, np.ndarray]]:
    graph = _Graph(path)
    layers, params = [], {}
    expected_input = graph.graph.Inputs(0)
    for name, op in graph.ops:
        ins = graph.inputs(op)
        if ins[0] != expected_input:
            graph.fail(f"is not the expected embedding network: not a chain of layers "
                       f"({name} does not read the previous output)")
        expected_input = graph.output(op)
        if name == "PAD":
            pads = graph.const(ins[1])
            if pads is None or pads.shape != (4, 2) or pads[[0, 1, 3]].any():
                graph.fail(f"is not the expected embedding network: it pads other axes "
                           f"than frequency ({pads.tolist() if pads is not None else None})")
            layers.append(Pad((int(pads[2, 0]), int(pads[2, 1]))))
        elif name == "CONV_2D":
            opt = graph.options(op, tflite.Conv2DOptions)
            kernel, bias = graph.const(ins[1]), graph.const(ins[2])
            if (kernel is None or kernel.ndim != 4 or bias is None
                    or bias.shape != kernel.shape[:1]
                    or (opt.StrideH(), opt.StrideW()) != (1, 1)
                    or (opt.DilationHFactor(), opt.DilationWFactor()) != (1, 1)
                    or opt.FusedActivationFunction() != 0):
                graph.fail("is not the expected embedding network: a convolution has "
                           "strides, dilation or a fused activation")
            layers.append(Conv((kernel.shape[1], kernel.shape[2]), kernel.shape[0],
                               _padding(graph, opt.Padding())))
            params[f"conv_{len(params)}"] = {"kernel": kernel.transpose(1, 2, 3, 0).copy(),
                                             "bias": bias}   # OHWI -> HWIO
        elif name == "LEAKY_RELU":
            layers.append(LeakyRelu(graph.options(op, tflite.LeakyReluOptions).Alpha()))
        elif name == "MAXIMUM" and graph.scalar(op, 1) is not None:
            layers.append(Floor(graph.scalar(op, 1)))
        elif name == "MAX_POOL_2D":
            opt = graph.options(op, tflite.Pool2DOptions)
            if opt.FusedActivationFunction() != 0:
                graph.fail("is not the expected embedding network: a max pool has a "
                           "fused activation")
            layers.append(MaxPool((opt.FilterHeight(), opt.FilterWidth()),
                                  (opt.StrideH(), opt.StrideW()), _padding(graph, opt.Padding())))
        else:
            graph.fail(f"is not the expected embedding network: it has an operator {name} "
                       f"that the rebuilt network does not have")
    if expected_input != graph.graph.Outputs(0):
        graph.fail("is not the expected embedding network: its last layer is not its output")
    if tuple(layers) != EMBEDDING_LAYERS:
        i = next((i for i, (a, b) in enumerate(zip(layers, EMBEDDING_LAYERS)) if a != b),
                 min(len(layers), len(EMBEDDING_LAYERS)))
        graph.fail(f"is not the expected embedding network: {len(layers)} layers (expected "
                   f"{len(EMBEDDING_LAYERS)}), layer {i} is "
                   f"{layers[i] if i < len(layers) else None} (expected "
                   f"{EMBEDDING_LAYERS[i] if i < len(EMBEDDING_LAYERS) else None})")
    return params


@functools.lru_cache(maxsize=8)
def _load(model_dir: str) -> dict:
    folder = Path(model_dir)
    if not folder.is_dir():
        raise EmbeddingWeightsNotFoundError(
            f"speech-embedding model folder {model_dir!r} does not exist: {_INSTALL_HINT}")
    weights = {"melspectrogram": _read(_read_melspectrogram, folder / MEL_FILE),
               "embedding": _read(_read_embedding, folder / EMBEDDING_FILE)}
    for leaf in jax.tree_util.tree_leaves(weights):
        leaf.setflags(write=False)
    return weights


def load_weights(model_dir: str | Path | None = None) -> dict:
    """Both networks' weights from ``MEL_FILE`` and ``EMBEDDING_FILE`` in `model_dir`
    (None or "": `default_model_dir()`); cached per resolved folder, read-only.

    Returns {"melspectrogram": {"dft_kernels": [2, 512, 257] (taps x bins, the two
    convolutions in graph order), "dft_biases": [2, 257], "mel_matrix": [257, 32]},
    "embedding": {"conv_0": {"kernel": HWIO, "bias": [C]}, ..., "conv_19": ...}},
    float32 numpy arrays. Raises EmbeddingWeightsError (with the path and how to get
    the files) when a file is missing, unreadable or not the expected graph.
    """
    return _load(_resolve(model_dir))


def variables(weights: dict) -> tuple[dict, dict]:
    """Flax variables ({"params": ...}) of `MelSpectrogram` and `EmbeddingNet`.

    The DFT keeps only what can change the output: the bins the mel filters use
    (DFT_BINS: 2-121 of 257) and the taps up to the window's last nonzero one
    (DFT_TAPS: 456 of 512); the rest only ever multiplies into exact zeros (checked:
    EmbeddingWeightsError otherwise). With K = 120 kept bins and the two kernels
    side by side: {"dft_kernel": [456, 2 K], "dft_bias": [2 K], "mel_matrix": [K, 32]}.
    """
    w = weights["melspectrogram"]
    mel = np.asarray(w["mel_matrix"], np.float32)
    kernels = np.asarray(w["dft_kernels"], np.float32)
    lo, hi = DFT_BINS
    if mel[:lo].any() or mel[hi:].any() or kernels[:, DFT_TAPS:, lo:hi].any():
        raise EmbeddingWeightsError(
            f"the melspectrogram weights use DFT bins outside {lo}-{hi - 1} or taps past "
            f"{DFT_TAPS - 1}, unlike openWakeWord's melspectrogram.tflite")
    mel_params = {
        "dft_kernel": np.concatenate([kernels[0, :DFT_TAPS, lo:hi],
                                      kernels[1, :DFT_TAPS, lo:hi]], axis=1),
        "dft_bias": np.concatenate([w["dft_biases"][0, lo:hi], w["dft_biases"][1, lo:hi]]),
        "mel_matrix": mel[lo:hi]}
    embedding_params = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float32),
                                              weights["embedding"])
    return {"params": mel_params}, {"params": embedding_params}


# ----------------------------------------------------------------- networks


def mel_frames(num_samples: int) -> int:
    """Mel frames T out of `num_samples` samples: (N - 512) // 160 + 1."""
    if num_samples < MEL_WINDOW:
        raise ValueError(f"audio of {num_samples} samples is shorter than one mel window "
                         f"({MEL_WINDOW} samples)")
    return (num_samples - MEL_WINDOW) // MEL_HOP + 1


def embedding_frames(num_mel_frames: int) -> int:
    """Embeddings out of `num_mel_frames` mel frames: (T - 76) // 8 + 1."""
    if num_mel_frames < WINDOW_FRAMES:
        raise ValueError(f"{num_mel_frames} mel frames are fewer than one embedding "
                         f"window ({WINDOW_FRAMES} frames)")
    return (num_mel_frames - WINDOW_FRAMES) // HOP_FRAMES + 1


class MelSpectrogram(nn.Module):
    """openWakeWord's melspectrogram network: audio [B, N] (int16 scale, float) ->
    dB mel [B, T, 32], T = (N - 512) // 160 + 1, before openWakeWord's x / 10 + 2.

    Params (see `variables`): the DFT's first `taps` taps and `bins` used bins, real
    and imaginary side by side, and those bins' rows of the mel matrix. The DFT is
    one matmul of 160-sample blocks against the kernel cut in 160-tap pieces, the
    pieces' products summed with shifts (no frame gather). Top-db is per example:
    max(dB, max over the example's [T, 32] - top_db). Initial params are zeros; the
    real ones come from `variables(load_weights())`.
    """

    window: int = MEL_WINDOW
    hop: int = MEL_HOP
    taps: int = DFT_TAPS
    bins: int = DFT_BINS[1] - DFT_BINS[0]
    power_floor: float = POWER_FLOOR
    db_scales: tuple[float, float] = DB_SCALES
    top_db: float = TOP_DB
    precision: str = "highest"

    @nn.compact
    def __call__(self, audio: jax.Array) -> jax.Array:
        if not 0 < self.taps <= self.window:
            raise ValueError(f"taps ({self.taps}) must be in 1..window ({self.window})")
        kernel = self.param("dft_kernel", nn.initializers.zeros, (self.taps, 2 * self.bins))
        bias = self.param("dft_bias", nn.initializers.zeros, (2 * self.bins,))
        mel = self.param("mel_matrix", nn.initializers.zeros, (self.bins, MEL_BINS))
        audio = jnp.asarray(audio, jnp.float32)
        batch, n = audio.shape
        if n < self.window:
            raise ValueError(f"audio of {n} samples is shorter than one mel window "
                             f"({self.window} samples)")
        frames = (n - self.window) // self.hop + 1
        taps, width = kernel.shape
        pieces = -(-taps // self.hop)
        blocks = frames + pieces - 1
        need = blocks * self.hop
        audio = audio[:, :need] if n >= need else jnp.pad(audio, ((0, 0), (0, need - n)))
        w = jnp.pad(kernel, ((0, pieces * self.hop - taps), (0, 0)))
        w = w.reshape(pieces, self.hop, width).transpose(1, 0, 2).reshape(self.hop, -1)
        y = jnp.matmul(audio.reshape(batch, blocks, self.hop), w, precision=self.precision)
        y = y.reshape(batch, blocks, pieces, width)
        spectrum = sum(y[:, j:j + frames, j] for j in range(pieces)) + bias
        a, b = jnp.split(spectrum, 2, axis=-1)
        power = b * b + a * a
        x = jnp.matmul(power, mel, precision=self.precision)
        x = jnp.log(jnp.maximum(x, self.power_floor))
        x = x * self.db_scales[0] * self.db_scales[1]
        top = jnp.max(x, axis=(1, 2), keepdims=True)
        return jnp.maximum(x, top - self.top_db)


def _same_padding(size: int, window: int, stride: int) -> tuple[int, int]:
    """TensorFlow's SAME padding of one axis (more after than before)."""
    total = max((-(-size // stride) - 1) * stride + window - size, 0)
    return total // 2, total - total // 2


class EmbeddingNet(nn.Module):
    """openWakeWord's embedding network over mel [B, T, 32] (already x / 10 + 2) ->
    [B, (T - 76) // 8 + 1, 96], fully convolutional along time (time VALID).

    `layers` is the architecture (default EMBEDDING_LAYERS, as read from the file);
    convolution i has params `conv_{i}` (HWIO kernel, bias). Initial params are
    lecun-normal/zeros; the real ones come from `variables(load_weights())`.
    """

    layers: tuple = EMBEDDING_LAYERS
    precision: str = "highest"

    @nn.compact
    def __call__(self, mel: jax.Array) -> jax.Array:
        x = jnp.asarray(mel, jnp.float32)[..., None]
        if x.shape[1] < WINDOW_FRAMES and self.layers == EMBEDDING_LAYERS:
            embedding_frames(x.shape[1])   # raises
        convs = 0
        for layer in self.layers:
            if isinstance(layer, Pad):
                x = jnp.pad(x, ((0, 0), (0, 0), layer.freq, (0, 0)))
            elif isinstance(layer, Conv):
                kf = layer.kernel[1]
                freq = _same_padding(x.shape[2], kf, 1) if layer.padding == "SAME" else (0, 0)
                x = nn.Conv(layer.features, layer.kernel, padding=((0, 0), freq),
                            precision=self.precision, name=f"conv_{convs}")(x)
                convs += 1
            elif isinstance(layer, LeakyRelu):
                x = jnp.where(x > 0, x, layer.alpha * x)
            elif isinstance(layer, Floor):
                x = jnp.maximum(x, layer.value)
            elif isinstance(layer, MaxPool):
                (wt, wf), (st, sf) = layer.window, layer.strides
                freq = _same_padding(x.shape[2], wf, sf) if layer.padding == "SAME" else (0, 0)
                x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, wt, wf, 1),
                                          (1, st, sf, 1), ((0, 0), (0, 0), freq, (0, 0)))
            else:
                raise TypeError(f"unknown layer {layer!r}")
        if x.shape[2] != 1:
            raise ValueError(f"the network leaves {x.shape[2]} frequency positions, not 1")
        return x[:, :, 0, :]


# ----------------------------------------------------------------- the front end


@functools.lru_cache(maxsize=8)
def _host_variables(model_dir: str) -> tuple[dict, dict]:
    """`variables(load_weights(model_dir))`, once per folder (numpy, so it is safe
    to fill the cache inside a jit trace)."""
    return variables(_load(model_dir))


def _embed_batch(mel_variables: dict, embedding_variables: dict,
                 audio: jax.Array) -> jax.Array:
    mel = MelSpectrogram().apply(mel_variables, audio * 32768.0)
    mel = mel / MEL_TRANSFORM[0] + MEL_TRANSFORM[1]
    return EmbeddingNet().apply(embedding_variables, mel)


@jax.jit
def _embed(mel_variables: dict, embedding_variables: dict, audio: jax.Array) -> jax.Array:
    """Audio [B, N] at full scale 1.0 -> [B, T, 96]. On CPU one example at a time
    (lax.map): its activations (3 MB a layer for 10 s) stay in cache, about twice
    as fast as the whole batch at once."""
    if jax.default_backend() == "cpu":
        return jax.lax.map(
            lambda a: _embed_batch(mel_variables, embedding_variables, a[None])[0], audio)
    return _embed_batch(mel_variables, embedding_variables, audio)


@dataclasses.dataclass(frozen=True)
class SpeechEmbedding:
    """Audio -> openWakeWord speech embeddings, one 96-d vector every 80 ms.

    Frozen, hence hashable: it can be a static argument of `jax.jit` (like
    `jaxdl.audio.FeatureSpec`). Weights are read once per folder and passed to one
    jitted function.

    Fields:
      model_dir: folder holding MEL_FILE and EMBEDDING_FILE ("": pyopen-wakeword's).
      sample_rate: Hz of the audio; must be 16000 (the networks' rate).

    Calling it maps float audio [..., N] at full scale 1.0 (speech at RMS ~0.1) to
    float32 [..., num_frames(N), 96]; each example gets its own top-db floor.
    """

    model_dir: str = ""
    sample_rate: int = SAMPLE_RATE

    def __post_init__(self):
        if not isinstance(self.model_dir, str):
            raise ValueError(f"model_dir must be a string (\"\" for the installed "
                             f"pyopen-wakeword models), got {self.model_dir!r}")
        if self.sample_rate != SAMPLE_RATE:
            raise ValueError(f"the speech-embedding networks need {SAMPLE_RATE} Hz audio, "
                             f"got sample_rate={self.sample_rate!r}; resample first")

    @property
    def num_bins(self) -> int:
        """Features per frame: EMBEDDING_DIM (96)."""
        return EMBEDDING_DIM

    @property
    def frame_seconds(self) -> float:
        """Seconds between consecutive embeddings (1280 samples: 0.08 s)."""
        return HOP_FRAMES * MEL_HOP / self.sample_rate

    def num_frames(self, num_samples: int) -> int:
        """Embeddings out of `num_samples` samples: ((N - 512) // 160 - 75) // 8 + 1."""
        if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)):
            raise ValueError(f"num_samples must be an integer, got {num_samples!r}")
        if num_samples < MIN_SAMPLES:
            raise ValueError(
                f"audio of {num_samples} samples is shorter than one speech-embedding "
                f"window of {MIN_SAMPLES} samples ({MIN_SAMPLES / self.sample_rate:.3f} s)")
        return embedding_frames(mel_frames(int(num_samples)))

    def _variables(self) -> tuple[dict, dict]:
        return _host_variables(_resolve(self.model_dir))

    def __call__(self, audio: jax.Array) -> jax.Array:
        """Embeddings of `audio` [..., N]: float32 [..., num_frames(N), 96]."""
        if not jnp.issubdtype(jnp.result_type(audio), jnp.floating):
            raise ValueError(f"audio must be floating point at full scale 1.0, got "
                             f"{jnp.result_type(audio)} (divide int16 PCM by 32768)")
        audio = jnp.asarray(audio, jnp.float32)
        if audio.ndim < 1:
            raise ValueError("audio needs a time axis, got a scalar")
        frames = self.num_frames(audio.shape[-1])
        lead = audio.shape[:-1]
        out = _embed(*self._variables(), audio.reshape(-1, audio.shape[-1]))
        return out.reshape(*lead, frames, EMBEDDING_DIM)
