"""Trains the day'n'night CNN a few steps under each strategy; prints JSON.

Run as a subprocess with XLA_FLAGS=--xla_force_host_platform_device_count=N so the
device count is set before JAX starts. Output: {"devices": N, "params": {strategy:
flat list of the final parameters}, "metrics": {strategy: last step's metrics}}.
"""

import json
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxdl import losses
from jaxdl.tasks.day_night.model import ShallowCNN
from jaxdl.train.parallel import Strategy
from jaxdl.train.state import TrainState
from jaxdl.train.steps import eval_step, train_step


def pairwise_objective(outputs, batch):
    """A batch-level objective (like triplet mining): pulls embeddings of the same
    label together and pushes others apart, over every pair of the batch."""
    d = jnp.sum((outputs[:, None] - outputs[None]) ** 2, -1)
    same = (batch["label"][:, None] == batch["label"][None]).astype(jnp.float32)
    loss = jnp.mean(same * d + (1 - same) * jax.nn.relu(1.0 - d))
    return loss, {"loss": loss}


def run(strategy_name: str, steps: int, batch_size: int, batch_norm: bool,
        global_objective: bool = False):
    model = ShallowCNN(features=(4, 8), hidden=16, dropout_rate=0.3,
                       batch_norm=batch_norm, num_outputs=4 if global_objective else 1)
    rng = np.random.default_rng(0)
    images = rng.normal(size=(steps, batch_size, 16, 16, 3)).astype(np.float32)
    labels = rng.integers(0, 2, size=(steps, batch_size)).astype(np.int32)
    state = TrainState.create(model=model, rng=jax.random.key(0),
                              example_inputs=jnp.zeros((1, 16, 16, 3)),
                              tx=optax.sgd(0.1, momentum=0.9),
                              objective=(pairwise_objective if global_objective
                                         else losses.binary_classification),
                              l2=1e-3, global_objective=global_objective)
    strategy = Strategy(strategy_name)
    step = strategy.compile_train_step(train_step)
    evaluate = strategy.compile_eval_step(eval_step)
    state = strategy.replicate(state)
    key = jax.random.key(1)
    for i in range(steps):
        batch = {"inputs": images[i], "label": labels[i],
                 "id": np.arange(i * batch_size, (i + 1) * batch_size)}
        state, metrics = step(state, strategy.shard_batch(batch), key)
    # The last 3 examples are padding, spread over the last device(s).
    ev = evaluate(state, strategy.shard_batch(
        dict(batch, mask=(np.arange(batch_size) < batch_size - 3).astype(np.float32))))
    state = strategy.unreplicate(state)
    flat = np.concatenate([np.ravel(x) for x in jax.tree.leaves(
        (state.params, state.batch_stats))])
    return flat.tolist(), {k: float(v) for k, v in strategy.unreplicate(metrics).items()}, {
        k: float(v) for k, v in strategy.unreplicate(ev).items()}


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "bn"  # bn | nobn | global
    out = {"devices": jax.device_count(), "params": {}, "metrics": {}, "eval": {}}
    for name in ("single", "pmap", "shard_map"):
        out["params"][name], out["metrics"][name], out["eval"][name] = run(
            name, steps=4, batch_size=8, batch_norm=mode != "nobn",
            global_objective=mode == "global")
    print(json.dumps(out))
