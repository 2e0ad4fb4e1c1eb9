"""The day'n'night experiment as a user runs it: artifacts, resumption, failures."""

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import REPO, run_cli, run_python

QUICK = ["-m", "experiments.day_night", "--config", "configs/day_night.py:quick",
         "--no-progress"]


def quick_run(workdir, tfds_dir, *extra, **kw):
    return run_python([*QUICK, "--workdir", str(workdir),
                       f"--config.data.data_dir={tfds_dir}", *extra], **kw)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, tfds_dir):
    workdir = tmp_path_factory.mktemp("run")
    run_cli([*QUICK, "--workdir", str(workdir), f"--config.data.data_dir={tfds_dir}"],
            check=True)
    return workdir


def test_run_leaves_everything_in_its_workdir(finished_run):
    results = json.loads((finished_run / "results.json").read_text())
    assert set(results["test"]) >= {"accuracy", "precision", "recall", "specificity",
                                    "f1", "auc", "confusion_matrix"}
    cm = np.asarray(results["test"]["confusion_matrix"])
    assert cm.shape == (2, 2) and cm.sum() == 96  # every test image counted once
    assert results["test"]["accuracy"] == pytest.approx(np.trace(cm) / cm.sum(), abs=1e-6)
    assert results["test"]["accuracy"] > results["baseline"]["accuracy"]
    train = results["train"]
    assert train["steps"] == 2 * (384 // 32)
    assert len(train["params_sha256"]) == 64 and train["examples_per_second"] > 0
    assert results["config"]["train"]["batch_size"] == 32
    rows = [json.loads(l) for l in (finished_run / "metrics.jsonl").read_text().splitlines()]
    assert any("val/accuracy" in r for r in rows) and any("train/loss" in r for r in rows)
    assert list((finished_run / "tensorboard").glob("events.out.tfevents.*"))
    assert (finished_run / "checkpoints" / "latest").is_dir()
    assert (finished_run / "checkpoints" / "best").is_dir()
    for name in ("learning_curves", "confusion_matrix", "roc_curve", "test_predictions"):
        with Image.open(finished_run / "plots" / f"{name}.png") as img:
            assert img.size[0] > 200
    assert json.loads((finished_run / "config.json").read_text())["seed"] == 0


@pytest.mark.slow
def test_same_seed_same_bits(finished_run, tfds_dir, tmp_path):
    quick_run(tmp_path / "again", tfds_dir, check=True)
    a = json.loads((finished_run / "results.json").read_text())["train"]
    b = json.loads((tmp_path / "again" / "results.json").read_text())["train"]
    assert a["params_sha256"] == b["params_sha256"]
    quick_run(tmp_path / "other", tfds_dir, "--config.seed=1", check=True)
    c = json.loads((tmp_path / "other" / "results.json").read_text())["train"]
    assert c["params_sha256"] != a["params_sha256"]


def _checkpoint_steps(workdir):
    latest = workdir / "checkpoints" / "latest"
    return sorted(int(p.name) for p in latest.glob("*") if p.name.isdigit()) \
        if latest.exists() else []


def _logged_train_steps(workdir):
    path = workdir / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(l)["step"] for l in path.read_text().splitlines()
            if l.endswith("}") and "train/loss" in l]


# Kill points: before any checkpoint, and in the middle of an epoch after one
# (12 steps an epoch; log_every=1 makes progress visible step by step).
KILL_WHEN = {
    "before_first_checkpoint": lambda w: not _checkpoint_steps(w) and
    len(_logged_train_steps(w)) >= 3,
    "mid_epoch_after_a_checkpoint": lambda w: _checkpoint_steps(w) and
    _logged_train_steps(w)[-1] % 12 >= 3,
}


