"""Mixed precision: every case-study model computes in bfloat16 with `dtype=jnp.bfloat16`
while its parameters, batch-norm statistics, outputs and losses stay float32.

Each model is built twice, in float32 and in bfloat16, and both are applied to the
SAME float32 parameters (fixed, from numpy's generator) on fixed inputs. The
relative errors of bfloat16 against float32 (loss: |l16 - l32| / |l32|; gradients:
the global ||g16 - g32|| / ||g32|| over all parameter leaves) were measured on
these very inputs on XLA's CPU backend and are stated next to each tolerance:
losses agree to better than 1e-2, gradient tolerances are about twice the
measured error. At initialisation on a few examples gradients are sensitive to
any rounding, so each gradient error is compared with a float32 "floor" in the
comments: how far float32's own gradient moves when the inputs are rounded by
half a bfloat16 ulp.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import losses
from jaxdl.config import ConfigError
from jaxdl.models import layers
from jaxdl.models.layers import COMPUTE_DTYPES, ExampleDropout, compute_dtype, conv, pool_2x2
from jaxdl.tasks.day_night.model import ShallowCNN
from jaxdl.tasks.faces.model import ResNetEncoder
from jaxdl.tasks.style import transfer as style_transfer
from jaxdl.tasks.style.vgg import init_vgg19
from jaxdl.tasks.trigger_word.model import TriggerWordModel


# -- helpers ------------------------------------------------------------------------
def _flat(tree) -> jax.Array:
    return jnp.concatenate([jnp.ravel(a).astype(jnp.float32) for a in jax.tree.leaves(tree)])


def _relative_l2(got, want) -> float:
    """||got - want|| / ||want|| over all leaves of two pytrees of one structure."""
    assert jax.tree.structure(got) == jax.tree.structure(want)
    want = _flat(want)
    return float(jnp.linalg.norm(_flat(got) - want) / jnp.linalg.norm(want))


def _dtypes(tree) -> set[str]:
    return {str(a.dtype) for a in jax.tree.leaves(tree)}


def _subjaxprs(value):
    """The jaxprs inside an equation's parameter (scan bodies, custom_vjp calls, pjit)."""
    if hasattr(value, "eqns"):
        yield value
    elif hasattr(value, "jaxpr") and hasattr(value.jaxpr, "eqns"):
        yield value.jaxpr
    elif isinstance(value, (tuple, list)):
        for v in value:
            yield from _subjaxprs(v)


def _ops(jaxpr) -> set[tuple[str, str]]:
    """{(primitive, dtype of its first operand)} over a jaxpr and every jaxpr nested
    in it."""
    found = set()
    for eqn in jaxpr.eqns:
        if eqn.invars and hasattr(eqn.invars[0].aval, "dtype"):
            found.add((eqn.primitive.name, str(eqn.invars[0].aval.dtype)))
        for value in eqn.params.values():
            for sub in _subjaxprs(value):
                found |= _ops(sub)
    return found


def _numpy_variables(shapes, seed: int = 0) -> dict:
    """Variables of the given shapes from numpy's generator (jitting a model's own
    init compiles one random program per parameter: seconds per model on CPU):
    kernels LeCun-normal, batch-norm scales and variances 1, biases and means 0."""
    rng = np.random.default_rng(seed)

    def make(path, leaf):
        name = path[-1].key
        if name == "kernel":
            fan_in = int(np.prod(leaf.shape[:-1]))
            return jnp.asarray(rng.standard_normal(leaf.shape, np.float32) / np.sqrt(fan_in))
        if name in ("scale", "var"):
            return jnp.ones(leaf.shape, leaf.dtype)
        return jnp.zeros(leaf.shape, leaf.dtype)
    return jax.tree_util.tree_map_with_path(make, shapes)


