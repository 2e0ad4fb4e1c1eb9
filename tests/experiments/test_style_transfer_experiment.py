"""The style-transfer experiment end to end (quick preset) and its errors."""

from __future__ import annotations

import json

import jax
import numpy as np


def test_experiment_quick_end_to_end(tmp_path, capsys):
    from experiments import style_transfer as exp
    from jaxdl.data.images import load_image, save_image

    style_file = save_image(tmp_path / "style.jpg",
                            np.asarray(jax.random.uniform(jax.random.key(5), (40, 30, 3))))
    content_file = save_image(tmp_path / "content.png",
                              np.asarray(jax.random.uniform(jax.random.key(6), (30, 45, 3))))
    workdir = tmp_path / "run"
    assert exp.main(["--config", "configs/style_transfer.py:quick", "--workdir",
                     str(workdir), "--no-progress", "--content", str(content_file),
                     "--style", str(style_file)]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    results = json.loads((workdir / "results.json").read_text())
    for key in ("loss", "content_loss", "style_loss"):
        assert set(results[key]) >= {"initial", "final"}
        assert np.isfinite(results[key]["final"])
    assert results["style_loss"]["final"] < results["style_loss"]["initial"]
    assert results["iterations"] == 10 and results["weights"] == "random"
    assert results["image_size"] == [32, 48]  # content's 2:3 aspect, longer side 48
    assert results["iterations_per_second"] > 0 and results["config"]["image_size"] == 48
    assert printed["weights"] == "random"
    assert load_image(workdir / "stylized.png").shape == (32, 48, 3)
    for name in ("plots/progression.png", "plots/loss_curves.png", "plots/inputs.png",
                 "progress/latest.png", "metrics.jsonl"):
        assert (workdir / name).stat().st_size > 0


def test_experiment_errors(tmp_path, capsys):
    from experiments import style_transfer as exp
    from jaxdl import cli

    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    assert cli.run(exp.main, ["--config", "configs/style_transfer.py:quick", "--workdir",
                              str(tmp_path / "w"), "--no-progress", "--style",
                              str(bad)]) == 1
    assert "bad.png" in capsys.readouterr().err
    assert cli.run(exp.main, ["--config", "configs/style_transfer.py:quick", "--workdir",
                              str(tmp_path / "w"), "--no-progress",
                              "--config.model.weights=" + str(tmp_path / "vgg.pth")]) == 1
    assert "safetensors" in capsys.readouterr().err
    quick = ["--config", "configs/style_transfer.py:quick", "--workdir", str(tmp_path / "w"),
             "--no-progress"]
    assert cli.run(exp.main, quick + ["--config.scales=(8,)", "--config.iterations=(1,)"]) == 2
    assert "last scale" in capsys.readouterr().err
    assert cli.run(exp.main, quick + ["--config.scales=(8, 48)",
                                      "--config.iterations=(1, 1)"]) == 2
    assert "8x8 pixels at scale 8" in capsys.readouterr().err
