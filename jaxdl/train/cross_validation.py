"""K-fold and iterated K-fold cross-validation with the pure steps.

With `mode="vmap"` the K fold models train in ONE compiled program: the train step
is `jax.vmap`-ed over a leading fold axis of the state, the batch and the key.
`mode="sequential"` trains them one after another with the same step, data and
keys, as the yardstick for what vmap buys.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import jax
import numpy as np

from jaxdl.data import pipeline
from jaxdl.data.sources import Subset
from jaxdl.data import splits as splits_lib
from jaxdl.data.splits import equal_size
from jaxdl.train.loop import evaluate
from jaxdl.train.parallel import Strategy
from jaxdl.train.replicas import train_replicas
from jaxdl.train.state import TrainState
from jaxdl.train.steps import eval_step


PROTOCOLS = ("kfold", "iterated_kfold")


def protocol_splits(protocol: str, n: int, *, k: int, iterations: int, seed: int):
    """The (train, held-out) index splits of range(n) for a cross-validation protocol:
    "kfold" (K folds of a seeded shuffle) or "iterated_kfold" (`iterations` K-fold
    splits, each of a different shuffle)."""
    if protocol == "kfold":
        return splits_lib.kfold_splits(n, k, seed=seed)
    if protocol == "iterated_kfold":
        return splits_lib.iterated_kfold_splits(n, k, iterations, seed)
    raise ValueError(f"unknown cross-validation protocol {protocol!r}; choose from: "
                     f"{', '.join(PROTOCOLS)}")


@dataclasses.dataclass
class CrossValidationResult:
    scores: list[float]        # one per split, the monitored metric on its held-out part
    metrics: list[dict]        # all eval metrics per split
    seconds: float             # wall time of training (compilation included)
    steps_per_fold: int
    mode: str

    def summary(self, **extra) -> dict:
        """JSON-able report: scores with their mean and population std (ddof=0)."""
        scores = np.asarray(self.scores, np.float64)
        return {**extra, "scores": list(self.scores), "mean": float(scores.mean()),
                "std": float(scores.std()), "mode": self.mode,
                "seconds": round(self.seconds, 3), "steps_per_fold": self.steps_per_fold}


def cross_validate(*, make_state: Callable[[jax.Array, int], TrainState], source,
                   splits: Sequence[tuple[np.ndarray, np.ndarray]], transform,
                   augment=None, global_batch_size: int, epochs: int, seed: int,
                   rng: jax.Array, metric: str = "accuracy", mode: str = "vmap",
                   eval_batch_size: int = 256, progress: bool = True
                   ) -> CrossValidationResult:
    """Trains one model per split (train part) and scores it on the split's held-out part.

    make_state(key, total_steps) builds a fresh TrainState (total_steps sizes its
    learning-rate schedule); fold k uses key fold_in(rng, k), data
    seed `seed + k` and step key fold_in(rng, 1000 + k). Train parts are trimmed to
    equal size (`splits.equal_size`) so all folds take the same number of steps.
    """
    if mode not in ("vmap", "sequential"):
        raise ValueError(f"cross-validation mode must be 'vmap' or 'sequential', got {mode!r}")
    splits = equal_size(splits)
    k = len(splits)
    fold_data = [pipeline.training_batches(
        Subset(source, tr), global_batch_size=global_batch_size, seed=seed + i,
        num_epochs=epochs, transform=transform, augment=augment,
        process_index=0, process_count=1) for i, (tr, _) in enumerate(splits)]
    init_keys = [jax.random.fold_in(rng, i) for i in range(k)]
    step_keys = [jax.random.fold_in(rng, 1000 + i) for i in range(k)]
    finals, seconds = train_replicas(
        make_state=lambda key: make_state(key, len(fold_data[0])), init_keys=init_keys,
        step_keys=step_keys, datasets=fold_data, mode=mode, progress=progress,
        desc=f"{k}-fold")
    steps = len(fold_data[0])

    single = Strategy("single")
    compiled_eval = single.compile_eval_step(eval_step)
    results = [evaluate(compiled_eval, state, pipeline.evaluation_batches(
        Subset(source, val), global_batch_size=eval_batch_size, transform=transform,
        process_index=0, process_count=1), single)
        for state, (_, val) in zip(finals, splits)]
    return CrossValidationResult(scores=[r[metric] for r in results], metrics=results,
                                 seconds=seconds, steps_per_fold=steps, mode=mode)
