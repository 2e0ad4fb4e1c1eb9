"""Gradient accumulation, the weights' moving average, preemption (SIGTERM),
step checkpoints with retention, and profiles: the shared training options."""

import gzip
import json
import os
import signal

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxdl import losses
from jaxdl.config import ConfigError, load_config
from jaxdl.data import pipeline
from jaxdl.data.sources import ArraySource
from jaxdl.tasks.day_night.model import ShallowCNN
from jaxdl.train import checkpoint, loop
from jaxdl.train.options import check_train_options
from jaxdl.train.parallel import Strategy
from jaxdl.train.preemption import PREEMPTED_EXIT_CODE, Preempted
from jaxdl.train.profiling import STEP_NAME, StepProfiler, trace_files
from jaxdl.train.state import TrainState, params_sha256
from jaxdl.train.steps import ema_decay_at, eval_step, predict_step, train_step

MODEL = ShallowCNN(features=(4,), hidden=8, dropout_rate=0.2)


def _state(key=0, tx=None, **options):
    return TrainState.create(model=MODEL, rng=jax.random.key(key),
                             example_inputs=jnp.zeros((1, 8, 8, 3)),
                             tx=tx or optax.adam(1e-2),
                             objective=losses.binary_classification, **options)


def _batch(n=12, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n).astype(np.int32)
    images = (rng.normal(size=(n, 8, 8, 3)) + 2.0 * labels[:, None, None, None])
    return {"inputs": jnp.asarray(images, jnp.float32), "label": jnp.asarray(labels),
            "id": jnp.arange(n, dtype=jnp.int32)}


# -- gradient accumulation --------------------------------------------------------
def test_accumulated_micro_batches_equal_one_large_batch():
    # SGD: the update is the gradient itself (Adam's first step is only its sign).
    batch, sgd = _batch(12), optax.sgd(0.5)
    whole, m_whole = jax.jit(train_step)(_state(tx=sgd), batch, jax.random.key(5))
    for k in (2, 3, 4):
        acc, m_acc = jax.jit(train_step)(_state(tx=sgd, grad_accum_steps=k), batch,
                                         jax.random.key(5))
        # Dropout masks are keyed by example id, so each micro-batch draws what the
        # whole batch drew; the mean of k equal-sized micro-batch gradients is the
        # whole batch's gradient up to float32 summation order.
        for a, b in zip(jax.tree.leaves(acc.params), jax.tree.leaves(whole.params)):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        assert float(m_acc["loss"]) == pytest.approx(float(m_whole["loss"]), rel=1e-5)
        assert float(m_acc["grad_norm"]) == pytest.approx(float(m_whole["grad_norm"]),
                                                          rel=1e-4)
        assert int(acc.step) == 1  # one optimiser step, not k
    # ...and it is not the same as training on the first micro-batch alone.
    half, _ = jax.jit(train_step)(_state(tx=sgd), jax.tree.map(lambda x: x[:6], batch),
                                  jax.random.key(5))
    assert not all(np.allclose(a, b, rtol=1e-3, atol=1e-5) for a, b in
                   zip(jax.tree.leaves(half.params), jax.tree.leaves(whole.params)))


def test_accumulation_refuses_a_batch_that_does_not_split():
    with pytest.raises(ValueError, match="does not split into grad_accum_steps=5"):
        train_step(_state(grad_accum_steps=5), _batch(12), jax.random.key(0))
    with pytest.raises(ValueError, match="grad_accum_steps must be >= 1"):
        _state(grad_accum_steps=0)


