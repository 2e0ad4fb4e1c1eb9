"""Pretrained VGG19 weight files: torchvision safetensors and Keras HDF5 -> flax tree."""

from __future__ import annotations

import h5py
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from safetensors.numpy import save_file

from jaxdl.tasks.style.vgg import VGG19, VGG19_CONVS
from jaxdl.tasks.style.vgg_weights import (TORCHVISION_CONV_INDICES, WeightsError,
                                      WeightsFileNotFoundError, expected_shapes,
                                      load_keras_h5, load_torchvision_safetensors,
                                      load_vgg19_weights, save_torchvision_safetensors)

WIDTHS = (4, 8, 8, 8, 8)


def random_tree(widths=WIDTHS, seed=0):
    """Random He-scaled kernels and nonzero biases (so a bias mix-up shows); numpy only,
    much cheaper than `init_vgg19`, which compiles the network 16 times."""
    rng = np.random.default_rng(seed)
    params = {}
    for name, shapes in expected_shapes(widths).items():
        fan_in = shapes["kernel"][0] * shapes["kernel"][1] * shapes["kernel"][2]
        kernel = rng.normal(size=shapes["kernel"]) * np.sqrt(2.0 / fan_in)
        params[name] = {
            "kernel": kernel.astype(np.float32),
            "bias": rng.normal(scale=0.1, size=shapes["bias"]).astype(np.float32),
        }
    return {"params": params}


@pytest.fixture(scope="module")
def tree():
    return random_tree(seed=0)


def torch_layout(tree, prefix="features.", dtype=np.float32):
    """The tree in torchvision layout, written by hand (independent of the module)."""
    tensors = {}
    for name, index in zip(VGG19_CONVS, TORCHVISION_CONV_INDICES):
        layer = tree["params"][name]
        tensors[f"{prefix}{index}.weight"] = np.ascontiguousarray(
            layer["kernel"].transpose(3, 2, 0, 1)).astype(dtype)
        tensors[f"{prefix}{index}.bias"] = layer["bias"].astype(dtype)
    return tensors


def assert_same_tree(loaded, tree):
    assert set(loaded) == {"params"}
    assert list(loaded["params"]) == list(VGG19_CONVS)
    for name in VGG19_CONVS:
        for role in ("kernel", "bias"):
            got, want = loaded["params"][name][role], tree["params"][name][role]
            assert got.dtype == np.float32
            assert got.shape == want.shape
            np.testing.assert_array_equal(got, want)


# ------------------------------------------------------------------- mapping


def test_full_size_shapes_and_torchvision_indices():
    shapes = expected_shapes()
    assert list(shapes) == list(VGG19_CONVS) and len(shapes) == 16
    assert shapes["conv1_1"] == {"kernel": (3, 3, 3, 64), "bias": (64,)}
    assert shapes["conv2_1"]["kernel"] == (3, 3, 64, 128)
    assert shapes["conv4_1"]["kernel"] == (3, 3, 256, 512)
    assert shapes["conv5_4"] == {"kernel": (3, 3, 512, 512), "bias": (512,)}
    # VGG19 has 20,024,384 parameters in its convolutions.
    total = sum(int(np.prod(s)) for layer in shapes.values() for s in layer.values())
    assert total == 20_024_384
    assert len(TORCHVISION_CONV_INDICES) == 16
    index_of = dict(zip(VGG19_CONVS, TORCHVISION_CONV_INDICES))
    assert index_of["conv1_1"] == 0
    assert index_of["conv1_2"] == 2
    assert index_of["conv2_1"] == 5
    assert index_of["conv4_1"] == 19
    assert index_of["conv5_4"] == 34
    # Conv, ReLU (+ MaxPool after a block): convs are 2 apart, 3 across a pool.
    steps = np.diff(TORCHVISION_CONV_INDICES).tolist()
    assert steps == [2, 3, 2, 3, 2, 2, 2, 3, 2, 2, 2, 3, 2, 2, 2]


