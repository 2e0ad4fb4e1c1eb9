"""What every experiment writes and reads back through jaxdl.workdir."""

import json

import jax
import numpy as np
import pytest

from jaxdl.config import load_config
from jaxdl.train import checkpoint
from jaxdl.train.loop import FitResult
from jaxdl.train.parallel import Strategy
from jaxdl.train.state import params_sha256
from jaxdl.workdir import (RunNotFoundError, load_finished_run, prepare_workdir,
                           run_record, write_json)


@pytest.fixture(scope="module")
def quick():
    from experiments import day_night
    config = load_config("configs/day_night.py:quick")
    return config, day_night.create_state


def test_run_record_blocks(quick):
    config, create_state = quick
    last = create_state(config, jax.random.key(1), 10)
    best = create_state(config, jax.random.key(2), 10)
    fit = FitResult(state=last, best_step=4, best_metric=0.75, steps=10, seconds=2.34567,
                    examples_per_second=123.456, final_loss=0.5, stopped_early=True)
    record = run_record(config, Strategy("single"), fit, best, best_metric="best_val_x",
                        stopped_early=True)
    assert list(record) == ["train", "devices", "config"]
    assert record["train"] == {
        "steps": 10, "seconds": 2.346, "examples_per_second": 123.5, "final_loss": 0.5,
        "params_sha256": params_sha256(last.params), "best_step": 4, "best_val_x": 0.75,
        "best_params_sha256": params_sha256(best.params), "checkpoint_saves": 0,
        "checkpoint_seconds": 0.0, "dtype": "float32", "grad_accum_steps": 1,
        "ema_decay": 0.0, "evaluated_with": "params", "stopped_early": True}
    assert record["train"]["params_sha256"] != record["train"]["best_params_sha256"]
    assert record["devices"] == {"strategy": "single", "devices": 1, "processes": 1,
                                 "platform": "cpu"}
    assert record["config"]["train"]["batch_size"] == config.train.batch_size
    json.dumps(record)  # results.json must be able to hold it


def test_load_finished_run_round_trip_and_failures(quick, tmp_path):
    config, create_state = quick
    with pytest.raises(RunNotFoundError, match="no config.json"):
        load_finished_run(tmp_path / "nothing", create_state)
    workdir = prepare_workdir(tmp_path / "run", config)
    with pytest.raises(checkpoint.CheckpointNotFoundError, match="no best checkpoint"):
        load_finished_run(workdir, create_state)

    state = create_state(config, jax.random.key(7), 1)
    ckpts = checkpoint.Checkpoints(workdir / "checkpoints")
    ckpts.save(state, data={}, meta={"normalization": {"mean": [1.0], "std": [2.0]}},
               best=True)
    ckpts.close()
    run = load_finished_run(workdir, create_state)
    assert run.results is None  # evaluation has not written results.json yet
    assert run.meta["normalization"] == {"mean": [1.0], "std": [2.0]}
    assert params_sha256(run.state.params) == params_sha256(state.params)
    assert run.config.train.batch_size == config.train.batch_size
    write_json(workdir / "results.json", {"test": {"accuracy": np.float32(0.5)}})
    assert load_finished_run(workdir, create_state).results == {"test": {"accuracy": 0.5}}
