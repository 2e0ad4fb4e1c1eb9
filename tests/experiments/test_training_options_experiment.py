"""The shared training options through an experiment's command line (day'n'night
quick preset): seeds under vmap, the weights' moving average, profiles, bfloat16,
and SIGTERM in the middle of an epoch."""

import gzip
import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from PIL import Image

from conftest import REPO, run_cli, run_python

QUICK = ["-m", "experiments.day_night", "--config", "configs/day_night.py:quick",
         "--no-progress"]


def _run(workdir, tfds_dir, *extra):
    return run_cli([*QUICK, "--workdir", str(workdir), f"--config.data.data_dir={tfds_dir}",
                    "--config.train.early_stopping.patience=0", *extra], check=True)


def _results(workdir):
    return json.loads((workdir / "results.json").read_text())


@pytest.fixture(scope="module")
def seeds_run(tfds_dir, tmp_path_factory):
    """A quick run with 3 seeds under vmap, profiled at steps 3 and 4."""
    workdir = tmp_path_factory.mktemp("seeds") / "vmap"
    _run(workdir, tfds_dir, "--config.train.seeds=3", "--config.profile.start_step=3",
         "--config.profile.num_steps=2")
    return workdir


def test_seeds_report_mean_std_and_per_seed_values(seeds_run):
    results = _results(seeds_run)
    s = results["seeds"]
    assert s["seeds"] == [0, 1, 2] and s["mode"] == "vmap" and s["steps_per_seed"] == 24
    assert set(s["per_seed"]) >= {"accuracy", "precision", "recall", "f1", "auc"}
    for name, values in s["per_seed"].items():
        assert len(values) == 3
        assert s["mean"][name] == pytest.approx(np.mean(values))
        assert s["std"][name] == pytest.approx(np.std(values))
    assert len(set(s["params_sha256"])) == 3  # three different models
    # Seed 0 is the run itself (same keys, data order and steps; patience 0): under
    # vmap up to float32 rounding in the batched convolutions, so at most an image
    # whose p(night) sits within rounding of the threshold could flip (1/96).
    assert s["per_seed"]["accuracy"][0] == pytest.approx(results["test"]["accuracy"],
                                                         abs=1.5 / 96)
    assert min(s["per_seed"]["accuracy"]) > results["baseline"]["accuracy"]
    with Image.open(seeds_run / "plots" / "seeds.png") as img:
        assert img.size[0] > 400


def test_profile_option_leaves_a_trace_of_the_train_steps(seeds_run):
    traces = list((seeds_run / "profile").rglob("perfetto_trace.json.gz"))
    assert len(traces) == 1
    events = json.loads(gzip.decompress(traces[0].read_bytes()))
    events = events["traceEvents"] if isinstance(events, dict) else events
    assert {e["args"]["step_num"] for e in events if e.get("name") == "train_step"} \
        == {"3", "4"}
    assert list((seeds_run / "profile").rglob("*.xplane.pb"))


@pytest.mark.slow
def test_seeds_vmapped_equal_seeds_one_after_another(seeds_run, tfds_dir, tmp_path):
    _run(tmp_path / "seq", tfds_dir, "--config.train.seeds=3",
         "--config.train.seeds_mode=sequential")
    vmapped, sequential = _results(seeds_run), _results(tmp_path / "seq")
    a, b = vmapped["seeds"], sequential["seeds"]
    assert a["seeds"] == b["seeds"] == [0, 1, 2]
    assert (a["mode"], b["mode"]) == ("vmap", "sequential")
    for name, values in a["per_seed"].items():
        # One program for three models computes what three programs compute, up to
        # float32 rounding (see above: at most one borderline image of 96).
        np.testing.assert_allclose(values, b["per_seed"][name], atol=1.5 / 96, err_msg=name)
    # Seed 0 trained one after another is the main run, bit for bit.
    assert b["params_sha256"][0] == sequential["train"]["params_sha256"]
    assert b["per_seed"]["accuracy"][0] == sequential["test"]["accuracy"]


def test_ema_weights_are_the_ones_tested_and_deployed(tfds_dir, tmp_path):
    from experiments import day_night
    from jaxdl.train.steps import predict_step
    from jaxdl.workdir import load_finished_run
    workdir = tmp_path / "ema"
    _run(workdir, tfds_dir, "--config.train.ema_decay=0.9")
    results = _results(workdir)
    assert results["train"]["evaluated_with"] == "ema_params"
    assert results["train"]["ema_params_sha256"] != results["train"]["params_sha256"]
    run = load_finished_run(workdir, day_night.create_state)
    assert run.state.ema_decay == 0.9
    # The verb's probabilities are the moving average's, not the live weights'.
    image = tmp_path / "night.png"
    Image.fromarray(np.full((40, 40, 3), 12, np.uint8)).save(image)
    lines = run_cli(["-m", "experiments.day_night", "predict", "--workdir", str(workdir),
                     str(image)], check=True).stdout.splitlines()
    p_verb = json.loads(lines[0])["p_night"]
    from jaxdl.data import transforms
    from jaxdl.data.images import load_image
    norm = run.meta["normalization"]
    x = transforms.normalize_image(load_image(str(image), 32)[None], norm["mean"], norm["std"])
    p = lambda state: float(jax.nn.sigmoid(predict_step(state, {"inputs": x}))[0])
    live = run.state.replace(ema_decay=0.0)
    averaged = live.replace(params=run.state.ema_params)
    assert p_verb == pytest.approx(p(averaged), abs=1e-6)
    assert abs(p(averaged) - p(live)) > 1e-6


