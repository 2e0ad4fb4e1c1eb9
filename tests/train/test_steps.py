"""The pure pieces: losses on hand-computed cases, penalties, dropout, vmap over folds."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxdl import losses
from jaxdl.data.sources import ArraySource
from jaxdl.models import ExampleDropout
from jaxdl.tasks.day_night.model import ShallowCNN
from jaxdl.train import TrainState, eval_step, train_step
from jaxdl.train.cross_validation import cross_validate


def test_bce_hand_computed():
    # logit 0 -> p = 0.5 -> loss ln 2 for either label; logit ln 3 -> p = 0.75.
    logits = jnp.array([0.0, np.log(3.0), np.log(3.0)])
    labels = jnp.array([1, 1, 0])
    np.testing.assert_allclose(losses.sigmoid_binary_cross_entropy(logits, labels),
                               [np.log(2), -np.log(0.75), -np.log(0.25)], rtol=1e-6)
    loss, m = losses.binary_classification(logits, {"label": labels})
    assert float(loss) == pytest.approx((np.log(2) - np.log(.75) - np.log(.25)) / 3, rel=1e-6)
    assert float(m["accuracy"]) == pytest.approx(1 / 3)  # logit 0 counts as "day"
    masked, _ = losses.binary_classification(logits, {"label": labels,
                                                      "mask": jnp.array([0, 1, 0])})
    assert float(masked) == pytest.approx(-np.log(0.75), rel=1e-6)


def test_penalties_count_kernels_only():
    params = {"dense": {"kernel": jnp.array([[1.0, -2.0]]), "bias": jnp.array([5.0])},
              "bn": {"scale": jnp.array([3.0])}}
    assert float(losses.l1_penalty(params)) == 3.0
    assert float(losses.l2_penalty(params)) == 2.5  # (1 + 4) / 2


def test_l2_gradient_is_weight_decay():
    model = ShallowCNN(features=(2,), hidden=4, dropout_rate=0.0)
    make = lambda l2: TrainState.create(model=model, rng=jax.random.key(0),
                                        example_inputs=jnp.zeros((1, 8, 8, 3)),
                                        tx=optax.sgd(1.0), objective=losses.binary_classification,
                                        l2=l2)
    batch = {"inputs": jnp.ones((2, 8, 8, 3)), "label": jnp.array([0, 1])}
    step = jax.jit(train_step)  # one program per l2 instead of ~100 eager ops each
    plain, _ = step(make(0.0), batch, jax.random.key(0))
    decayed, _ = step(make(0.1), batch, jax.random.key(0))
    w0 = make(0.0).params["dense"]["kernel"]
    # SGD(lr 1) with l2 = 0.1 subtracts an extra 0.1 * w from kernels, nothing from biases.
    np.testing.assert_allclose(plain.params["dense"]["kernel"] - decayed.params["dense"]["kernel"],
                               0.1 * w0, atol=1e-6)
    np.testing.assert_array_equal(plain.params["dense"]["bias"], decayed.params["dense"]["bias"])


def test_example_dropout_depends_on_example_id_not_position():
    layer = ExampleDropout(0.5)
    x = jnp.ones((4, 16))
    ids = jnp.array([10, 11, 12, 13])
    full = layer.apply({}, x, deterministic=False, example_ids=ids,
                       rngs={"dropout": jax.random.key(0)})
    halves = [layer.apply({}, x[i:i + 2], deterministic=False, example_ids=ids[i:i + 2],
                          rngs={"dropout": jax.random.key(0)}) for i in (0, 2)]
    np.testing.assert_array_equal(full, jnp.concatenate(halves))
    assert set(np.unique(np.asarray(full))) == {0.0, 2.0}  # kept units scaled by 1/keep
    assert layer.apply({}, x, deterministic=True) is x


def test_eval_step_counts_only_real_examples():
    model = ShallowCNN(features=(2,), hidden=4, dropout_rate=0.0)
    state = TrainState.create(model=model, rng=jax.random.key(0),
                              example_inputs=jnp.zeros((1, 8, 8, 3)), tx=optax.sgd(0.1),
                              objective=losses.binary_classification)
    x = jax.random.normal(jax.random.key(1), (4, 8, 8, 3))
    labels = jnp.array([0, 1, 1, 0])
    step = jax.jit(eval_step)  # one program per batch shape instead of eager ops
    real = step(state, {"inputs": x[:3], "label": labels[:3]})
    padded = step(state, {"inputs": x, "label": labels,
                          "mask": jnp.array([1.0, 1.0, 1.0, 0.0])})
    assert float(padded["count"]) == 3.0
    assert float(padded["loss"]) == pytest.approx(float(real["loss"]), rel=1e-6)


# One model and one optimiser for both modes and all folds: the jitted steps are
# cached on the TrainState's static fields, and a new optax.adam per fold would
# compile the train step again for every fold. The initialisation is jitted too
# (one program, not an eager op per parameter). All for speed.
_TOY_MODEL = ShallowCNN(features=(4,), hidden=8, dropout_rate=0.2)
_TOY_TX = optax.adam(1e-2)
_toy_init = jax.jit(lambda key: TrainState.create(
    model=_TOY_MODEL, rng=key, example_inputs=jnp.zeros((1, 8, 8, 3)), tx=_TOY_TX,
    objective=losses.binary_classification))


def _toy_cv(mode):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 60).astype(np.int32)
    images = (rng.normal(size=(60, 8, 8, 3)) + 3.0 * labels[:, None, None, None]).astype(np.float32)
    source = ArraySource({"image": images, "label": labels})
    make_state = lambda key, steps: _toy_init(key)
    from jaxdl.data.splits import kfold_splits
    return cross_validate(make_state=make_state, source=source,
                          splits=kfold_splits(60, 3, seed=0),
                          transform=lambda ex: {"inputs": ex["image"], "label": ex["label"]},
                          global_batch_size=10, epochs=2, seed=0, rng=jax.random.key(0),
                          mode=mode, eval_batch_size=16, progress=False)


def test_vmapped_folds_equal_sequential_folds():
    vmapped, sequential = _toy_cv("vmap"), _toy_cv("sequential")
    assert vmapped.steps_per_fold == sequential.steps_per_fold == 8
    np.testing.assert_allclose(vmapped.scores, sequential.scores, atol=1e-6)
    for a, b in zip(vmapped.metrics, sequential.metrics):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-5)
    # Every fold learned the toy task (labels shift the inputs by 3 sd): its held-out
    # loss is well below ln 2 = 0.693, the loss of a model at chance.
    assert max(m["loss"] for m in vmapped.metrics) < 0.6