def test_expected_shapes_narrow():
    shapes = expected_shapes(WIDTHS)
    assert shapes["conv1_1"]["kernel"] == (3, 3, 3, 4)
    assert shapes["conv2_1"]["kernel"] == (3, 3, 4, 8)
    assert shapes["conv5_4"]["bias"] == (8,)
    with pytest.raises(ValueError):
        expected_shapes((4, 8, 8))


# --------------------------------------------------------------- torchvision


def test_torchvision_round_trip_by_hand(tree, tmp_path):
    tensors = torch_layout(tree)
    tensors["classifier.0.weight"] = np.ones((10, 7), np.float32)  # ignored
    path = tmp_path / "vgg19.safetensors"
    save_file(tensors, str(path))
    loaded = load_torchvision_safetensors(path, widths=WIDTHS)
    assert_same_tree(loaded, tree)
    # conv1_1's kernel element [dy, dx, c_in, c_out] is torch's weight[c_out, c_in, dy, dx].
    np.testing.assert_array_equal(loaded["params"]["conv1_1"]["kernel"][0, 2, 1, 3],
                                  tensors["features.0.weight"][3, 1, 0, 2])

    x = jnp.asarray(np.random.default_rng(2).uniform(size=(2, 32, 32, 3)), jnp.float32)
    model = VGG19(widths=WIDTHS, outputs=("conv5_4",))
    want = model.apply(tree, x)["conv5_4"]
    got = model.apply(loaded, x)["conv5_4"]
    assert float(jnp.mean(want ** 2)) > 1e-3
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_save_torchvision_safetensors_round_trip(tree, tmp_path):
    path = save_torchvision_safetensors(tree, tmp_path / "out.safetensors")
    assert path == tmp_path / "out.safetensors" and path.is_file()
    # The file is in torchvision layout, checked without the loader.
    from safetensors.numpy import load_file
    raw = load_file(str(path))
    assert set(raw) == {f"features.{i}.{r}" for i in TORCHVISION_CONV_INDICES
                        for r in ("weight", "bias")}
    np.testing.assert_array_equal(raw["features.34.weight"],
                                  tree["params"]["conv5_4"]["kernel"].transpose(3, 2, 0, 1))
    assert_same_tree(load_torchvision_safetensors(path, widths=WIDTHS), tree)
    # The inner dict is accepted too.
    path2 = save_torchvision_safetensors(tree["params"], tmp_path / "inner.safetensors")
    assert_same_tree(load_torchvision_safetensors(path2, widths=WIDTHS), tree)


@pytest.mark.parametrize("prefix", ["vgg19.features.", "model.features.", ""])
def test_prefixed_and_bare_keys(tree, tmp_path, prefix):
    tensors = torch_layout(tree, prefix=prefix)
    tensors[f"{prefix.replace('features.', '')}classifier.6.bias"] = np.zeros(3, np.float32)
    path = tmp_path / "vgg19.safetensors"
    save_file(tensors, str(path))
    assert_same_tree(load_torchvision_safetensors(path, widths=WIDTHS), tree)


def test_half_precision_is_upcast(tmp_path):
    tree = random_tree()
    for dtype in (np.float16, ml_dtypes.bfloat16):
        path = tmp_path / f"{np.dtype(dtype).name}.safetensors"
        save_file(torch_layout(tree, dtype=dtype), str(path))
        loaded = load_torchvision_safetensors(path, widths=WIDTHS)
        kernel = loaded["params"]["conv3_2"]["kernel"]
        assert kernel.dtype == np.float32
        want = tree["params"]["conv3_2"]["kernel"].astype(dtype).astype(np.float32)
        np.testing.assert_array_equal(kernel, want)