# -- exponential moving average -------------------------------------------------
def test_ema_is_the_hand_computed_average_and_is_what_evaluation_uses():
    state = _state(ema_decay=0.9)
    p0 = jax.tree.map(np.asarray, state.params)
    assert params_sha256(state.ema_params) == params_sha256(state.params)
    s1, _ = jax.jit(train_step)(state, _batch(), jax.random.key(1))
    s2, _ = jax.jit(train_step)(s1, _batch(seed=1), jax.random.key(1))
    # Decays at steps 0 and 1: min(0.9, 1/10) = 0.1 and min(0.9, 2/11).
    d0, d1 = float(ema_decay_at(0.9, 0)), float(ema_decay_at(0.9, 1))
    assert d0 == pytest.approx(0.1) and d1 == pytest.approx(2 / 11)
    assert float(ema_decay_at(0.9, 1000)) == pytest.approx(0.9)
    for e, a, b, c in zip(*(jax.tree.leaves(t) for t in
                            (s2.ema_params, p0, s1.params, s2.params))):
        e1 = d0 * a + (1 - d0) * np.asarray(b)
        np.testing.assert_allclose(e, d1 * e1 + (1 - d1) * np.asarray(c), rtol=1e-5,
                                   atol=1e-7)
    # Evaluation and prediction read the average, not the live weights.
    batch = _batch(seed=2)
    plain = s2.replace(ema_decay=0.0)
    averaged = plain.replace(params=s2.ema_params)
    np.testing.assert_array_equal(predict_step(s2, batch), predict_step(averaged, batch))
    assert not np.allclose(predict_step(s2, batch), predict_step(plain, batch))
    assert eval_step(s2, batch)["loss"] == eval_step(averaged, batch)["loss"]


def test_ema_params_survive_a_checkpoint_round_trip(tmp_path):
    state, _ = jax.jit(train_step)(_state(ema_decay=0.99), _batch(), jax.random.key(1))
    ckpts = checkpoint.Checkpoints(tmp_path)
    ckpts.save(state, data={}, meta={}, best=True)
    ckpts.close()
    restored, _ = checkpoint.restore_params(tmp_path, _state(ema_decay=0.99))
    assert params_sha256(restored.ema_params) == params_sha256(state.ema_params)
    assert params_sha256(restored.ema_params) != params_sha256(restored.params)


# -- the fit loop: step checkpoints, retention, SIGTERM, profiles -------------------
def _fit(workdir, **kwargs):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 60).astype(np.int32)
    images = (rng.normal(size=(60, 8, 8, 3)) + 2.0 * labels[:, None, None, None])
    source = ArraySource({"image": images.astype(np.float32), "label": labels})
    batches = pipeline.training_batches(
        source, global_batch_size=10, seed=0, num_epochs=2,
        transform=lambda ex: {"inputs": ex["image"], "label": ex["label"]})
    return loop.fit(_state(), train_step=train_step, train_batches=batches,
                    steps_per_epoch=6, global_batch_size=10, rng=jax.random.key(3),
                    strategy=Strategy("single"), workdir=workdir, log_every=2,
                    progress=False, **kwargs)


def _latest_steps(workdir):
    return sorted(int(p.name) for p in (workdir / "checkpoints" / "latest").iterdir()
                  if p.name.isdigit())


def test_step_checkpoints_are_kept_up_to_the_retention_count(tmp_path):
    fit = _fit(tmp_path, checkpoint_every=4, keep_checkpoints=3)
    # Saves at steps 4, 6 (epoch end), 8, 12 (epoch end): the newest 3 are kept.
    assert fit.checkpoint_saves == 4 and fit.checkpoint_seconds > 0
    assert _latest_steps(tmp_path) == [6, 8, 12]


def test_sigterm_mid_epoch_saves_and_the_rerun_ends_bit_identical(tmp_path, monkeypatch):
    reference = _fit(tmp_path / "reference")
    write = loop.MetricLogger.write

    def write_then_sigterm(self, step, *args, **kwargs):
        write(self, step, *args, **kwargs)
        if step == 4:  # the loop is inside epoch 1 (steps 1-6)
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(loop.MetricLogger, "write", write_then_sigterm)
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Preempted, match="stopped by SIGTERM after step 4 of 12"):
        _fit(tmp_path / "stopped")
    assert signal.getsignal(signal.SIGTERM) is previous  # handlers restored
    assert Preempted.exit_code == PREEMPTED_EXIT_CODE == 75
    assert _latest_steps(tmp_path / "stopped") == [4]
    monkeypatch.setattr(loop.MetricLogger, "write", write)
    resumed = _fit(tmp_path / "stopped")
    assert resumed.steps == 12
    assert params_sha256(resumed.state.params) == params_sha256(reference.state.params)
    assert params_sha256(resumed.state.opt_state) == params_sha256(reference.state.opt_state)