def _compare(make, inputs, batch, objective, seed: int = 0):
    """Builds make(jnp.float32) and make(jnp.bfloat16), applies both in training mode
    (batch norm mutable, dropout on) to the same float32 variables, checks dtypes,
    and returns (relative loss error, relative gradient error, the two models'
    forward-and-backward jaxpr ops)."""
    m32, m16 = make(jnp.float32), make(jnp.bfloat16)
    init = lambda model: jax.eval_shape(functools.partial(model.init, train=False),
                                        jax.random.key(0), inputs)
    shapes = init(m32)
    # (a) parameters and statistics are float32 whatever the compute dtype.
    assert _dtypes(shapes) == _dtypes(init(m16)) == {"float32"}
    assert jax.tree.structure(init(m16)) == jax.tree.structure(shapes)
    v32 = _numpy_variables(shapes, seed)
    rest = {k: v for k, v in v32.items() if k != "params"}

    def objective_of(model, params):
        outputs, mutated = model.apply({"params": params, **rest}, inputs, train=True,
                                       mutable=["batch_stats"],
                                       rngs={"dropout": jax.random.key(1)})
        loss, _ = objective(outputs, batch)
        return loss, (outputs, mutated)

    results = {}
    ops = {}
    for name, model in (("float32", m32), ("bfloat16", m16)):
        fn = jax.value_and_grad(functools.partial(objective_of, model), has_aux=True)
        traced = jax.jit(fn).trace(v32["params"])  # traced once: run and inspected
        ops[name] = _ops(traced.jaxpr.jaxpr)
        (loss, (outputs, mutated)), grads = traced.lower().compile()(v32["params"])
        # (b) outputs, losses, gradients and updated statistics are float32.
        assert outputs.dtype == jnp.float32 and loss.dtype == jnp.float32
        assert _dtypes(grads) == {"float32"}
        assert _dtypes(mutated) <= {"float32"}
        assert jax.tree.structure(mutated) == jax.tree.structure(
            {k: v for k, v in rest.items() if k == "batch_stats"})
        results[name] = (loss, grads)
    (l32, g32), (l16, g16) = results["float32"], results["bfloat16"]
    assert np.isfinite(float(l16))
    loss_error = abs(float(l16) - float(l32)) / abs(float(l32))
    return loss_error, _relative_l2(g16, g32), ops


def _check_compute_dtypes(ops, primitives):
    """(d) the bfloat16 model runs each of `primitives` in bfloat16 (forward and
    backward), the float32 model none: the test fails if dtype were ignored."""
    for primitive in primitives:
        assert (primitive, "bfloat16") in ops["bfloat16"], (primitive, ops["bfloat16"])
        assert (primitive, "float32") in ops["float32"]
    assert not any(dtype == "bfloat16" for _, dtype in ops["float32"])


# -- the four case studies' models ---------------------------------------------------
# The inputs carry their labels (day scenes brighter, one colour per identity): with
# labels independent of the inputs, the gradient at initialisation is a difference
# of nearly equal class averages, so ill-conditioned that rounding the inputs by half
# a bfloat16 ulp (2^-9 relative) moves it by 10-30% in float32 alone. Below, "f32
# floor" is that move (float32, inputs x (1 +- 2^-9)), measured on the same case:
# bfloat16's errors are of its order.
def test_shallow_cnn_bfloat16():
    rng = np.random.default_rng(0)
    labels = np.array([0, 1] * 4)
    x = rng.standard_normal((8, 16, 16, 3), np.float32) + 0.5 * (2 * labels - 1)[:, None, None, None]
    loss_error, grad_error, ops = _compare(
        lambda d: ShallowCNN(features=(8, 16), hidden=16, batch_norm=True, dtype=d),
        jnp.asarray(x, jnp.float32), {"label": jnp.asarray(labels)},
        losses.binary_classification)
    assert loss_error < 2e-2    # measured 6.4e-4
    assert grad_error < 8e-2    # measured 4.0e-2 (2.0-3.3e-2 for 4 other draws); f32 floor 4.8e-2
    _check_compute_dtypes(ops, ["conv_general_dilated", "dot_general"])


def test_face_encoder_bfloat16():
    rng = np.random.default_rng(0)
    p, k = 4, 2  # identities x images per identity
    x = rng.standard_normal((p, 1, 1, 1, 3)) + 0.3 * rng.standard_normal((p, k, 16, 16, 3))
    loss_error, grad_error, ops = _compare(
        lambda d: ResNetEncoder(stage_features=(8, 16), blocks_per_stage=(1, 1),
                                embedding_dim=16, dtype=d),
        jnp.asarray(x.reshape(p * k, 16, 16, 3), jnp.float32),
        {"identity": jnp.repeat(jnp.arange(p), k)},
        losses.triplet_objective(0.4, "batch_hard", False))
    assert loss_error < 2e-2    # measured 3.1e-4
    # measured 5.7e-2 (3.4-9.0e-2 for 4 other draws); f32 floor 4.6e-2. At
    # initialisation the unit embeddings are close together (squared distances of
    # a few hundredths), and the triplet loss's gradient is a difference of them.
    assert grad_error < 0.12
    _check_compute_dtypes(ops, ["conv_general_dilated", "dot_general"])


