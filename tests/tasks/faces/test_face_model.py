"""The ResNet encoder's invariants."""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl.tasks.faces.model import ResNetEncoder


def test_resnet_encoder_embeddings_are_unit_vectors():
    model = ResNetEncoder(stage_features=(8, 16), blocks_per_stage=(1, 1),
                          embedding_dim=32)
    # Jitted: init, training and inference each compile one program instead of
    # dispatching (and compiling) every layer's ops one by one. For speed.
    infer = jax.jit(model.apply)
    train = jax.jit(functools.partial(model.apply, train=True, mutable=["batch_stats"]))
    # numpy's generator: jax.random would compile a program for this one shape
    x = jnp.asarray(np.random.default_rng(1).standard_normal((4, 32, 32, 3), np.float32))
    variables = jax.jit(model.init)(jax.random.key(0), x)
    emb, updates = train(variables, x)
    assert emb.shape == (4, 32)
    np.testing.assert_allclose(jnp.linalg.norm(emb, axis=-1), 1.0, rtol=1e-5)
    # Training mode updates the batch-norm statistics; inference uses them.
    assert not jax.tree.all(jax.tree.map(
        lambda a, b: bool(jnp.all(a == b)), variables["batch_stats"],
        updates["batch_stats"]))
    inference = infer(variables, x)
    np.testing.assert_allclose(jnp.linalg.norm(inference, axis=-1), 1.0, rtol=1e-5)
    # Each example's embedding in inference does not depend on the rest of the batch
    # (the others replaced, the batch's statistics changed; same shape: no recompile).
    others_changed = x.at[1:].set(3.0 * x[1:] + 1.0)
    np.testing.assert_allclose(infer(variables, others_changed)[:1], inference[:1], atol=1e-5)