@pytest.mark.slow
@pytest.mark.parametrize("when", sorted(KILL_WHEN))
def test_sigkill_then_resume_matches_uninterrupted(tfds_dir, tmp_path, when):
    extra = [f"--config.data.data_dir={tfds_dir}", "--config.train.epochs=5",
             "--config.train.early_stopping.patience=0", "--config.train.log_every=1"]
    reference = tmp_path / "reference"
    run_python([*QUICK, "--workdir", str(reference), *extra], check=True)
    killed = tmp_path / "killed"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("XLA_FLAGS", None)
    proc = subprocess.Popen([sys.executable, *QUICK, "--workdir", str(killed), *extra],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if KILL_WHEN[when](killed):
            break
        time.sleep(0.01)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert KILL_WHEN[when](killed), "killed at the wrong point"
    killed_at = _logged_train_steps(killed)[-1]
    assert not (killed / "results.json").exists()
    run_python([*QUICK, "--workdir", str(killed), *extra], check=True)
    ref = json.loads((reference / "results.json").read_text())
    got = json.loads((killed / "results.json").read_text())
    assert got["train"]["params_sha256"] == ref["train"]["params_sha256"]
    assert got["train"]["best_params_sha256"] == ref["train"]["best_params_sha256"]
    assert got["test"] == ref["test"]
    # The logs describe one history: each step logged once, in order, including
    # the steps redone after the kill.
    steps = _logged_train_steps(killed)
    assert steps == list(range(1, 61)) and killed_at < 60


@pytest.mark.slow
def test_early_stopping_follows_the_logged_validation(tfds_dir, tmp_path):
    workdir = tmp_path / "w"
    quick_run(workdir, tfds_dir, "--config.train.epochs=8",
              "--config.train.early_stopping.patience=1",
              "--config.train.early_stopping.monitor=val/loss",
              "--config.train.early_stopping.mode=min", check=True)
    results = json.loads((workdir / "results.json").read_text())["train"]
    val = [json.loads(l) for l in (workdir / "metrics.jsonl").read_text().splitlines()
           if "val/loss" in l]
    # Replay the rule on the logged values: stop at the first epoch that does not
    # improve on the best so far; the best checkpoint is the best epoch before it.
    best, best_step, stop_step = None, None, None
    for row in val:
        if best is None or row["val/loss"] < best:
            best, best_step = row["val/loss"], row["step"]
        else:
            stop_step = row["step"]
            break
    # Each logged "best" flag marks exactly the epochs that improved on all before.
    running, expected = None, []
    for row in val:
        expected.append(running is None or row["val/loss"] < running)
        running = row["val/loss"] if expected[-1] else running
    assert [r["best"] for r in val] == expected
    assert results["best_step"] == best_step
    assert results["best_val_accuracy"] == pytest.approx(best, abs=1e-6)  # the monitored value
    if stop_step is None:
        assert not results["stopped_early"] and results["steps"] == 8 * 12
    else:
        assert results["stopped_early"] and results["steps"] == stop_step < 8 * 12


@pytest.mark.slow
def test_two_processes_run_the_experiment(tfds_dir, tmp_path):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("XLA_FLAGS", None)
    args = [*QUICK, "--workdir", str(tmp_path / "multi"), f"--config.data.data_dir={tfds_dir}",
            "--config.train.parallel=shard_map", "--config.train.epochs=1",
            "--coordinator", f"127.0.0.1:{port}", "--num_processes", "2"]
    procs = [subprocess.Popen([sys.executable, *args, "--process_id", str(i)], cwd=REPO,
                              env=env, text=True, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for i in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    multi = json.loads((tmp_path / "multi" / "results.json").read_text())
    assert multi["devices"] == {"strategy": "shard_map", "devices": 2, "processes": 2,
                                "platform": "cpu"}
    single_dir = tmp_path / "single"
    quick_run(single_dir, tfds_dir, "--config.train.parallel=shard_map",
              "--config.train.epochs=1", check=True, devices=2)
    single = json.loads((single_dir / "results.json").read_text())
    assert single["devices"]["processes"] == 1 and single["devices"]["devices"] == 2
    assert multi["train"]["steps"] == single["train"]["steps"] == 12
    assert multi["test"]["confusion_matrix"] == single["test"]["confusion_matrix"]
    assert multi["train"]["final_loss"] == pytest.approx(single["train"]["final_loss"],
                                                         abs=1e-4)


def test_predict_prints_a_line_per_image_and_survives_bad_files(finished_run, tmp_path):
    from jaxdl.tasks.day_night.generator import render_scenes
    import jax
    scenes = render_scenes(jax.random.key(123), 4, 64)
    paths = []
    for i in range(4):
        p = tmp_path / f"scene{i}.png"
        Image.fromarray(np.asarray(scenes["image"][i])).save(p)
        paths.append(str(p))
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 definitely not a jpeg")
    paths.append(str(tmp_path / "broken.jpg"))
    proc = run_cli(["-m", "experiments.day_night", "predict", "--workdir",
                    str(finished_run), *paths])
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [json.loads(l) for l in proc.stdout.splitlines() if l.startswith("{")]
    assert [l["path"] for l in lines] == paths
    for line in lines[:4]:
        assert line["label"] in ("day", "night") and 0.0 <= line["p_night"] <= 1.0
        assert (line["label"] == "night") == (line["p_night"] > 0.5)
    assert "broken.jpg" in lines[4]["error"]
    only_bad = run_cli(["-m", "experiments.day_night", "predict", "--workdir",
                        str(finished_run), str(tmp_path / "broken.jpg")])
    assert only_bad.returncode != 0


def test_unknown_key_and_wrong_type_exit_2_before_any_work(tmp_path):
    for arg, words in [("--config.train.batchsize=8", ["train.batchsize", "train.batch_size"]),
                       ("--config.train.epochs=two", ["train.epochs", "int"])]:
        proc = run_python([*QUICK, "--workdir", str(tmp_path / "w"), arg])
        assert proc.returncode == 2
        err = [l for l in proc.stderr.splitlines() if l.strip()]
        assert len(err) == 1 and all(w in err[0] for w in words), proc.stderr
        assert not (tmp_path / "w").exists()


def _write_folder(root: Path, n_per_class: int, seed: int = 0):
    from jaxdl.tasks.day_night.generator import render_scenes
    import jax
    scenes = render_scenes(jax.random.key(seed), 4 * n_per_class, 32)
    counts = {0: 0, 1: 0}
    for img, label in zip(np.asarray(scenes["image"]), np.asarray(scenes["label"])):
        label = int(label)
        if counts[label] >= n_per_class:
            continue
        d = root / ("day", "night")[label]
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(d / f"{counts[label]:03d}.{'png' if label else 'jpg'}")
        counts[label] += 1


@pytest.mark.slow
def test_image_folder_with_a_corrupt_file_trains_on_the_others(tmp_path):
    folder = tmp_path / "images"
    _write_folder(folder, 40)
    (folder / "night" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    proc = run_python([*QUICK, "--workdir", str(tmp_path / "w"),
                       "--config.data.source=folder", f"--config.data.folder={folder}",
                       "--config.train.batch_size=16"], check=True)
    results = json.loads((tmp_path / "w" / "results.json").read_text())
    assert results["data"]["train"] + results["data"]["validation"] + \
        results["data"]["test"] == 80
    assert results["data"]["skipped_files"] == 1
    assert "corrupt.png" in proc.stderr


@pytest.mark.slow
def test_a_prepared_tfds_dataset_by_name(tfds_dir, tmp_path):
    # Any prepared TFDS dataset is read from its files by name, here the generated one.
    quick_run(tmp_path / "w", tfds_dir, "--config.data.source=tfds",
              "--config.data.tfds_name=day_night/384-96-96-32px-seed0",
              "--config.data.tfds_validation_split=validation", check=True)
    results = json.loads((tmp_path / "w" / "results.json").read_text())
    assert results["data"] == {"description": "TFDS day_night/384-96-96-32px-seed0",
                               "train": 384, "validation": 96, "test": 96,
                               "skipped_files": 0}
    assert results["test"]["accuracy"] > results["baseline"]["accuracy"]


def test_a_tfds_dataset_that_is_not_prepared_is_a_clear_error(tmp_path):
    proc = run_cli([*QUICK, "--workdir", str(tmp_path / "w"), "--config.data.source=tfds",
                    "--config.data.tfds_name=mnist",
                    f"--config.data.data_dir={tmp_path / 'empty'}"])
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert "'mnist' is not prepared" in last and "tfds build mnist" in last


def test_empty_image_folder_is_a_clear_error(tmp_path):
    (tmp_path / "images" / "day").mkdir(parents=True)
    (tmp_path / "images" / "night").mkdir(parents=True)
    proc = run_cli([*QUICK, "--workdir", str(tmp_path / "w"),
                    "--config.data.source=folder",
                    f"--config.data.folder={tmp_path / 'images'}"])
    assert proc.returncode != 0
    assert "no readable images" in proc.stderr.splitlines()[-1]


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_workdir_is_a_clear_error(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
    proc = run_python([*QUICK, "--workdir", str(locked / "run")])
    assert proc.returncode != 0
    assert "cannot be written" in proc.stderr.splitlines()[-1]


def test_workdir_under_a_file_is_a_clear_error(tmp_path):
    # Works as root too: a path below a regular file can never be created.
    (tmp_path / "afile").write_text("x")
    proc = run_cli([*QUICK, "--workdir", str(tmp_path / "afile" / "run")])
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert "cannot be written" in last and "afile" in last


@pytest.mark.slow
def test_nan_loss_names_the_step_and_keeps_the_checkpoint(tfds_dir, tmp_path):
    workdir = tmp_path / "w"
    quick_run(workdir, tfds_dir, "--config.train.epochs=1", check=True)
    before = json.loads((workdir / "results.json").read_text())["train"]
    # Continue the run for a second epoch with a learning rate that overflows.
    proc = quick_run(workdir, tfds_dir, "--config.train.epochs=2",
                     "--config.optim.learning_rate=1e30")
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert "non-finite training loss at step" in last
    step = int(last.split("at step ")[1].split()[0])
    assert 12 < step <= 24  # in the second epoch
    # The last good checkpoint (end of epoch 1) is intact and restores bit-exactly.
    from jaxdl.train.checkpoint import Checkpoints
    from jaxdl.config import config_from_dict
    from experiments.day_night import create_state
    from jaxdl.train.state import params_sha256
    import jax
    config = config_from_dict(json.loads((workdir / "config.json").read_text()))
    ckpts = Checkpoints(workdir / "checkpoints")
    assert ckpts.latest_step() == 12
    state, _, _ = ckpts.restore(create_state(config, jax.random.key(0), 24))
    ckpts.close()
    assert params_sha256(state.params) == before["params_sha256"]


@pytest.mark.slow
def test_resuming_with_another_model_is_a_clear_error(tfds_dir, tmp_path):
    workdir = tmp_path / "w"
    quick_run(workdir, tfds_dir, "--config.train.epochs=1", check=True)
    proc = quick_run(workdir, tfds_dir, "--config.train.epochs=2",
                     "--config.model.hidden=8")
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert "does not match" in last and "checkpoints" in last


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["kfold", "iterated_kfold"])
def test_cross_validation_reports_fold_scores(tfds_dir, tmp_path, protocol):
    quick_run(tmp_path / "w", tfds_dir, f"--config.eval.protocol={protocol}",
              "--config.eval.iterations=2", check=True)
    cv = json.loads((tmp_path / "w" / "results.json").read_text())["cross_validation"]
    n = 3 * (2 if protocol == "iterated_kfold" else 1)
    assert cv["k"] == 3 and len(cv["scores"]) == n
    assert cv["mean"] == pytest.approx(np.mean(cv["scores"]), abs=1e-6)
    assert cv["std"] == pytest.approx(np.std(cv["scores"]), abs=1e-6)
    assert all(0.0 <= s <= 1.0 for s in cv["scores"])
    assert (tmp_path / "w" / "plots" / "cross_validation.png").exists()


def test_export_runs_with_jax_and_numpy_alone(finished_run, tmp_path):
    import jax
    from conftest import run_export_alone
    from experiments import day_night
    from jaxdl.data import transforms
    from jaxdl.train.steps import predict_step
    from jaxdl.workdir import load_finished_run
    out = tmp_path / "export"
    proc = run_cli(["-m", "experiments.day_night", "export", "--workdir", str(finished_run),
                    "--out", str(out)], check=True)
    line = json.loads(proc.stdout.splitlines()[-1])
    # CUDA and TPU are not on this machine; the export is lowered for them anyway.
    assert line["platforms"] == ["cpu", "cuda", "tpu"]
    signature = json.loads((out / "signature.json").read_text())
    assert signature["class_names"] == ["day", "night"] and signature["image_size"] == 32
    assert signature["inputs"][0] == {**signature["inputs"][0], "shape": ["batch", 32, 32, 3],
                                      "dtype": "uint8"}
    images = np.random.default_rng(3).integers(0, 256, (7, 32, 32, 3), dtype=np.uint8)
    alone = run_export_alone(out, [images], tmp_path)
    run = load_finished_run(finished_run, day_night.create_state)
    norm = run.meta["normalization"]
    x = transforms.normalize_image(images, norm["mean"], norm["std"])
    p = np.asarray(jax.nn.sigmoid(predict_step(run.state, {"inputs": x})))
    np.testing.assert_allclose(alone["p_night"], p, atol=1e-5)
    clear = np.abs(p - signature["threshold"]) > 1e-4
    np.testing.assert_array_equal(alone["label"][clear], (p[clear] > 0.5).astype(np.int32))


def test_predict_takes_folders_in_batches_and_writes_csv(finished_run, tmp_path):
    import csv
    import io
    import jax
    from jaxdl.tasks.day_night.generator import render_scenes
    scenes = np.asarray(render_scenes(jax.random.key(7), 5, 64)["image"])
    folder = tmp_path / "photos"
    for i, scene in enumerate(scenes):
        (folder / f"day{i % 2}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(scene).save(folder / f"day{i % 2}" / f"s{i}.png")
    (folder / "day0" / "zz_broken.png").write_bytes(b"not a png")
    # Each file alone (the original behaviour) is the reference.
    one_by_one = run_cli(["-m", "experiments.day_night", "predict", "--workdir",
                          str(finished_run), *sorted(str(p) for p in folder.rglob("*.png"))],
                         check=True)
    reference = {json.loads(l)["path"]: json.loads(l) for l in one_by_one.stdout.splitlines()}
    # The folder, 2 images per model call (3 calls, the last one short), as CSV.
    proc = run_cli(["-m", "experiments.day_night", "predict", "--workdir", str(finished_run),
                    "--format", "csv", "--batch-size", "2", str(folder)], check=True)
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert [r["path"] for r in rows] == sorted(str(p) for p in folder.rglob("*.png"))
    assert len(rows) == 6
    for row in rows:
        want = reference[row["path"]]
        if "error" in want:
            assert "zz_broken.png" in row["error"] and row["label"] == ""
        else:
            assert row["label"] == want["label"] and row["error"] == ""
            assert float(row["p_night"]) == pytest.approx(want["p_night"], abs=1e-5)
    bad = run_cli(["-m", "experiments.day_night", "predict", "--workdir", str(finished_run),
                   str(tmp_path / "no_such_folder")])
    assert bad.returncode == 1 and "no_such_folder" in json.loads(bad.stdout)["error"]
