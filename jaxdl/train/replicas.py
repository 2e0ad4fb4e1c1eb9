"""Several models trained at once: K folds, or N seeds, as one vmapped program.

`train_replicas` trains one model per input pipeline. With `mode="vmap"` the
pure train step is `jax.vmap`-ed over a leading replica axis of the state, the
batch and the step key, so the R models train in ONE compiled program (what an
accelerator runs best); `mode="sequential"` trains them one after another with
the same step, data and keys, as the yardstick for what vmap buys and the
fallback when R models do not fit in memory together.

`seed_study` uses it for run-to-run variation: model i is the run `--config.seed
=seed+i` would train (the same initialisation key, step key and data order), for
all its steps, without early stopping; `summarize_seeds` turns their test metrics
into mean, std and per-seed values.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Mapping, Sequence

import grain
import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from jaxdl.data import pipeline
from jaxdl.train.state import TrainState
from jaxdl.train.steps import train_step as default_train_step

MODES = ("vmap", "sequential")


def train_replicas(*, make_state: Callable[[jax.Array], TrainState],
                   init_keys: Sequence[jax.Array], step_keys: Sequence[jax.Array],
                   datasets: Sequence[grain.MapDataset], mode: str = "vmap",
                   train_step: Callable = default_train_step, progress: bool = True,
                   desc: str = "replicas") -> tuple[list[TrainState], float]:
    """Trains model r = make_state(init_keys[r]) on datasets[r] with step key step_keys[r].

    Every dataset must have the same number of batches (steps) and batch shapes.
    Returns (the R final states, on the host, and the seconds training took,
    compilation included).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    r = len(datasets)
    steps = len(datasets[0])
    if any(len(d) != steps for d in datasets):
        raise ValueError(f"every replica needs the same number of steps, got "
                         f"{[len(d) for d in datasets]}")
    bar = tqdm(total=steps * r, unit="step", desc=f"{desc} ({mode})",
               disable=not progress, dynamic_ncols=True)
    t0 = time.perf_counter()
    if mode == "vmap":
        # One compiled initialisation (eagerly, every op of it would compile alone).
        states = jax.jit(jax.vmap(make_state))(jnp.stack(list(init_keys)))
        stacked = grain.MapDataset.range(steps).map(
            lambda s: jax.tree.map(lambda *xs: np.stack(xs), *[d[s] for d in datasets]))
        step_fn = jax.jit(jax.vmap(train_step), donate_argnums=0)
        keys = jnp.stack(list(step_keys))
        for batch in pipeline.prefetch(stacked):
            states, _ = step_fn(states, batch, keys)
            bar.update(r)
        states = jax.device_get(jax.block_until_ready(states))
        finals = [jax.tree.map(lambda x, i=i: x[i], states) for i in range(r)]
    else:
        step_fn = jax.jit(train_step, donate_argnums=0)
        finals = []
        for i in range(r):
            state = make_state(init_keys[i])
            for batch in pipeline.prefetch(datasets[i]):
                state, _ = step_fn(state, batch, step_keys[i])
                bar.update(1)
            finals.append(jax.device_get(jax.block_until_ready(state)))
    seconds = time.perf_counter() - t0
    bar.close()
    return finals, seconds


def seed_keys(seed: int) -> tuple[jax.Array, jax.Array]:
    """(init key, step key) of a run with config.seed = `seed`: what every
    experiment derives, `jax.random.split(jax.random.key(seed))`."""
    init, step = jax.random.split(jax.random.key(seed))
    return init, step


def seed_study(*, make_state: Callable[[jax.Array], TrainState],
               make_batches: Callable[[int], grain.MapDataset], seed: int, count: int,
               mode: str = "vmap", train_step: Callable = default_train_step,
               progress: bool = True) -> tuple[list[int], list[TrainState], float]:
    """Trains `count` models with seeds seed, seed+1, ...: model i gets
    `seed_keys(seed + i)` and the batches `make_batches(seed + i)`.

    Returns (seeds, final states, seconds).
    """
    seeds = [seed + i for i in range(count)]
    keys = [seed_keys(s) for s in seeds]
    states, seconds = train_replicas(
        make_state=make_state, init_keys=[k[0] for k in keys],
        step_keys=[k[1] for k in keys], datasets=[make_batches(s) for s in seeds],
        mode=mode, train_step=train_step, progress=progress, desc=f"{count} seeds")
    return seeds, states, seconds


def _flatten(metrics: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """Nested metrics -> {"a/b": float} for every finite-or-not real scalar."""
    flat = {}
    for k, v in metrics.items():
        if isinstance(v, Mapping):
            flat.update(_flatten(v, f"{prefix}{k}/"))
        elif isinstance(v, (bool, np.bool_)):
            continue
        elif np.ndim(v) == 0 and np.issubdtype(np.asarray(v).dtype, np.number):
            flat[f"{prefix}{k}"] = float(v)
    return flat


def summarize_seeds(seeds: Sequence[int], per_seed: Sequence[Mapping[str, Any]], *,
                    mode: str, seconds: float, steps: int) -> dict:
    """results.json's `seeds` block: every scalar test metric (nested names joined
    with "/") as per-seed values, their mean and population std (ddof=0)."""
    flat = [_flatten(m) for m in per_seed]
    names = [n for n in flat[0] if all(n in f for f in flat)]
    values = {n: [f[n] for f in flat] for n in names}
    return {"seeds": list(seeds), "mode": mode, "steps_per_seed": int(steps),
            "seconds": round(seconds, 3), "per_seed": values,
            "mean": {n: float(np.mean(v)) for n, v in values.items()},
            "std": {n: float(np.std(v)) for n, v in values.items()}}


def seed_study_report(*, make_state: Callable[[jax.Array], TrainState],
                      make_batches: Callable[[int], grain.MapDataset],
                      test: Callable[[TrainState], Mapping[str, Any]], seed: int,
                      count: int, mode: str, steps: int, plot_path, plot_metrics:
                      Sequence[str], title: str, train_step: Callable = default_train_step,
                      progress: bool = True) -> dict:
    """A whole seed study for an experiment: `seed_study`, then `test(state)` (a dict
    of test metrics) for each model, `summarize_seeds` plus each model's
    `params_sha256`, and a plot of `plot_metrics` (those present) at `plot_path`."""
    from jaxdl import plots
    from jaxdl.train.state import params_sha256
    seeds, states, seconds = seed_study(make_state=make_state, make_batches=make_batches,
                                        seed=seed, count=count, mode=mode,
                                        train_step=train_step, progress=progress)
    summary = summarize_seeds(seeds, [test(s) for s in states], mode=mode,
                              seconds=seconds, steps=steps)
    summary["params_sha256"] = [params_sha256(s.params) for s in states]
    shown = [k for k in plot_metrics if k in summary["per_seed"]]
    plots.seed_scores({k: summary["per_seed"][k] for k in shown}, seeds, plot_path,
                      title=title)
    return summary
