"""The images and network of a style-transfer run."""

import jax
import numpy as np
import pytest

from jaxdl.config import ConfigError, load_config
from jaxdl.data.images import save_image
from jaxdl.tasks.style.inputs import load_inputs, load_network, pair_contents


def test_pair_contents_repeats_one_content_per_style():
    one, two = np.zeros((1, 4, 4, 3)), np.zeros((2, 4, 4, 3))
    styles = [np.zeros((5, 5, 3))] * 2
    contents, per_image = pair_contents(one, styles, "per_image")
    assert contents.shape == (2, 4, 4, 3) and per_image
    assert pair_contents(two, styles, "per_image")[1]
    # blending several styles into every content keeps the contents as they are
    contents, per_image = pair_contents(one, styles, "blend")
    assert contents is one and not per_image
    assert pair_contents(one, styles[:1], "per_image") == (one, False)
    with pytest.raises(ConfigError, match="3 contents, 2 styles"):
        pair_contents(np.zeros((3, 4, 4, 3)), styles, "per_image")


def test_inputs_default_to_the_generated_pair_and_read_files(tmp_path):
    config = load_config("configs/style_transfer.py:quick")
    contents, content_names, styles, style_names = load_inputs(config)
    size = config.image_size
    assert contents.shape == (1, size, size, 3) and contents.dtype == np.float32
    assert styles[0].shape == (size, size, 3)
    assert 0.0 <= contents.min() and contents.max() <= 1.0
    assert "scene" in content_names[0] and "painted texture" in style_names[0]
    wide = save_image(tmp_path / "wide.png", np.full((20, 40, 3), 0.5))
    contents, names, styles, _ = load_inputs(config, [wide], [wide])
    # the longer side becomes image_size, the aspect is kept; styles stay full size
    assert contents.shape == (1, size // 2, size, 3) and names == [str(wide)]
    assert styles[0].shape == (20, 40, 3)


def test_random_network_is_deterministic():
    model = load_config("configs/style_transfer.py:quick").model
    a, what, preprocessing = load_network(model)
    b, _, _ = load_network(model)
    assert what == "random" and preprocessing == "torchvision"
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)
