"""Shared helpers and fixtures: a subprocess runner, PNG checks, one prepared tiny
dataset per session."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run_python(args, *, devices: int | None = None, timeout: int = 300, env=None,
               check: bool = False) -> subprocess.CompletedProcess:
    """Runs `python ARGS` from the repo root, optionally with N forced host devices."""
    full_env = dict(os.environ, **(env or {}))
    full_env.pop("XLA_FLAGS", None)
    if devices:
        full_env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    full_env["PYTHONPATH"] = str(REPO) + os.pathsep + full_env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, *args], cwd=REPO, env=full_env, text=True,
                          capture_output=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\n{proc.stderr[-3000:]}")
    return proc


def run_cli(args, *, check: bool = False, **_) -> subprocess.CompletedProcess:
    """`python -m MODULE ARGS...` (args = ["-m", MODULE, ...]) run in this process
    through `jaxdl.cli.call`, the command line's own error handling: no interpreter
    start or imports, and compiled functions shared with the other tests. Returns
    a CompletedProcess with the exit code, stdout and stderr (logging is left to
    pytest)."""
    import contextlib
    import importlib
    import io
    from jaxdl import cli
    assert args[0] == "-m", args
    main = importlib.import_module(args[1]).main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.call(main, [str(a) for a in args[2:]])
    proc = subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())
    if check and code != 0:
        raise AssertionError(f"exit {code}\n{proc.stderr[-3000:]}")
    return proc


def read_png(path):
    """The PNG at ``path`` as a uint8 [H, W, 3] array, after basic sanity checks."""
    from PIL import Image
    import numpy as np
    path = Path(path)
    assert path.is_file()
    with Image.open(path) as image:
        assert image.format == "PNG"
        pixels = np.asarray(image.convert("RGB"))
    height, width = pixels.shape[:2]
    assert width > 200 and height > 200, f"{path.name} is only {width}x{height} px"
    # A blank (or nearly blank) canvas has almost no pixel variation.
    assert pixels.std() > 10.0, f"{path.name} looks blank (pixel std {pixels.std():.1f})"
    return pixels


def legend_texts(ax) -> list[str]:
    """The texts of a matplotlib axes' legend ([] without one)."""
    legend = ax.get_legend()
    return [] if legend is None else [t.get_text() for t in legend.get_texts()]


def last_json_line(text: str) -> dict:
    return json.loads([l for l in text.strip().splitlines() if l.startswith("{")][-1])


@pytest.fixture(scope="session")
def tfds_dir(tmp_path_factory) -> str:
    """A TFDS data dir holding the quick preset's generated dataset (prepared once)."""
    from jaxdl.tasks.day_night import dataset as day_night_dataset
    path = tmp_path_factory.mktemp("tfds")
    day_night_dataset.prepare(384, 96, 96, 32, 0, str(path))
    return str(path)


@pytest.fixture(autouse=True)
def _restore_root_logging():
    """Puts the root logger's handlers and level back after each test: a test that
    goes through `jaxdl.cli.run` (logging.basicConfig(force=True)) would otherwise
    leave a handler writing to that test's captured stderr, closed once the test
    ends, and every later log line in the process would print a logging error."""
    import logging
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def run_export_alone(export_dir, inputs, tmp_path) -> dict:
    """Runs an exported model (`jaxdl.serving`) in a fresh interpreter through the
    `serve.py` it was exported with, on numpy `inputs` (a list, positional); asserts
    that neither flax nor jaxdl was imported there; returns its outputs (numpy)."""
    import numpy as np
    np.savez(tmp_path / "inputs.npz", *inputs)
    script = f"""
import sys
import numpy as np
sys.path.insert(0, {str(export_dir)!r})
from serve import load
predict = load({str(export_dir)!r})
data = np.load({str(tmp_path / 'inputs.npz')!r})
outputs = predict(*[data[f"arr_{{i}}"] for i in range(len(data.files))])
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("flax", "jaxdl"))
assert not loaded, loaded
np.savez({str(tmp_path / 'outputs.npz')!r}, **outputs)
"""
    run_python(["-c", script], check=True)
    with np.load(tmp_path / "outputs.npz") as out:
        return {k: out[k] for k in out.files}
