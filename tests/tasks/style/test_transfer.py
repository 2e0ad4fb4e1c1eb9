"""Neural style transfer: losses on hand-computed cases, the VGG19, gradients,
vmapped batches, and the experiment end to end on a tiny config."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jaxdl import losses
from jaxdl.tasks.style import transfer as st
from jaxdl.tasks.style import vgg

NARROW = (4, 8, 8, 8, 8)
# One Adam for all the stylize tests: `st.batched_step` caches its jitted step per
# (problem, optimiser), so tests with the same image shapes share one compilation.
ADAM = st.make_optimizer("adam", 0.05)


# -- losses on hand-computed cases ------------------------------------------------
def test_gram_matrix_by_hand():
    # 1 x 2 positions, 2 channels: a = [[1, 2], [3, 4]] (rows: positions).
    a = jnp.asarray([[[1.0, 2.0], [3.0, 4.0]]])  # [H=1, W=2, C=2]
    # G = A A^T with A = [nC, nH nW] = [[1, 3], [2, 4]].
    expected = np.asarray([[1 + 9, 2 + 12], [2 + 12, 4 + 16]], np.float32)
    np.testing.assert_allclose(losses.gram_matrix(a), expected)
    np.testing.assert_allclose(losses.gram_matrix(a, normalize=True), expected / 2)
    # Batched: leading axes are kept.
    batch = jnp.stack([a, 2 * a])
    np.testing.assert_allclose(losses.gram_matrix(batch), np.stack([expected, 4 * expected]))


def test_content_loss_by_hand():
    a_c = jnp.zeros((2, 1, 3))
    a_g = jnp.asarray([[[1.0, 0.0, 2.0]], [[0.0, 1.0, 0.0]]])  # squared sum = 6
    # 6 / (4 * nH 2 * nW 1 * nC 3) = 6 / 24
    np.testing.assert_allclose(losses.content_loss(a_c, a_g), 0.25)


def test_style_layer_loss_matches_course_formula():
    rng = np.random.default_rng(0)
    a_s = rng.normal(size=(3, 2, 4)).astype(np.float32)
    a_g = rng.normal(size=(3, 2, 4)).astype(np.float32)
    # The course: sum (G_S - G_G)^2 / (4 nC^2 (nH nW)^2), written out with numpy.
    A_s, A_g = a_s.reshape(6, 4).T, a_g.reshape(6, 4).T
    G_s, G_g = A_s @ A_s.T, A_g @ A_g.T
    course = np.sum((G_s - G_g) ** 2) / (4 * 4 ** 2 * 6 ** 2)
    got = losses.style_layer_loss(losses.gram_matrix(a_s, normalize=True),
                                  losses.gram_matrix(a_g, normalize=True))
    np.testing.assert_allclose(got, course, rtol=1e-5)


def test_style_layer_loss_tiny_case():
    # One channel, one position: G = a^2. (4 - 1)^2 / (4 * 1 * 1) = 9 / 4.
    a_s, a_g = jnp.full((1, 1, 1), 2.0), jnp.full((1, 1, 1), 1.0)
    got = losses.style_layer_loss(losses.gram_matrix(a_s), losses.gram_matrix(a_g))
    np.testing.assert_allclose(got, 2.25)


def test_style_loss_weights_layers():
    acts = {"a": jnp.full((1, 1, 1), 1.0), "b": jnp.full((1, 1, 1), 3.0)}
    style = {"a": jnp.full((1, 1), 4.0), "b": jnp.full((1, 1), 9.0)}
    # layer a: (4 - 1)^2 / 4 = 2.25; layer b: (9 - 9)^2 = 0.
    np.testing.assert_allclose(losses.style_loss(style, acts, {"a": 0.5, "b": 0.5}), 1.125)
    np.testing.assert_allclose(losses.style_loss(style, acts, {"a": 0.0, "b": 1.0}), 0.0)


def test_total_variation_by_hand():
    image = jnp.asarray([[0.0, 1.0], [0.0, 3.0]])[..., None]  # [2, 2, 1]
    # vertical: (0-0)^2, (3-1)^2 -> mean 2; horizontal: (1-0)^2, (3-0)^2 -> mean 5.
    np.testing.assert_allclose(losses.total_variation_loss(image), 7.0)
    np.testing.assert_allclose(losses.total_variation_loss(jnp.ones((5, 7, 3))), 0.0)


# -- colour handling ---------------------------------------------------------------
def test_yiq_round_trip_and_grey_has_no_chroma():
    rgb = jax.random.uniform(jax.random.key(0), (8, 8, 3))
    np.testing.assert_allclose(st.yiq_to_rgb(st.rgb_to_yiq(rgb)), rgb, atol=1e-5)
    grey = jnp.full((2, 2, 3), 0.4)
    yiq = st.rgb_to_yiq(grey)
    np.testing.assert_allclose(yiq[..., 0], 0.4, atol=1e-6)
    np.testing.assert_allclose(yiq[..., 1:], 0.0, atol=1e-6)


def test_with_content_colours_keeps_chroma_and_takes_luminance():
    content = jax.random.uniform(jax.random.key(1), (6, 6, 3), minval=0.3, maxval=0.7)
    y = st.luminance(content) + 0.05
    out = st.with_content_colours(y, content)
    np.testing.assert_allclose(st.luminance(out), y, atol=1e-5)
    np.testing.assert_allclose(st.rgb_to_yiq(out)[..., 1:], st.rgb_to_yiq(content)[..., 1:],
                               atol=1e-5)


def test_match_luminance_moments():
    style = jax.random.uniform(jax.random.key(2), (10, 10, 1))
    content = 0.5 + 0.1 * jax.random.normal(jax.random.key(3), (10, 10, 1))
    m = st.match_luminance(style, content)
    np.testing.assert_allclose(jnp.mean(m), jnp.mean(content), atol=1e-3)
    np.testing.assert_allclose(jnp.std(m), jnp.std(content), rtol=1e-2)


# -- the feature network -----------------------------------------------------------
@pytest.fixture(scope="module")
def narrow_vgg():
    return vgg.init_vgg19(0, widths=NARROW, probe_size=32)


def _apply(module, params, x):
    """module.apply, jitted: one compiled program instead of a few dozen eager ops
    (for speed)."""
    return jax.jit(module.apply)(params, x)


def test_vgg19_layers_and_shapes(narrow_vgg):
    # Eager on purpose: jit would return the layers sorted by name, not in order.
    acts = vgg.VGG19(widths=NARROW).apply(narrow_vgg, jnp.zeros((2, 32, 32, 3)))
    assert tuple(acts) == vgg.VGG19_LAYERS
    assert len(vgg.VGG19_CONVS) == 16 and len(narrow_vgg["params"]) == 16
    assert acts["conv1_1"].shape == (2, 32, 32, 4)
    assert acts["conv4_2"].shape == (2, 4, 4, 8)
    assert acts["pool5"].shape == (2, 1, 1, 8)
    # Full VGG19 shapes without computing anything.
    full = jax.eval_shape(lambda: vgg.VGG19().init(jax.random.key(0),
                                                   jnp.zeros((1, 32, 32, 3))))
    assert full["params"]["conv1_1"]["kernel"].shape == (3, 3, 3, 64)
    assert full["params"]["conv5_4"]["kernel"].shape == (3, 3, 512, 512)
    n = sum(np.prod(x.shape) for x in jax.tree.leaves(full))
    assert n == 20_024_384  # VGG19's convolutions (torchvision's features)


def test_vgg19_stops_at_deepest_requested_layer(narrow_vgg):
    x = jax.random.uniform(jax.random.key(0), (16, 16, 3))
    few = vgg.VGG19(widths=NARROW, outputs=("conv2_1", "conv1_1")).apply(narrow_vgg, x)
    assert set(few) == {"conv1_1", "conv2_1"} and few["conv2_1"].shape == (8, 8, 8)
    allx = vgg.VGG19(widths=NARROW).apply(narrow_vgg, x)
    np.testing.assert_array_equal(few["conv2_1"], allx["conv2_1"])
    with pytest.raises(ValueError, match="unknown VGG19 layer"):
        vgg.deepest_layer(["conv6_1"])


def test_vgg19_pooling_and_preprocessing(narrow_vgg):
    x = jax.random.uniform(jax.random.key(0), (1, 8, 8, 3))
    avg = _apply(vgg.VGG19(widths=NARROW, outputs=("pool1",), pooling="avg"), narrow_vgg, x)
    mx = _apply(vgg.VGG19(widths=NARROW, outputs=("pool1",), pooling="max"), narrow_vgg, x)
    assert np.all(np.asarray(mx["pool1"]) >= np.asarray(avg["pool1"]) - 1e-6)
    assert not np.allclose(mx["pool1"], avg["pool1"])
    # torchvision: (x - mean) / std; caffe: BGR * 255 - mean.
    px = jnp.asarray([[[0.485, 0.456, 0.406]]])
    np.testing.assert_allclose(vgg.preprocess(px, "torchvision"), 0.0, atol=1e-6)
    np.testing.assert_allclose(vgg.preprocess(jnp.asarray([[[1.0, 0.0, 0.0]]]), "caffe"),
                               [[[-103.939, -116.779, 255 - 123.68]]], rtol=1e-6)


def test_random_vgg19_deterministic_and_variance_kept():
    a = vgg.init_vgg19(3, widths=NARROW, probe_size=32)
    b = vgg.init_vgg19(3, widths=NARROW, probe_size=32)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(x, y)
    c = vgg.init_vgg19(4, widths=NARROW, probe_size=32)
    assert not np.array_equal(a["params"]["conv1_1"]["kernel"],
                              c["params"]["conv1_1"]["kernel"])
    # On the calibration probe every conv layer's ReLU output has mean square 1.
    probe = vgg._probe_images(3, 32)
    acts = _apply(vgg.VGG19(widths=NARROW), a, probe)
    for name in vgg.VGG19_CONVS:
        np.testing.assert_allclose(float(jnp.mean(acts[name] ** 2)), 1.0, rtol=1e-3)


# -- the objective and its gradient ---------------------------------------------------
def _tiny_problem(**kw):
    return st.StyleProblem(widths=NARROW, gamma=1.0, **kw)


def _tiny_inputs(n=1, size=16):
    contents = jax.random.uniform(jax.random.key(10), (n, size, size, 3))
    style = jax.random.uniform(jax.random.key(11), (size + 8, size + 4, 3))
    return contents, style


def test_total_loss_gradient_matches_finite_differences(narrow_vgg):
    problem = _tiny_problem()
    contents, style = _tiny_inputs()
    targets = st.compute_targets(problem, narrow_vgg, contents, [style])
    one = jax.tree.map(lambda t: t[0], targets)
    image = jax.random.uniform(jax.random.key(12), (16, 16, 3), jnp.float32, 0.2, 0.8)
    # float64 so that finite differences are exact enough to compare with.
    with jax.enable_x64(True):
        params64 = jax.tree.map(lambda p: jnp.asarray(p, jnp.float64), narrow_vgg)
        one64 = jax.tree.map(lambda t: jnp.asarray(t, jnp.float64), one)
        f = jax.jit(lambda x: st.total_loss(problem, params64, x, one64))
        # eps small enough that few ReLUs change sides between the two evaluations.
        check_grads(f, (jnp.asarray(image, jnp.float64),), order=1, modes=("rev",), eps=1e-6,
                    atol=1e-4, rtol=1e-4)


def test_loss_terms_weighting(narrow_vgg):
    problem = _tiny_problem(alpha=2.0, beta=3.0)
    contents, style = _tiny_inputs()
    targets = jax.tree.map(lambda t: t[0], st.compute_targets(problem, narrow_vgg,
                                                              contents, [style]))
    loss_terms = jax.jit(functools.partial(st.loss_terms, problem))  # one program: faster
    loss, terms = loss_terms(narrow_vgg, contents[0] * 0.5, targets)
    np.testing.assert_allclose(loss, 2 * terms["content_loss"] + 3 * terms["style_loss"]
                               + 1 * terms["tv_loss"], rtol=1e-6)
    # At the content image itself the content term is exactly 0.
    _, at_content = loss_terms(narrow_vgg, contents[0], targets)
    assert float(at_content["content_loss"]) == 0.0


def test_style_blend_is_weighted_gram_average(narrow_vgg):
    problem = _tiny_problem()
    contents, s1 = _tiny_inputs()
    s2 = jax.random.uniform(jax.random.key(20), (16, 20, 3))
    blended = st.compute_targets(problem, narrow_vgg, contents, [s1, s2], [3.0, 1.0])
    only1 = st.compute_targets(problem, narrow_vgg, contents, [s1])
    only2 = st.compute_targets(problem, narrow_vgg, contents, [s2])
    for layer in blended["grams"]:
        np.testing.assert_allclose(blended["grams"][layer],
                                   0.75 * only1["grams"][layer] + 0.25 * only2["grams"][layer],
                                   rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="non-negative"):
        st.compute_targets(problem, narrow_vgg, contents, [s1, s2], [1.0, -1.0])


# -- optimisation ------------------------------------------------------------------------
def _driver_problem(**kw):
    """The tiny problem on two blocks of the network, not five: what `stylize` does
    (steps, vmapping, snapshots, colours) does not depend on the depth, and the
    shallow network's steps compile seconds faster (L-BFGS's line search, which
    evaluates the loss inside its loops, most). The experiment's test runs all five."""
    return _tiny_problem(content_layer="conv2_2",
                         style_layers=(("conv1_1", 0.5), ("conv2_1", 0.5)), **kw)


