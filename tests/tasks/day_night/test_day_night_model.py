"""The shallow CNN's shapes."""

import jax
import jax.numpy as jnp

from jaxdl.tasks.day_night.model import ShallowCNN


def test_shallow_cnn_gives_one_logit_per_image():
    model = ShallowCNN()
    x = jnp.zeros((3, 64, 64, 3))
    # Jitted: one program each instead of every layer's ops compiled one by one.
    variables = jax.jit(model.init)(jax.random.key(0), x)
    assert jax.jit(model.apply)(variables, x).shape == (3,)
    # 3 conv blocks of 3x3 filters: 16*27 + 32*144 + 64*288 kernels, then dense layers.
    kernels = {k: v["kernel"].shape for k, v in variables["params"].items()}
    assert kernels["conv1"] == (3, 3, 3, 16) and kernels["conv3"] == (3, 3, 32, 64)
    assert kernels["dense"] == (8 * 8 * 64, 64) and kernels["logits"] == (64, 1)