def test_wrong_shape_is_refused_with_key_and_shapes(tmp_path):
    tensors = torch_layout(random_tree())
    tensors["features.10.weight"] = np.zeros((8, 8, 5, 5), np.float32)
    path = tmp_path / "bad.safetensors"
    save_file(tensors, str(path))
    with pytest.raises(WeightsError) as info:
        load_torchvision_safetensors(path, widths=WIDTHS)
    message = str(info.value)
    assert "features.10.weight" in message
    assert "(8, 8, 3, 3)" in message and "(8, 8, 5, 5)" in message
    assert "bad.safetensors" in message


def test_full_size_file_against_narrow_widths_is_refused(tmp_path):
    tensors = torch_layout(random_tree(widths=(4, 8, 8, 8, 8)))
    path = tmp_path / "narrow.safetensors"
    save_file(tensors, str(path))
    with pytest.raises(WeightsError) as info:
        load_torchvision_safetensors(path)  # expects the full VGG19_WIDTHS
    expected = "features.0.weight: expected (64, 3, 3, 3), found (4, 3, 3, 3)"
    assert expected in str(info.value)


def test_missing_keys_are_all_named(tmp_path):
    tensors = torch_layout(random_tree())
    del tensors["features.34.weight"], tensors["features.34.bias"]
    del tensors["features.5.bias"]
    path = tmp_path / "partial.safetensors"
    save_file(tensors, str(path))
    with pytest.raises(WeightsError) as info:
        load_torchvision_safetensors(path, widths=WIDTHS)
    message = str(info.value)
    for key in ("features.34.weight", "features.34.bias", "features.5.bias"):
        assert key in message
    assert "features.5.weight" not in message
    assert "missing 3 key(s)" in message


def test_unrelated_safetensors_is_refused(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"encoder.weight": np.zeros((2, 2), np.float32)}, str(path))
    with pytest.raises(WeightsError) as info:
        load_torchvision_safetensors(path, widths=WIDTHS)
    assert "features.0.weight" in str(info.value) and "features.34.bias" in str(info.value)


def test_garbage_and_missing_files_are_refused(tmp_path):
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"this is not a safetensors file at all")
    with pytest.raises(WeightsError, match="garbage.safetensors"):
        load_torchvision_safetensors(garbage, widths=WIDTHS)
    with pytest.raises(WeightsError, match="garbage.safetensors"):
        load_vgg19_weights(garbage, widths=WIDTHS)
    absent = tmp_path / "absent.safetensors"
    with pytest.raises(FileNotFoundError, match="absent.safetensors"):
        load_vgg19_weights(absent)
    with pytest.raises(WeightsFileNotFoundError):
        load_keras_h5(tmp_path / "absent.h5")


@pytest.mark.parametrize("name", ["vgg19-dcbb9e9d.pth", "model.pt", "weights.pkl"])
def test_pickled_checkpoints_are_refused(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"\x80\x04K\x01.")  # a valid pickle: must never be loaded
    with pytest.raises(WeightsError) as info:
        load_vgg19_weights(path)
    message = str(info.value)
    assert name in message
    assert "safetensors.torch.save_file" in message and "refus" in message.lower()


def test_unknown_suffix_is_refused(tmp_path):
    path = tmp_path / "weights.npz"
    path.write_bytes(b"")
    with pytest.raises(WeightsError, match="weights.npz"):
        load_vgg19_weights(path)


# --------------------------------------------------------------------- Keras


def write_keras2(path, tree, *, model_weights=False, skip=()):
    """Legacy Keras 2 layout: block{b}_conv{l}/block{b}_conv{l}/kernel:0."""
    with h5py.File(path, "w") as h5:
        root = h5.create_group("model_weights") if model_weights else h5
        if model_weights:  # optimizer state must not be mistaken for weights
            h5.create_dataset("optimizer_weights/Adam/block1_conv1/kernel:0",
                              data=np.full((3, 3, 3, 4), 7.0, np.float32))
        root.attrs["layer_names"] = [b"input_1"]
        root.create_group("input_1")
        for name in VGG19_CONVS:
            layer = f"block{name[4]}_conv{name[6]}"
            if layer in skip:
                continue
            g = root.create_group(layer).create_group(layer)
            g.create_dataset("kernel:0", data=tree["params"][name]["kernel"])
            g.create_dataset("bias:0", data=tree["params"][name]["bias"])
        root.create_group("block1_pool")  # a pooling layer: no weights
        root.create_group("flatten")