def test_trigger_word_model_bfloat16():
    rng = np.random.default_rng(0)
    model = lambda d: TriggerWordModel(conv_features=16, kernel=15, stride=4,
                                       gru_features=(16, 16), dtype=d)
    # More output positions (8 x 28) than the convolution's fan-in (15 x 8): with
    # fewer, the batch-normalised convolution's kernel gradient is ill-conditioned
    # (4 x 12 positions for a fan-in of 15 x 12 moved it by 5% in float32 alone).
    x = rng.standard_normal((8, 124, 8), np.float32)
    labels = rng.integers(0, 2, (8, model(jnp.float32).output_steps(124)))
    loss_error, grad_error, ops = _compare(
        model, jnp.asarray(x), {"labels": jnp.asarray(labels, jnp.float32)},
        losses.per_step_binary_classification(1.0))
    assert loss_error < 2e-2    # measured 1.6e-5
    assert grad_error < 5e-2    # measured 2.1e-2 (1.1-5.1e-2 for 4 other draws); f32 floor 1.5e-2
    # the GRUs' matmuls (inside the scan) are bfloat16 too; their state is float32
    _check_compute_dtypes(ops, ["conv_general_dilated", "dot_general"])


def test_vgg19_style_transfer_bfloat16():
    widths = (8, 8, 16, 16, 16)
    params = init_vgg19(0, widths=widths, probe_size=32)
    contents = jax.random.uniform(jax.random.key(10), (1, 32, 32, 3))
    style = jax.random.uniform(jax.random.key(11), (36, 36, 3))
    image = jax.random.uniform(jax.random.key(12), (32, 32, 3), jnp.float32, 0.2, 0.8)
    results, ops = {}, {}
    for dtype in COMPUTE_DTYPES:
        problem = style_transfer.StyleProblem(widths=widths, gamma=1.0, dtype=dtype)
        assert problem.network.dtype == compute_dtype(dtype)
        # each problem's targets from its own network, as a run computes them; the
        # features come out float32, so the Gram matrices are taken in float32
        targets = jax.tree.map(lambda t: t[0], style_transfer.compute_targets(
            problem, params, contents, [style]))
        assert _dtypes(targets) == {"float32"}
        fn = jax.value_and_grad(
            lambda p, im: style_transfer.total_loss(problem, p, im, targets), argnums=(0, 1))
        traced = jax.jit(fn).trace(params, image)
        ops[dtype] = _ops(traced.jaxpr.jaxpr)
        loss, (g_params, g_image) = traced.lower().compile()(params, image)
        assert loss.dtype == jnp.float32 and g_image.dtype == jnp.float32
        assert _dtypes(g_params) == {"float32"}
        results[dtype] = (loss, g_params, g_image)
    (l32, gp32, gi32), (l16, gp16, gi16) = results["float32"], results["bfloat16"]
    assert abs(float(l16) - float(l32)) / float(l32) < 2e-2   # measured 2.0e-3
    # Parameters: measured 4.2e-2. Gradients through 13 convolutions and ReLUs are
    # sensitive: in float32, rounding the image by 2^-9 relative (half a bfloat16
    # ulp) moves this one by 1.3-3.2%.
    assert _relative_l2(gp16, gp32) < 0.1
    # The gradient style transfer follows, w.r.t. the pixels: measured 0.17; the
    # same 2^-9 rounding moves it by 9-17% in float32 ("shattered" gradients of a
    # random ReLU network), so bfloat16 adds about as much as input rounding does.
    assert _relative_l2(gi16, gi32) < 0.35
    _check_compute_dtypes(ops, ["conv_general_dilated"])


