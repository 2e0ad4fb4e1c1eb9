"""Model shapes and invariants."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl.models import ResNetEncoder, ShallowCNN


def test_shallow_cnn_gives_one_logit_per_image():
    model = ShallowCNN()
    x = jnp.zeros((3, 64, 64, 3))
    variables = model.init(jax.random.key(0), x)
    assert model.apply(variables, x).shape == (3,)
    # 3 conv blocks of 3x3 filters: 16*27 + 32*144 + 64*288 kernels, then dense layers.
    kernels = {k: v["kernel"].shape for k, v in variables["params"].items()}
    assert kernels["conv1"] == (3, 3, 3, 16) and kernels["conv3"] == (3, 3, 32, 64)
    assert kernels["dense"] == (8 * 8 * 64, 64) and kernels["logits"] == (64, 1)


def test_resnet_encoder_embeddings_are_unit_vectors():
    model = ResNetEncoder(stage_features=(8, 16), blocks_per_stage=(1, 1),
                          embedding_dim=32)
    x = jax.random.normal(jax.random.key(1), (4, 32, 32, 3))
    variables = model.init(jax.random.key(0), x)
    emb, updates = model.apply(variables, x, train=True, mutable=["batch_stats"])
    assert emb.shape == (4, 32)
    np.testing.assert_allclose(jnp.linalg.norm(emb, axis=-1), 1.0, rtol=1e-5)
    # Training mode updates the batch-norm statistics; inference uses them.
    assert not jax.tree.all(jax.tree.map(
        lambda a, b: bool(jnp.all(a == b)), variables["batch_stats"],
        updates["batch_stats"]))
    inference = model.apply(variables, x)
    np.testing.assert_allclose(jnp.linalg.norm(inference, axis=-1), 1.0, rtol=1e-5)
    # Each example's embedding in inference does not depend on the rest of the batch.
    np.testing.assert_allclose(model.apply(variables, x[:1]), inference[:1], atol=1e-5)