@pytest.mark.parametrize("optimizer", ["adam", "lbfgs"])
def test_steps_lower_the_loss_and_keep_pixels_in_range(narrow_vgg, optimizer):
    problem = _driver_problem()
    contents, style = _tiny_inputs()
    tx = ADAM if optimizer == "adam" else st.make_optimizer(optimizer, 0.05)
    result = st.stylize(problem, narrow_vgg, contents, [style], scales=(24,),
                        iterations=(8,), tx=tx,
                        key=jax.random.key(0), init="mix", log_every=4, snapshot_every=4)
    assert result.final["loss"][0] < 0.5 * result.initial["loss"][0]
    assert result.images.min() >= 0.0 and result.images.max() <= 1.0
    assert [s for s, _ in result.snapshots] == [4, 8]
    assert [r["step"] for r in result.history] == [1, 4, 8]


def test_vmapped_batch_equals_one_by_one(narrow_vgg):
    problem = _driver_problem()
    contents, style = _tiny_inputs(n=2, size=24)
    kw = dict(scales=(24,), iterations=(4,), tx=ADAM,
              key=jax.random.key(0), init="content")
    together = st.stylize(problem, narrow_vgg, contents, [style], **kw)
    for i in range(2):
        alone = st.stylize(problem, narrow_vgg, contents[i:i + 1], [style], **kw)
        np.testing.assert_allclose(together.images[i], alone.images[0], atol=2e-5)
        np.testing.assert_allclose(together.final["loss"][i], alone.final["loss"][0],
                                   rtol=1e-4)


