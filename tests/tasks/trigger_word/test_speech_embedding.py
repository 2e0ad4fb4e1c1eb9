"""openWakeWord's speech-embedding front end rebuilt in flax, against the TFLite
interpreter shipped in the pyopen-wakeword wheel (through its own ctypes wrapper)."""

from __future__ import annotations

import ctypes
import shutil
from pathlib import Path

import jax
import numpy as np
import pytest

from jaxdl.errors import UserError
from jaxdl.tasks.trigger_word import speech_embedding as se

# Max abs errors allowed against the TFLite interpreter (float32 both; the sums
# run in another order). Measured: 2.7e-5 dB on mel values of 20-100 dB; 3.7e-5 on
# embeddings of magnitude up to ~50 (6.6e-5 through the whole front end).
MEL_ATOL = 2e-4            # dB
EMBEDDING_ATOL = 2e-4


@pytest.fixture(scope="module")
def tflite():
    """The wheel's TFLite C library, loaded by pyopen-wakeword's own wrapper."""
    pytest.importorskip("pyopen_wakeword")
    from pyopen_wakeword.wakeword import TfLiteWakeWord
    model_dir = se.default_model_dir()
    lib_path = next((model_dir.parent / "lib").glob("*tensorflowlite_c*"), None)
    # The wheel (a dependency on Linux x86_64, where it is installed) ships the
    # reference library: its absence is a broken install, not a reason to skip.
    assert lib_path is not None, f"no libtensorflowlite_c beside {model_dir}"
    return TfLiteWakeWord(lib_path).lib, model_dir


def run_tflite(lib, model_path: Path, x: np.ndarray) -> np.ndarray:
    """One invocation of a .tflite model on `x` (its input resized to x.shape), the
    calls pyopen_wakeword.openwakeword makes: create, resize, allocate, copy in,
    invoke, copy out."""
    x = np.ascontiguousarray(x, np.float32)
    model = lib.TfLiteModelCreateFromFile(str(model_path).encode())
    assert model, model_path
    interpreter = lib.TfLiteInterpreterCreate(model, None)
    try:
        dims = (ctypes.c_int32 * x.ndim)(*x.shape)
        assert lib.TfLiteInterpreterResizeInputTensor(interpreter, 0, dims, x.ndim) == 0
        assert lib.TfLiteInterpreterAllocateTensors(interpreter) == 0
        tensor_in = lib.TfLiteInterpreterGetInputTensor(interpreter, 0)
        assert lib.TfLiteTensorCopyFromBuffer(
            tensor_in, x.ctypes.data_as(ctypes.c_void_p), x.nbytes) == 0
        assert lib.TfLiteInterpreterInvoke(interpreter) == 0
        tensor_out = lib.TfLiteInterpreterGetOutputTensor(interpreter, 0)
        shape = [lib.TfLiteTensorDim(tensor_out, i)
                 for i in range(lib.TfLiteTensorNumDims(tensor_out))]
        y = np.empty(shape, np.float32)
        assert lib.TfLiteTensorCopyToBuffer(
            tensor_out, y.ctypes.data_as(ctypes.c_void_p), y.nbytes) == 0
        return y
    finally:
        lib.TfLiteInterpreterDelete(interpreter)
        lib.TfLiteModelDelete(model)


def pcm(num_samples: int, seed: int, silent: int = 0) -> np.ndarray:
    """int16-scale float audio: noise plus a 440 Hz sine, the first `silent` samples 0."""
    rng = np.random.default_rng(seed)
    t = np.arange(num_samples) / se.SAMPLE_RATE
    x = rng.normal(scale=2000.0, size=num_samples) + 8000.0 * np.sin(2 * np.pi * 440 * t)
    x[:silent] = 0.0
    return np.clip(x, -32768, 32767).astype(np.float32)


@pytest.fixture(scope="module")
def nets(tflite):
    return se.variables(se.load_weights())


# ----------------------------------------------------------------- against TFLite


@pytest.mark.parametrize("num_samples,silent", [(16000, 4000), (4321, 0)])
def test_melspectrogram_matches_tflite(tflite, nets, num_samples, silent):
    lib, model_dir = tflite
    audio = pcm(num_samples, seed=num_samples, silent=silent)
    ref = run_tflite(lib, model_dir / se.MEL_FILE, audio[None])
    frames = se.mel_frames(num_samples)
    assert ref.shape == (1, 1, frames, se.MEL_BINS)
    ours = np.asarray(jax.jit(se.MelSpectrogram().apply)(nets[0], audio[None]))
    assert ours.shape == (1, frames, se.MEL_BINS)
    assert np.max(np.abs(ours[0] - ref[0, 0])) < MEL_ATOL
    if silent:   # the silence is floored at the clip's maximum - 80 dB
        assert np.isclose(ours.min(), ours.max() - se.TOP_DB)


