"""The ResNet encoder's invariants."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl.tasks.faces.model import ResNetEncoder


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