def test_style_transfer_config_threads_the_dtype():
    from experiments import style_transfer as experiment
    from jaxdl.config import load_config

    config = load_config("configs/style_transfer.py:quick")
    assert config.train.dtype == "float32"
    assert experiment.build_problem(config, "torchvision").network.dtype == jnp.float32
    config.train.dtype = "bfloat16"
    experiment.check_config(config)
    assert experiment.build_problem(config, "torchvision").network.dtype == jnp.bfloat16
    config.train.dtype = "float16"
    with pytest.raises(ConfigError, match="loss scaling"):
        experiment.check_config(config)


# -- compute_dtype and the shared layers ----------------------------------------------
def test_compute_dtype_names():
    assert COMPUTE_DTYPES == ("float32", "bfloat16")
    assert compute_dtype("float32") == jnp.float32
    assert compute_dtype("bfloat16") == jnp.bfloat16
    with pytest.raises(ConfigError) as error:
        compute_dtype("float16")
    message = str(error.value)
    assert "loss scaling" in message and "bfloat16" in message and "\n" not in message
    assert error.value.exit_code == 2
    for bad in ("fp32", "bf16", "float64", ""):
        with pytest.raises(ConfigError, match="float32, bfloat16"):
            compute_dtype(bad)


@pytest.mark.parametrize("shapes", [
    ((16, 9, 9, 4), (3, 3, 4, 8), (1, 1), "SAME", ("NHWC", "HWIO", "NHWC")),
    ((16, 40, 5), (15, 5, 6), (4,), "VALID", ("NWC", "WIO", "NWC")),
])
def test_conv_in_bfloat16(shapes, monkeypatch):
    # XLA's CPU backend runs bfloat16 convolutions and their gradients. The kernel
    # gradient here is summed over 16 chunks of one example (the CPU path): as the
    # chunks' sums are added in float32, it is about as close to the float32
    # gradient as the unchunked bfloat16 convolution's: relative errors measured
    # 2.2e-3 and 2.3e-3 against the unchunked 1.7e-3 (added in bfloat16, 4.5e-3 and
    # 5.2e-3). Eager on purpose: under jit XLA may keep the sums in float32 itself.
    monkeypatch.setattr(layers, "FILTER_GRAD_POSITIONS", 8)
    xs, ws, strides, padding, numbers = shapes
    rng = np.random.default_rng(3)
    x = jnp.asarray(rng.standard_normal(xs), jnp.bfloat16)
    w = jnp.asarray(rng.standard_normal(ws), jnp.bfloat16)
    kw = dict(dimension_numbers=numbers)
    out = conv(x, w, strides, padding, **kw)
    assert out.dtype == jnp.bfloat16
    np.testing.assert_array_equal(
        out, jax.lax.conv_general_dilated(x, w, strides, padding, **kw))
    dy = jnp.asarray(rng.standard_normal(out.shape), jnp.bfloat16)

    def grads(fn, x, w, dy):  # (d_x, d_w) for the cotangent dy
        return jax.vjp(lambda x, w: fn(x, w, strides, padding, **kw), x, w)[1](dy)

    got = grads(conv, x, w, dy)
    plain = grads(jax.lax.conv_general_dilated, x, w, dy)
    exact = grads(jax.lax.conv_general_dilated, *(a.astype(jnp.float32) for a in (x, w, dy)))
    for g, p, e in zip(got, plain, exact):
        assert g.dtype == jnp.bfloat16
        assert _relative_l2(g, e) < 1e-2
        assert _relative_l2(g, e) <= 2.0 * _relative_l2(p, e)


def test_pool_and_dropout_keep_bfloat16():
    x = jnp.asarray(np.random.default_rng(4).standard_normal((2, 6, 6, 3)), jnp.bfloat16)
    for kind in ("max", "avg"):
        assert pool_2x2(x, kind).dtype == jnp.bfloat16
    np.testing.assert_array_equal(pool_2x2(x, "max"),
                                  pool_2x2(x.astype(jnp.float32), "max").astype(jnp.bfloat16))
    dropout = ExampleDropout(0.3)
    y = dropout.apply({}, x, deterministic=False, rngs={"dropout": jax.random.key(0)})
    assert y.dtype == jnp.bfloat16
    kept = y != 0
    np.testing.assert_array_equal(y[kept], (x / 0.7)[kept])