def test_embedding_matches_tflite(tflite, nets):
    lib, model_dir = tflite
    rng = np.random.default_rng(1)
    mel = (rng.normal(size=(6, se.WINDOW_FRAMES, se.MEL_BINS)) * 1.5 + 2.0).astype(np.float32)
    ref = run_tflite(lib, model_dir / se.EMBEDDING_FILE, mel[..., None])
    assert ref.shape == (6, 1, 1, se.EMBEDDING_DIM)
    ours = np.asarray(jax.jit(se.EmbeddingNet().apply)(nets[1], mel))
    assert ours.shape == (6, 1, se.EMBEDDING_DIM)
    assert np.max(np.abs(ours[:, 0] - ref[:, 0, 0])) < EMBEDDING_ATOL


@pytest.fixture(scope="module")
def clip():
    return pcm(20000, seed=3, silent=2000)   # 122 mel frames, 6 embeddings


def test_front_end_matches_openwakeword_pipeline(tflite, clip):
    """TFLite mel of the clip, x / 10 + 2, 76-frame windows every 8 frames, TFLite
    embeddings: what pyopen_wakeword.OpenWakeWordFeatures computes, all at once."""
    lib, model_dir = tflite
    mel = run_tflite(lib, model_dir / se.MEL_FILE, clip[None])[0, 0] / 10 + 2
    starts = range(0, len(mel) - se.WINDOW_FRAMES + 1, se.HOP_FRAMES)
    windows = np.stack([mel[s:s + se.WINDOW_FRAMES] for s in starts])
    ref = run_tflite(lib, model_dir / se.EMBEDDING_FILE, windows[..., None])[:, 0, 0]
    front = se.SpeechEmbedding()
    ours = np.asarray(front(clip / 32768.0))
    assert ours.shape == ref.shape == (front.num_frames(len(clip)), 96) == (6, 96)
    assert ours.dtype == np.float32
    assert np.max(np.abs(ours - ref)) < EMBEDDING_ATOL


# ----------------------------------------------------------------- the rebuild itself


def test_fully_convolutional_equals_sliding_windows(nets):
    frames = se.WINDOW_FRAMES + 4 * se.HOP_FRAMES + 5          # 113: 5 windows, 5 left over
    mel = np.random.default_rng(2).normal(size=(1, frames, se.MEL_BINS)).astype(np.float32) + 2
    net = jax.jit(se.EmbeddingNet().apply)
    full = np.asarray(net(nets[1], mel))[0]
    windows = np.stack([mel[0, s:s + se.WINDOW_FRAMES]
                        for s in range(0, frames - se.WINDOW_FRAMES + 1, se.HOP_FRAMES)])
    one_by_one = np.asarray(net(nets[1], windows))[:, 0]
    assert full.shape == one_by_one.shape == (5, 96)
    np.testing.assert_allclose(full, one_by_one, rtol=0, atol=1e-5)


