"""jaxdl.serving: an exported function round-trips (in process and in an interpreter
without jaxdl or flax), lowers for platforms that are not here, and a folder
without an export is a clear error."""

import json

import jax.numpy as jnp
import numpy as np
import pytest

from conftest import run_export_alone
from jaxdl import serving


def _affine(x):
    return x @ jnp.arange(12.0, dtype=jnp.float32).reshape(3, 4) + 1.0, x.sum(-1)


def _export(tmp_path):
    return serving.export_function(
        _affine, [{"name": "x", "shape": ("batch", 3), "dtype": "float32"}],
        tmp_path / "export",
        outputs=[{"name": "y", "shape": ["batch", 4], "dtype": "float32"},
                 {"name": "total", "shape": ["batch"], "dtype": "float32"}],
        info={"task": "toy", "threshold": 0.5})


def test_export_round_trips_with_any_batch_size_in_process_and_alone(tmp_path):
    signature = _export(tmp_path)
    # CUDA is not on this machine, yet the export lowers for it (and for TPU).
    assert set(signature["platforms"]) == {"cpu", "cuda", "tpu"}
    assert signature["inputs"][0]["shape"] == ["batch", 3]
    on_disk = json.loads((tmp_path / "export" / "signature.json").read_text())
    assert on_disk == json.loads(json.dumps(signature)) and on_disk["threshold"] == 0.5
    predict = serving.load(tmp_path / "export")
    for n in (1, 5):
        x = np.random.default_rng(n).normal(size=(n, 3)).astype(np.float32)
        out = predict(x)
        want_y, want_total = _affine(x)
        np.testing.assert_allclose(out["y"], want_y, rtol=1e-6)
        np.testing.assert_allclose(out["total"], want_total, rtol=1e-6)
    x = np.ones((2, 3), np.float32)
    alone = run_export_alone(tmp_path / "export", [x], tmp_path)
    np.testing.assert_allclose(alone["y"], predict(x)["y"], rtol=1e-6)


def test_load_refuses_a_folder_without_an_export(tmp_path):
    with pytest.raises(serving.ExportError, match="model.jax_exported, signature.json missing"):
        serving.load(tmp_path)
