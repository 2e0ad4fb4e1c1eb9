"""The trigger-word experiment end to end: train, results.json, detect, synthesize."""

import json
import shutil

import numpy as np
import pytest

from conftest import last_json_line, run_cli, run_python
from jaxdl.data.audio_files import read_wav, resample, write_wav

pytest.importorskip("espeakng_loader")

CONFIG = "configs/trigger_word.py:quick"
# A small model on 2 s clips that learns the quick preset's words in about a minute.
DETECTOR = ["--config.train.steps=300", "--config.train.eval_every=100",
            "--config.train.log_every=50", "--config.model.conv_features=32",
            "--config.model.gru_features=(32,)", "--config.train.batch_size=16",
            "--config.data.train_positive_words=40", "--config.data.train_negative_words=80",
            "--config.optim.learning_rate=0.005", "--config.data.test_clips=40"]


@pytest.fixture(scope="module")
def detector(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("trigger") / "run"
    proc = run_cli(["-m", "experiments.trigger_word", "--config", CONFIG, "--workdir",
                    str(workdir), "--no-progress", *DETECTOR], check=True)
    return workdir, last_json_line(proc.stdout)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    out = tmp_path_factory.mktemp("clips")
    proc = run_cli(["-m", "experiments.trigger_word", "synthesize", "--config", CONFIG,
                    "--out", str(out), "--n", "12", *DETECTOR], check=True)
    assert last_json_line(proc.stdout) == {"clips": 12, "out": str(out)}
    return out


def test_results_have_the_issue_keys_and_the_detector_learned(detector):
    workdir, summary = detector
    results = json.loads((workdir / "results.json").read_text())
    assert set(results["test"]) >= {
        "frame_accuracy", "frame_f1", "all_zero_baseline_accuracy", "event_precision",
        "event_recall", "event_f1", "false_accepts_per_hour", "false_reject_rate"}
    assert set(results["train"]) >= {"steps", "seconds", "examples_per_second",
                                     "final_loss", "params_sha256"}
    assert results["config"]["train"]["steps"] == 300
    assert results["train"]["steps"] == 300
    assert results["data"]["output_steps"] == 96      # 2 s at 16 kHz, 200/80, conv 15/4
    # The frame baseline is what predicting "no trigger" everywhere scores.
    assert 0.8 < results["test"]["all_zero_baseline_accuracy"] < 1.0
    assert summary["event_f1"] > 0.8
    for name in ("learning_curves", "precision_recall", "test_clips"):
        assert (workdir / "plots" / f"{name}.png").stat().st_size > 10_000


def test_synthesize_writes_labelled_clips(clips):
    for i in range(12):
        audio, rate = read_wav(clips / f"clip_{i:04d}.wav")
        meta = json.loads((clips / f"clip_{i:04d}.json").read_text())
        assert rate == meta["sample_rate"] == 16000 and audio.shape == (32000, 1)
        assert meta["split"] == "test" and meta["output_steps"] == 96
        for w in meta["words"]:
            assert 0 <= w["start"] < w["end"] <= 2.0
            assert w["trigger"] == (w["word"] == "activate")
        # labels: label_steps (10) steps after each trigger word, clipped to the clip
        expected = set()
        for w in meta["words"]:
            if w["trigger"]:
                e = int(w["end"] * 16000) * 96 // 32000
                expected |= set(range(e + 1, min(e + 11, 96)))
        assert set(meta["labelled_steps"]) == expected
        # the wav carries the words: louder inside them than in the background
        x = audio[:, 0]
        inside = np.concatenate([x[int(w["start"] * rate):int(w["end"] * rate)]
                                 for w in meta["words"]] or [np.zeros(1)])
        if meta["words"]:
            assert np.sqrt(np.mean(inside ** 2)) > np.sqrt(np.mean(x ** 2))


def _detect(workdir, paths, *extra):
    proc = run_cli(["-m", "experiments.trigger_word", "detect", "--workdir",
                    str(workdir), *extra, *map(str, paths)])
    lines = [json.loads(l) for l in proc.stdout.strip().splitlines() if l.startswith("{")]
    return proc, lines


def _trigger_ends(meta):
    return [w["end"] for w in meta["words"] if w["trigger"]]


def test_detect_finds_the_trigger_word_at_the_right_time(detector, clips, tmp_path):
    workdir, _ = detector
    paths = sorted(clips.glob("clip_*.wav"))
    proc, lines = _detect(workdir, paths)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert [l["path"] for l in lines] == [str(p) for p in paths]
    hits = total = 0
    for path, line in zip(paths, lines):
        meta = json.loads(path.with_suffix(".json").read_text())
        for end in _trigger_ends(meta):
            total += 1
            # from just before the word ends to the end of its labels (0.2 s) + slack
            hits += any(end - 0.3 <= t <= end + 0.5 for t in line["detections"])
    assert total >= 4 and hits / total >= 0.75, (hits, total, lines)


def test_detect_handles_rates_channels_lengths_and_bad_files(detector, clips, tmp_path):
    workdir, _ = detector
    # a clip with one trigger word that the model finds
    candidates = []
    for path in sorted(clips.glob("clip_*.wav")):
        meta = json.loads(path.with_suffix(".json").read_text())
        if len(_trigger_ends(meta)) == 1:
            candidates.append((path, _trigger_ends(meta)[0]))
    _, lines = _detect(workdir, [p for p, _ in candidates])
    found = [(p, end) for (p, end), l in zip(candidates, lines)
             if any(abs(t - end - 0.1) < 0.4 for t in l["detections"])]
    assert found, lines
    path, end = found[0]
    audio, rate = read_wav(path)
    x = audio[:, 0]
    # stereo at 44.1 kHz
    stereo = resample(np.stack([x, 0.5 * x], 1), 16000, 44100)
    write_wav(tmp_path / "stereo44k.wav", stereo, 44100)
    # longer: 3 s of quiet noise first, then the clip, then 2 s more
    rng = np.random.default_rng(0)
    pad = lambda s: (0.003 * rng.normal(size=int(s * rate))).astype(np.float32)
    write_wav(tmp_path / "long.wav", np.concatenate([pad(3.0), x, pad(2.0)]), rate)
    # shorter: cut 0.2 s after the trigger word's labels
    write_wav(tmp_path / "short.wav", x[:int((end + 0.4) * rate)], rate)
    (tmp_path / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    names = ["stereo44k.wav", "long.wav", "short.wav", "broken.wav"]
    proc, lines = _detect(workdir, [tmp_path / n for n in names], "--chime",
                          str(tmp_path / "chimed"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    by_name = {l["path"].rsplit("/", 1)[-1]: l for l in lines}
    assert "error" in by_name["broken.wav"] and "broken.wav" in by_name["broken.wav"]["error"]
    shift = {"stereo44k.wav": 0.0, "long.wav": 3.0, "short.wav": 0.0}
    for name, offset in shift.items():
        assert any(abs(t - (end + offset) - 0.1) < 0.45 for t in by_name[name]["detections"]), \
            (name, end, by_name[name])
    # --chime: the clip with a bell mixed in at each detection
    chimed, chime_rate = read_wav(by_name["long.wav"]["chime"])
    assert chime_rate == 16000 and len(chimed) >= len(x) + 5 * rate
    t = by_name["long.wav"]["detections"][0]
    seg = lambda a, t0: a[int(t0 * rate):int((t0 + 0.2) * rate), 0]
    original, _ = read_wav(tmp_path / "long.wav")
    assert np.sqrt(np.mean(seg(chimed, t) ** 2)) > 1.5 * np.sqrt(np.mean(seg(original, t) ** 2))
    # every file failing is exit code 1
    proc, lines = _detect(workdir, [tmp_path / "broken.wav", tmp_path / "missing.wav"])
    assert proc.returncode == 1 and all("error" in l for l in lines)


@pytest.mark.slow
def test_quick_run_is_deterministic_across_processes(detector, tmp_path):
    # Another process, started at another time (eSpeak reseeded in every worker):
    # the same seed gives the same bits.
    run_python(["-m", "experiments.trigger_word", "--config", CONFIG, "--workdir",
                str(tmp_path / "again"), "--no-progress", *DETECTOR], timeout=600,
               check=True)
    a = json.loads((detector[0] / "results.json").read_text())
    b = json.loads((tmp_path / "again" / "results.json").read_text())
    assert a["train"]["params_sha256"] == b["train"]["params_sha256"]
    assert a["test"] == b["test"]


def test_bad_config_exits_2_before_any_work(tmp_path):
    bad = run_python(["-m", "experiments.trigger_word", "--config", CONFIG, "--workdir",
                      str(tmp_path / "c"), "--config.data.words=radio"])
    assert bad.returncode == 2 and "data.words" in bad.stderr
    short = run_python(["-m", "experiments.trigger_word", "--config", CONFIG, "--workdir",
                        str(tmp_path / "d"), "--config.clip.seconds=0.05"])
    assert short.returncode == 2 and "error:" in short.stderr
    assert not (tmp_path / "c" / "checkpoints").exists()


@pytest.mark.slow
def test_quick_run_on_two_devices_with_shard_map(tmp_path):
    proc = run_python(["-m", "experiments.trigger_word", "--config", CONFIG, "--workdir",
                       str(tmp_path / "run"), "--no-progress",
                       "--config.train.parallel=shard_map"], devices=2, check=True)
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["devices"] == {"strategy": "shard_map", "devices": 2, "processes": 1,
                                  "platform": "cpu"}
    assert np.isfinite(last_json_line(proc.stdout)["event_f1"])
    shutil.rmtree(tmp_path / "run")


@pytest.fixture(scope="module")
def recorded_words(tmp_path_factory):
    """A tiny hand-made folder of 'recordings': test-split eSpeak voices saying the
    trigger (16 kHz, in a sub-folder) and other words (8 kHz, FSDD-like names)."""
    from jaxdl.tasks.trigger_word.generator import speech_bank
    root = tmp_path_factory.mktemp("recorded")
    bank = speech_bank("test", trigger="activate", negatives=("hello", "water", "music"),
                       num_positive=6, num_negative=6, seed=0, sample_rate=16000,
                       num_samples=32000)
    (root / "activate").mkdir()
    for i, (w, n, pos, text) in enumerate(zip(bank.audio, bank.lengths, bank.positive,
                                              bank.texts)):
        rate = 16000 if pos else 8000
        path = root / "activate" / f"take{i}.wav" if pos else root / f"{text}_x_{i}.wav"
        write_wav(path, resample(0.1 * w[:n], 16000, rate), rate)
    (root / "notes.wav").write_bytes(b"not a wav")        # skipped, listed
    return root


def test_check_scores_a_run_on_a_folder_of_recorded_words(detector, recorded_words):
    workdir, _ = detector
    args = ["-m", "experiments.trigger_word", "check", "--workdir", str(workdir),
            "--words", str(recorded_words), "--snr", "20", "5", "--clips", "12"]
    first = last_json_line(run_cli(args, check=True).stdout)
    result = json.loads((workdir / "real_check.json").read_text())
    again = last_json_line(run_cli(args, check=True).stdout)
    assert first == again                             # same folder, seed: same clips
    assert set(first) == {f"{k}/{m}" for k in ("snr_20", "snr_5", "all")
                          for m in ("event_f1", "event_recall", "false_accepts_per_hour")
                          } | {f"best_within_budget/{m}" for m in (
                              "max_false_accepts_per_hour", "threshold", "event_f1",
                              "event_recall", "false_accepts_per_hour")}
    # The pooled sweep holds the run's own threshold, and agrees with "all" there.
    curve = result["curve"]
    run_threshold = json.loads((workdir / "config.json").read_text())["eval"]["threshold"]
    i = curve["threshold"].index(run_threshold)
    assert curve["f1"][i] == pytest.approx(result["all"]["event_f1"])
    assert curve["false_accepts_per_hour"][i] == pytest.approx(
        result["all"]["false_accepts_per_hour"])
    assert result["recordings"] == {"activate": 6, "hello": 2, "music": 2, "water": 2}
    assert len(result["skipped_files"]) == 1 and "notes.wav" in result["skipped_files"][0]
    assert result["snr_20"]["clips"] == result["snr_5"]["clips"] == 12
    assert result["all"]["clips"] == 24
    assert result["all"]["positives"] == (result["snr_20"]["positives"]
                                          + result["snr_5"]["positives"]) > 0
    # eSpeak voices it never heard, from files: the detector trained on eSpeak hears them
    assert result["snr_20"]["event_recall"] > 0.5
    # a label that is not in the folder: one line naming the labels there
    bad = run_cli(args[:-5] + ["--trigger", "seven"])
    assert bad.returncode != 0 and "labels found" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_speech_embedding_front_end_end_to_end(tmp_path, clips):
    """The default front end at tiny sizes: the training clips' embeddings are
    computed once and looked up, the model sees 96-d vectors every 80 ms, and
    detect reads the same front end back from the run."""
    pytest.importorskip("pyopen_wakeword")
    workdir = tmp_path / "run"
    proc = run_cli(["-m", "experiments.trigger_word", "--config",
                    "configs/trigger_word.py:quick_embedding", "--workdir", str(workdir),
                    "--no-progress"], check=True)
    results = json.loads((workdir / "results.json").read_text())
    # 2 s: (32000 - 512) // 160 + 1 = 197 mel frames -> (197 - 76) // 8 + 1 = 16
    # embeddings -> conv kernel 3: 14 steps
    assert results["data"]["spectrogram_frames"] == 16
    assert results["data"]["frequency_bins"] == 96
    assert results["data"]["output_steps"] == 14
    assert results["config"]["features"]["front_end"] == "speech_embedding"
    assert results["train"]["steps"] == 6
    assert "event_f1" in last_json_line(proc.stdout)
    out = run_cli(["-m", "experiments.trigger_word", "detect", "--workdir", str(workdir),
                   str(clips / "clip_0000.wav")], check=True)
    line = json.loads(out.stdout.strip().splitlines()[-1])
    assert line["path"].endswith("clip_0000.wav") and isinstance(line["detections"], list)


def test_ten_of_your_recordings_and_synthesised_other_words(tmp_path, recorded_words):
    """data.positives_dir with words=espeak: your recordings are the trigger word
    (split 6 / 2 / 2, each training one used 20 times at other speeds), every other
    word is synthesised."""
    mine = tmp_path / "mine"
    mine.mkdir()
    takes = sorted((recorded_words / "activate").glob("*.wav"))
    for i in range(10):                     # 10 files from the 6 takes
        shutil.copy(takes[i % len(takes)], mine / f"me_{i}.wav")
    workdir = tmp_path / "run"
    proc = run_cli(["-m", "experiments.trigger_word", "--config", CONFIG, "--workdir",
                    str(workdir), "--no-progress", f"--config.data.positives_dir={mine}"],
                   check=True)
    results = json.loads((workdir / "results.json").read_text())
    assert results["data"]["train_words"]["trigger"] == 6 * 20
    assert results["data"]["validation_words"]["trigger"] == 2
    assert results["data"]["test_words"]["trigger"] == 2
    assert results["data"]["train_words"]["other"] == 24       # the quick preset's
    assert "your trigger words" in results["data"]["words"]
    assert "event_f1" in last_json_line(proc.stdout)
    # too few recordings: one line saying how many are needed
    few = tmp_path / "few"
    few.mkdir()
    shutil.copy(takes[0], few / "a.wav")
    bad = run_cli(["-m", "experiments.trigger_word", "--config", CONFIG, "--workdir",
                   str(tmp_path / "bad"), f"--config.data.positives_dir={few}"])
    assert bad.returncode != 0 and "at least 3" in bad.stderr


def test_export_runs_with_jax_and_numpy_alone(detector, tmp_path):
    import jax.numpy as jnp
    from conftest import run_export_alone
    from experiments import trigger_word
    from jaxdl.tasks.trigger_word import detection
    from jaxdl.tasks.trigger_word.generator import feature_spec, spectrogram
    from jaxdl.workdir import load_finished_run
    workdir, _ = detector
    out = tmp_path / "export"
    run_cli(["-m", "experiments.trigger_word", "export", "--workdir", str(workdir),
             "--out", str(out)], check=True)
    signature = json.loads((out / "signature.json").read_text())
    assert signature["platforms"] == ["cpu", "cuda", "tpu"]
    assert (signature["sample_rate"], signature["clip_seconds"]) == (16000, 2.0)
    assert signature["outputs"][0]["shape"] == ["batch", 96]
    audio = np.random.default_rng(5).normal(0, 0.1, (3, 32000)).astype(np.float32)
    alone = run_export_alone(out, [audio], tmp_path)
    run = load_finished_run(workdir, trigger_word.create_state)
    norm = run.meta["normalization"]
    x = spectrogram(audio, feature_spec(run.config), jnp.asarray(norm["mean"], jnp.float32),
                    jnp.asarray(norm["std"], jnp.float32))
    _, probs = detection.predict(run.state, x)
    np.testing.assert_allclose(alone["probs"], np.asarray(probs), atol=1e-5)