def test_output_lengths(nets):
    net = se.EmbeddingNet()
    for frames in (76, 77, 83, 84, 91, 92, 100, 997):
        out = jax.eval_shape(net.apply, nets[1],
                             jax.ShapeDtypeStruct((2, frames, se.MEL_BINS), np.float32))
        assert out.shape == (2, (frames - 76) // 8 + 1, 96), frames
    with pytest.raises(ValueError, match="fewer than one embedding window"):
        jax.eval_shape(net.apply, nets[1], jax.ShapeDtypeStruct((1, 75, 32), np.float32))
    front = se.SpeechEmbedding()
    for shape, expected in [((16000,), (3, 96)), ((2, 16000), (2, 3, 96)),
                            ((2, 3, 160000), (2, 3, 116, 96))]:
        assert jax.eval_shape(front, jax.ShapeDtypeStruct(shape, np.float32)).shape == expected


def test_frame_arithmetic_by_hand():
    assert se.MIN_SAMPLES == 512 + 75 * 160 == 12512
    assert se.mel_frames(16000) == 97 and se.embedding_frames(97) == 3
    assert se.mel_frames(160000) == 997 and se.embedding_frames(997) == 116
    front = se.SpeechEmbedding()
    assert front.num_frames(16000) == 3
    assert front.num_frames(160000) == 116
    assert front.num_frames(12512) == 1
    assert front.num_frames(12512 + 1279) == 1 and front.num_frames(12512 + 1280) == 2
    assert front.num_bins == 96
    assert front.frame_seconds == pytest.approx(0.08)
    with pytest.raises(ValueError, match="12511 samples is shorter than one "
                                         "speech-embedding window of 12512"):
        front.num_frames(12511)
    assert hash(front) == hash(se.SpeechEmbedding())   # a static jit argument


def test_same_bits_twice_and_per_example_top_db(clip):
    front = se.SpeechEmbedding()
    audio = clip / 32768.0
    first, second = np.asarray(front(audio)), np.asarray(front(audio))
    assert np.array_equal(first, second)
    # a louder clip beside it changes nothing: the top-db maximum is per example
    batch = np.asarray(front(np.stack([audio, 3 * audio[::-1]])))
    np.testing.assert_allclose(batch[0], first, rtol=0, atol=1e-5)


def test_weights_are_cached_read_only_and_rebuilt_in_shape(nets):
    weights = se.load_weights()
    assert se.load_weights(se.default_model_dir()) is weights
    mel = weights["melspectrogram"]
    assert mel["dft_kernels"].shape == (2, 512, 257)
    assert mel["mel_matrix"].shape == (257, 32)
    assert len(weights["embedding"]) == 20
    assert weights["embedding"]["conv_0"]["kernel"].shape == (3, 3, 1, 24)
    assert weights["embedding"]["conv_19"]["kernel"].shape == (3, 1, 96, 96)
    assert all(not a.flags.writeable for a in jax.tree_util.tree_leaves(weights))
    assert nets[0]["params"]["dft_kernel"].shape == (se.DFT_TAPS, 2 * 120)
    assert nets[0]["params"]["mel_matrix"].shape == (120, 32)


# ----------------------------------------------------------------- failures


def test_missing_model_dir(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(se.EmbeddingWeightsError, match=str(missing)) as info:
        se.load_weights(missing)
    assert isinstance(info.value, UserError) and isinstance(info.value, FileNotFoundError)
    assert "pip install pyopen-wakeword" in str(info.value)
    with pytest.raises(se.EmbeddingWeightsError, match=str(missing)):
        se.SpeechEmbedding(model_dir=str(missing))(np.zeros(16000, np.float32))


def test_missing_file_and_corrupt_file(tmp_path, tflite):
    _, model_dir = tflite
    shutil.copy(model_dir / se.MEL_FILE, tmp_path / se.MEL_FILE)
    with pytest.raises(se.EmbeddingWeightsError,
                       match=str(tmp_path / se.EMBEDDING_FILE) + ".* does not exist"):
        se.load_weights(tmp_path)
    (tmp_path / se.EMBEDDING_FILE).write_bytes(b"not a model" * 10)
    with pytest.raises(se.EmbeddingWeightsError, match="not a TFLite flatbuffer"):
        se.load_weights(tmp_path)
    truncated = (model_dir / se.EMBEDDING_FILE).read_bytes()[:5000]
    (tmp_path / se.EMBEDDING_FILE).write_bytes(truncated)
    with pytest.raises(se.EmbeddingWeightsError,
                       match=str(tmp_path / se.EMBEDDING_FILE) + ".* cannot be read"):
        se.load_weights(tmp_path)


def test_swapped_files_are_refused(tmp_path, tflite):
    _, model_dir = tflite
    shutil.copy(model_dir / se.MEL_FILE, tmp_path / se.EMBEDDING_FILE)
    shutil.copy(model_dir / se.EMBEDDING_FILE, tmp_path / se.MEL_FILE)
    with pytest.raises(se.EmbeddingWeightsError,
                       match=str(tmp_path / se.MEL_FILE) + ".* not the expected melspectrogram"):
        se.load_weights(tmp_path)


def test_package_not_installed(monkeypatch):
    monkeypatch.setattr(se.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(se.EmbeddingWeightsError, match="pyopen-wakeword .*not installed"):
        se.default_model_dir()


def test_bad_arguments():
    with pytest.raises(ValueError, match="16000 Hz"):
        se.SpeechEmbedding(sample_rate=22050)
    with pytest.raises(ValueError, match="floating point"):
        se.SpeechEmbedding()(np.zeros(16000, np.int16))
    with pytest.raises(ValueError, match="shorter than one speech-embedding window"):
        se.SpeechEmbedding()(np.zeros(12000, np.float32))