def test_profile_leaves_a_trace_naming_the_train_step(tmp_path):
    _fit(tmp_path, profiler=StepProfiler(tmp_path / "profile", start_step=3, num_steps=2))
    files = trace_files(tmp_path / "profile")
    assert any(f.name.endswith(".xplane.pb") and f.stat().st_size > 0 for f in files)
    perfetto = [f for f in files if f.name == "perfetto_trace.json.gz"]
    assert perfetto
    events = json.loads(gzip.decompress(perfetto[0].read_bytes()))
    events = events["traceEvents"] if isinstance(events, dict) else events
    steps = sorted({int(e["args"]["step_num"]) for e in events
                    if e.get("name") == STEP_NAME and "step_num" in e.get("args", {})})
    assert steps == [3, 4]


def test_no_profile_unless_asked(tmp_path):
    _fit(tmp_path)
    assert not (tmp_path / "profile").exists()


# -- the config fields ---------------------------------------------------------------
@pytest.mark.parametrize("key, value, message", [
    ("train.dtype", "float16", "needs loss scaling"),
    ("train.dtype", "float64", "choose from"),
    ("train.grad_accum_steps", 0, "must be >= 1"),
    ("train.grad_accum_steps", 5, "must divide the batch size 32"),
    ("train.ema_decay", 1.0, r"must be in \[0, 1\)"),
    ("train.seeds", 0, "must be >= 1"),
    ("train.seeds_mode", "parallel", "choose from"),
    ("train.checkpoint_every_steps", -1, "must be >= 0"),
    ("train.keep_checkpoints", 0, "must be >= 1"),
    ("profile.start_step", 0, "must be >= 1"),
    ("profile.num_steps", -2, "must be >= 0"),
])
def test_out_of_range_options_are_config_errors(key, value, message):
    config = load_config("configs/day_night.py:quick")
    group, leaf = key.split(".")
    config[group][leaf] = value
    with pytest.raises(ConfigError, match=message) as e:
        check_train_options(config)
    assert e.value.exit_code == 2 and repr(key) in str(e.value)


# -- seeds as a vmapped axis ----------------------------------------------------------
def _seed_study(mode):
    from jaxdl.train import replicas
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 40).astype(np.int32)
    images = (rng.normal(size=(40, 8, 8, 3)) + 2.0 * labels[:, None, None, None])
    source = ArraySource({"image": images.astype(np.float32), "label": labels})
    batches = lambda seed: pipeline.training_batches(
        source, global_batch_size=10, seed=seed, num_epochs=2, process_index=0,
        process_count=1, transform=lambda ex: {"inputs": ex["image"], "label": ex["label"]})
    make_state = lambda key: TrainState.create(
        model=MODEL, rng=key, example_inputs=jnp.zeros((1, 8, 8, 3)), tx=optax.adam(1e-2),
        objective=losses.binary_classification)
    return replicas.seed_study(make_state=make_state, make_batches=batches, seed=4,
                               count=3, mode=mode, progress=False), batches, make_state


def test_seeds_under_vmap_equal_seeds_one_after_another_and_single_runs():
    (seeds, vmapped, _), batches, make_state = _seed_study("vmap")
    (_, sequential, _), _, _ = _seed_study("sequential")
    assert seeds == [4, 5, 6]
    for a, b in zip(vmapped, sequential):
        for x, y in zip(jax.tree.leaves(a.params), jax.tree.leaves(b.params)):
            np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-5)
    assert len({params_sha256(s.params) for s in sequential}) == 3
    # Seed 5 one after another is exactly a plain run with config.seed = 5.
    init, step_key = jax.random.split(jax.random.key(5))
    state = make_state(init)
    step = jax.jit(train_step)
    for batch in batches(5):
        state, _ = step(state, batch, step_key)
    assert params_sha256(state.params) == params_sha256(sequential[1].params)


def test_summarize_seeds_flattens_nested_metrics():
    from jaxdl.train.replicas import summarize_seeds
    summary = summarize_seeds([0, 1], [{"a": 1.0, "g": {"b": 2.0, "ok": True}, "l": [1, 2]},
                                       {"a": 3.0, "g": {"b": 6.0, "ok": False}, "l": [3]}],
                              mode="vmap", seconds=1.23456, steps=7)
    assert summary["per_seed"] == {"a": [1.0, 3.0], "g/b": [2.0, 6.0]}
    assert summary["mean"] == {"a": 2.0, "g/b": 4.0}
    assert summary["std"] == {"a": 1.0, "g/b": 2.0}
    assert (summary["seconds"], summary["steps_per_seed"]) == (1.235, 7)