def test_bfloat16_quick_run_keeps_float32_parameters(tfds_dir, tmp_path):
    from experiments import day_night
    from jaxdl.workdir import load_finished_run
    _run(tmp_path / "bf16", tfds_dir, "--config.train.dtype=bfloat16")
    results = _results(tmp_path / "bf16")
    assert results["train"]["dtype"] == "bfloat16"
    run = load_finished_run(tmp_path / "bf16", day_night.create_state)
    leaves = jax.tree.leaves((run.state.params, run.state.opt_state))
    assert {str(x.dtype) for x in leaves if np.issubdtype(x.dtype, np.floating)} == {"float32"}
    # The quick preset's float32 band: test accuracy 0.948 in float32 (and 0.948 in
    # bfloat16; majority baseline 0.49), 2-core AMD EPYC, 2026-12-02.
    assert results["test"]["accuracy"] >= 0.9


@pytest.mark.slow
def test_sigterm_mid_epoch_then_the_same_command_ends_bit_identical(tfds_dir, tmp_path):
    extra = [f"--config.data.data_dir={tfds_dir}", "--config.train.epochs=5",
             "--config.train.early_stopping.patience=0", "--config.train.log_every=1"]
    reference = tmp_path / "reference"
    run_python([*QUICK, "--workdir", str(reference), *extra], check=True)
    stopped = tmp_path / "stopped"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("XLA_FLAGS", None)
    proc = subprocess.Popen([sys.executable, *QUICK, "--workdir", str(stopped), *extra],
                            cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    metrics = stopped / "metrics.jsonl"
    deadline = time.time() + 240
    # Wait for the second epoch (12 steps an epoch) to be under way: mid-epoch, after
    # an epoch-end checkpoint.
    while time.time() < deadline and proc.poll() is None:
        rows = metrics.read_text().splitlines() if metrics.exists() else []
        steps = [json.loads(r)["step"] for r in rows if r.endswith("}") and "train/loss" in r]
        if steps and steps[-1] >= 14:
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the run finished before it could be stopped"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 75, err[-2000:]
    assert "preempted: stopped by SIGTERM after step" in err
    stopped_at = int(err.split("after step ")[1].split()[0])
    assert stopped_at % 12 != 0 and stopped_at < 60
    latest = sorted(int(p.name) for p in (stopped / "checkpoints" / "latest").iterdir()
                    if p.name.isdigit())
    assert latest[-1] == stopped_at
    assert not (stopped / "results.json").exists()
    run_python([*QUICK, "--workdir", str(stopped), *extra], check=True)
    ref, got = _results(reference), _results(stopped)
    assert got["train"]["params_sha256"] == ref["train"]["params_sha256"]
    assert got["test"] == ref["test"]


def _last_json(stdout):
    return json.loads([l for l in stdout.splitlines() if l.startswith("{")][-1])


@pytest.mark.slow
def test_bfloat16_trigger_word_detector_reaches_its_float32_band(tmp_path):
    """The fast tier's small detector (test_trigger_word_experiment.DETECTOR) learns
    to event F1 > 0.8 in float32; in bfloat16 it must too."""
    from test_trigger_word_experiment import CONFIG, DETECTOR
    proc = run_python(["-m", "experiments.trigger_word", "--config", CONFIG, "--workdir",
                       str(tmp_path / "bf16"), "--no-progress", *DETECTOR,
                       "--config.train.dtype=bfloat16"], check=True, timeout=900)
    assert _last_json(proc.stdout)["event_f1"] > 0.8
    assert _results(tmp_path / "bf16")["train"]["dtype"] == "bfloat16"


@pytest.mark.slow
def test_bfloat16_face_quick_preset_within_float32_band(tmp_path):
    """The faces quick preset (16 steps) in both dtypes, on the same data: bfloat16's
    test verification accuracy and NMI within 0.05 of float32's."""
    runs = {}
    for dtype in ("float32", "bfloat16"):
        run_python(["-m", "experiments.face_verification", "--config",
                    "configs/face_verification.py:quick", "--no-progress", "--workdir",
                    str(tmp_path / dtype), f"--config.data.data_dir={tmp_path / 'tfds'}",
                    f"--config.train.dtype={dtype}"], check=True, timeout=900)
        runs[dtype] = _results(tmp_path / dtype)
    for group, name in (("verification", "accuracy"), ("clustering", "nmi")):
        assert runs["bfloat16"][group][name] == pytest.approx(
            runs["float32"][group][name], abs=0.05)


@pytest.mark.slow
def test_bfloat16_style_quick_preset_within_float32_band(tmp_path):
    """Style transfer's quick preset with the feature network in both dtypes: the
    style loss falls as far (float32 0.928 of it, 2-core AMD EPYC, 2026-12-02),
    within 0.02, and the content loss ends within 10% of float32's."""
    runs = {}
    for dtype in ("float32", "bfloat16"):
        run_python(["-m", "experiments.style_transfer", "--config",
                    "configs/style_transfer.py:quick", "--no-progress", "--workdir",
                    str(tmp_path / dtype), f"--config.train.dtype={dtype}"], check=True)
        runs[dtype] = _results(tmp_path / dtype)
    f32, bf16 = runs["float32"], runs["bfloat16"]
    reduction = lambda r: 1 - r["style_loss"]["final"] / r["style_loss"]["initial"]
    assert reduction(bf16) == pytest.approx(reduction(f32), abs=0.02)
    assert reduction(f32) > 0.8
    assert bf16["content_loss"]["final"] == pytest.approx(f32["content_loss"]["final"],
                                                          rel=0.1)
