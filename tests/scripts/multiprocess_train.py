"""Trains the CNN a few steps, as one of several processes or alone; prints JSON.

    python multiprocess_train.py NUM_PROCESSES PROCESS_ID PORT STRATEGY

With NUM_PROCESSES > 1 the processes meet on 127.0.0.1:PORT (gloo collectives on
CPU); each reads only its share of every global batch through the pipeline.
Process 0 prints {"params": [...], "sha256": ..., "processes": N}.
"""

import json
import sys

num_processes, process_id, port, strategy_name = (
    int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])

from jaxdl.train import distributed  # noqa: E402

if num_processes > 1:
    distributed.initialize(f"127.0.0.1:{port}", num_processes, process_id)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from jaxdl import losses  # noqa: E402
from jaxdl.data import pipeline  # noqa: E402
from jaxdl.data.sources import ArraySource  # noqa: E402
from jaxdl.tasks.day_night.model import ShallowCNN  # noqa: E402
from jaxdl.train.parallel import Strategy  # noqa: E402
from jaxdl.train.state import TrainState, params_sha256  # noqa: E402
from jaxdl.train.steps import train_step  # noqa: E402

GLOBAL_BATCH = 8
rng = np.random.default_rng(0)
source = ArraySource({"image": rng.integers(0, 256, (64, 16, 16, 3), dtype=np.uint8),
                      "label": rng.integers(0, 2, 64).astype(np.int32)})
transform = lambda ex: {"inputs": ex["image"].astype(np.float32) / 255.0,
                        "label": ex["label"]}
batches = pipeline.training_batches(source, global_batch_size=GLOBAL_BATCH, seed=3,
                                    num_epochs=1, transform=transform)
model = ShallowCNN(features=(4, 8), hidden=16, dropout_rate=0.3, batch_norm=True)
state = TrainState.create(model=model, rng=jax.random.key(0),
                          example_inputs=jnp.zeros((1, 16, 16, 3)),
                          tx=optax.adam(1e-2), objective=losses.binary_classification)
strategy = Strategy(strategy_name)
step = strategy.compile_train_step(train_step)
placed = strategy.replicate(state)
for batch in batches:
    assert len(batch["label"]) == GLOBAL_BATCH // jax.process_count()
    placed, _ = step(placed, strategy.shard_batch(batch), jax.random.key(1))
final = strategy.unreplicate(placed)
if jax.process_index() == 0:
    flat = np.concatenate([np.ravel(x) for x in jax.tree.leaves(
        (final.params, final.batch_stats))])
    print(json.dumps({"params": flat.tolist(), "sha256": params_sha256(final.params),
                      "processes": jax.process_count(), "steps": int(final.step)}))