def test_per_image_styles_equal_separate_runs(narrow_vgg):
    problem = _driver_problem()
    contents, s1 = _tiny_inputs(size=24)
    s2 = jax.random.uniform(jax.random.key(21), (24, 24, 3))
    kw = dict(scales=(24,), iterations=(3,), tx=ADAM,
              key=jax.random.key(0))
    both = st.stylize(problem, narrow_vgg, jnp.repeat(contents, 2, 0), [s1, s2],
                      per_image_styles=True, **kw)
    for i, s in enumerate([s1, s2]):
        alone = st.stylize(problem, narrow_vgg, contents, [s], **kw)
        np.testing.assert_allclose(both.images[i], alone.images[0], atol=2e-5)
    with pytest.raises(ValueError, match="one style per image"):
        st.stylize(problem, narrow_vgg, contents, [s1, s2], per_image_styles=True, **kw)


def test_keep_colours_output_has_content_chroma(narrow_vgg):
    problem = _driver_problem(luminance_only=True)
    contents, style = _tiny_inputs(size=24)
    contents = 0.25 + 0.5 * contents  # chroma that survives the [0, 1] clip
    result = st.stylize(problem, narrow_vgg, contents, [style], scales=(24,),
                        iterations=(4,), tx=st.make_optimizer("adam", 0.02),
                        key=jax.random.key(0))
    np.testing.assert_allclose(st.rgb_to_yiq(result.images[0])[..., 1:],
                               st.rgb_to_yiq(contents[0])[..., 1:], atol=2e-2)


def test_initial_images():
    contents = jnp.full((1, 4, 4, 3), 0.5)
    key = jax.random.key(0)
    np.testing.assert_array_equal(st.initial_images(contents, key, "content"), contents)
    noise = st.initial_images(contents, key, "noise")
    mix = st.initial_images(contents, key, "mix", 0.25)
    np.testing.assert_allclose(mix, 0.75 * 0.5 + 0.25 * noise, rtol=1e-6)
    with pytest.raises(ValueError, match="unknown init"):
        st.initial_images(contents, key, "zeros")


def test_too_small_image_is_refused_not_nan(narrow_vgg):
    problem = _tiny_problem()
    contents, style = _tiny_inputs()
    with pytest.raises(ValueError, match="at least 16 pixels a side"):
        st.compute_targets(problem, narrow_vgg, contents, [style[:10]])
    with pytest.raises(ValueError, match="content image is 8x8"):
        st.compute_targets(problem, narrow_vgg, contents[:, :8, :8], [style])


def test_scale_shape():
    assert st.scale_shape((256, 256), 128) == (128, 128)
    assert st.scale_shape((300, 600), 256) == (128, 256)
    assert st.scale_shape((1000, 10), 64) == (64, 1)