def write_keras3(path, tree, *, skip=()):
    """Keras 3 .weights.h5 layout: layers/block{b}_conv{l}/vars/0 and vars/1."""
    with h5py.File(path, "w") as h5:
        h5.create_group("layers/input_layer/vars")
        h5.create_group("layers/block1_pool/vars")
        h5.create_dataset("optimizer/vars/0", data=np.zeros(1, np.float32))
        for name in VGG19_CONVS:
            layer = f"block{name[4]}_conv{name[6]}"
            if layer in skip:
                continue
            h5.create_dataset(f"layers/{layer}/vars/0", data=tree["params"][name]["kernel"])
            h5.create_dataset(f"layers/{layer}/vars/1", data=tree["params"][name]["bias"])


@pytest.mark.parametrize("layout", ["keras2", "keras2_model", "keras3"])
def test_keras_layouts_round_trip(tree, tmp_path, layout):
    path = tmp_path / ("vgg19.weights.h5" if layout == "keras3" else "vgg19_notop.h5")
    if layout == "keras3":
        write_keras3(path, tree)
    else:
        write_keras2(path, tree, model_weights=layout == "keras2_model")
    assert_same_tree(load_keras_h5(path, widths=WIDTHS), tree)
    loaded, mode = load_vgg19_weights(path, widths=WIDTHS)
    assert mode == "caffe"
    assert_same_tree(loaded, tree)


def test_keras_missing_layer_is_named(tree, tmp_path):
    path = tmp_path / "partial.h5"
    write_keras3(path, tree, skip=("block4_conv3",))
    with pytest.raises(WeightsError) as info:
        load_keras_h5(path, widths=WIDTHS)
    message = str(info.value)
    assert "block4_conv3" in message and "partial.h5" in message
    assert "block4_conv2" not in message
    path2 = tmp_path / "partial2.h5"
    write_keras2(path2, tree, skip=("block1_conv1", "block5_conv4"))
    with pytest.raises(WeightsError, match="block1_conv1.*block5_conv4"):
        load_keras_h5(path2, widths=WIDTHS)


def test_keras_wrong_shape_and_not_hdf5(tmp_path):
    tree = random_tree()
    tree["params"]["conv2_2"]["kernel"] = np.zeros((3, 3, 8, 9), np.float32)
    path = tmp_path / "bad.h5"
    write_keras2(path, tree)
    with pytest.raises(WeightsError) as info:
        load_keras_h5(path, widths=WIDTHS)
    message = str(info.value)
    assert "block2_conv2 kernel" in message
    assert "(3, 3, 8, 8)" in message and "(3, 3, 8, 9)" in message

    garbage = tmp_path / "garbage.h5"
    garbage.write_bytes(b"\x89HDF nope")
    with pytest.raises(WeightsError, match="garbage.h5.*not an HDF5"):
        load_vgg19_weights(garbage, widths=WIDTHS)


def test_dispatch_preprocessing_modes(tree, tmp_path):
    st = save_torchvision_safetensors(tree, tmp_path / "vgg19.safetensors")
    loaded, mode = load_vgg19_weights(st, widths=WIDTHS)
    assert mode == "torchvision"
    assert_same_tree(loaded, tree)
    h5_path = tmp_path / "vgg19.hdf5"
    write_keras3(h5_path, tree)
    loaded, mode = load_vgg19_weights(str(h5_path), widths=WIDTHS)
    assert mode == "caffe"
    assert_same_tree(loaded, tree)
