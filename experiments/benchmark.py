"""Benchmarks of jaxdl's training steps.

    python -m experiments.benchmark kfold [--k 5] [--batch-size 64] [--repeats 15]

`kfold`: one training step of K day'n'night CNNs, vmapped over a fold axis in one
compiled program, against K steps of the same CNN one after another (the same
data and keys). Prints one JSON line with medians and spreads in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import re
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxdl import losses
from jaxdl.benchmarking import time_call
from jaxdl.models import ShallowCNN
from jaxdl.train import TrainState, train_step


def kfold_step(k: int, batch_size: int, image_size: int, repeats: int) -> dict:
    """Median step times (ms) of K models: vmapped together vs one after another."""
    model = ShallowCNN()
    make = lambda key: TrainState.create(
        model=model, rng=key, example_inputs=jnp.zeros((1, image_size, image_size, 3)),
        tx=optax.adam(1e-3), objective=losses.binary_classification)
    keys = jnp.stack([jax.random.key(i) for i in range(k)])
    rng = np.random.default_rng(0)
    batch = {"inputs": rng.normal(size=(k, batch_size, image_size, image_size, 3)
                                  ).astype(np.float32),
             "label": rng.integers(0, 2, (k, batch_size)).astype(np.int32),
             "id": np.arange(k * batch_size).reshape(k, batch_size)}
    vstep = jax.jit(jax.vmap(train_step))
    states = jax.vmap(make)(keys)
    sstep = jax.jit(train_step)
    singles = [make(keys[i]) for i in range(k)]
    per_fold = [jax.tree.map(lambda x, i=i: x[i], batch) for i in range(k)]
    vmapped = time_call(lambda: vstep(states, batch, keys), repeats=repeats)
    sequential = time_call(lambda: [sstep(singles[i], per_fold[i], keys[i])
                                    for i in range(k)], repeats=repeats)
    hlo = vstep.lower(states, batch, keys).compile().as_text()
    ms = lambda t: {key: round(v * 1e3, 1) for key, v in t.items() if key != "repeats"}
    return {"benchmark": "kfold_step", "k": k, "batch_size": batch_size,
            "image_size": image_size, "backend": jax.default_backend(),
            "device": jax.devices()[0].device_kind, "repeats": repeats,
            "vmap_ms": ms(vmapped), "sequential_ms": ms(sequential),
            "vmap_over_sequential": round(vmapped["median"] / sequential["median"], 2),
            "grouped_convolutions_in_vmapped_program": len(re.findall(
                r"feature_group_count=\d+|batch_group_count=\d+", hlo))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m experiments.benchmark")
    sub = parser.add_subparsers(dest="verb", required=True)
    kf = sub.add_parser("kfold", help=kfold_step.__doc__)
    kf.add_argument("--k", type=int, default=5)
    kf.add_argument("--batch-size", type=int, default=64)
    kf.add_argument("--image-size", type=int, default=64)
    kf.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args(argv)
    print(json.dumps(kfold_step(args.k, args.batch_size, args.image_size, args.repeats)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
