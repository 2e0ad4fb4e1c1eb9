"""The training options every case study shares, as config fields.

`add_train_options(c.train)` adds, with their defaults:

- dtype "float32": the models' compute dtype ("float32" | "bfloat16"); parameters,
  optimiser state, batch-norm statistics, losses and metrics stay float32;
- grad_accum_steps 1: micro-batches per optimiser step (train.batch_size splits
  into this many equal parts; see `jaxdl.train.steps.train_step`);
- ema_decay 0.0: decay of the weights' moving average (0 = off); when set,
  validation, the best checkpoint's users, test and the verbs use the average;
- seeds 1, seeds_mode "vmap": N > 1 also trains N models with seeds seed..seed+N-1
  (initialisation, data order, dropout) in one vmapped program (or one after
  another, "sequential") and reports each test metric's mean, std and values;
- checkpoint_every_steps 0: a `latest` checkpoint every this many steps as well as
  at each epoch end (0 = epoch ends only); keep_checkpoints 2: latest ones kept.

`profile_config()` (from `jaxdl.train.profiling`) is the `profile` group.
`check_train_options(config)` refuses out-of-range values before any work.
"""

from __future__ import annotations

import ml_collections

from jaxdl.config import ConfigError
from jaxdl.models.layers import compute_dtype
from jaxdl.train.profiling import StepProfiler, profile_config  # noqa: F401  (re-export)

SEED_MODES = ("vmap", "sequential")


def add_train_options(train: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """Adds the shared fields (see module doc) to a config's `train` group."""
    train.dtype = "float32"
    train.grad_accum_steps = 1
    train.ema_decay = 0.0
    train.seeds = 1
    train.seeds_mode = "vmap"
    train.checkpoint_every_steps = 0
    train.keep_checkpoints = 2
    return train


def check_train_options(config, batch_size: int | None = None) -> None:
    """Raises ConfigError (exit code 2) for an out-of-range shared option.

    batch_size: the global batch the accumulation splits (default train.batch_size).
    """
    t = config.train
    try:
        compute_dtype(t.dtype)
    except ConfigError as e:
        raise ConfigError(f"config key 'train.dtype': {e}") from None
    if t.seeds_mode not in SEED_MODES:
        raise ConfigError(f"config key 'train.seeds_mode' is {t.seeds_mode!r}; choose "
                          f"from: {', '.join(SEED_MODES)}")
    batch_size = int(t.batch_size if batch_size is None else batch_size)
    k = int(t.grad_accum_steps)
    checks = [
        ("train.grad_accum_steps", k >= 1, "must be >= 1"),
        ("train.grad_accum_steps", k < 1 or batch_size % k == 0,
         f"must divide the batch size {batch_size}"),
        ("train.ema_decay", 0.0 <= float(t.ema_decay) < 1.0, "must be in [0, 1)"),
        ("train.seeds", int(t.seeds) >= 1, "must be >= 1"),
        ("train.checkpoint_every_steps", int(t.checkpoint_every_steps) >= 0,
         "must be >= 0 (0 = at epoch ends only)"),
        ("train.keep_checkpoints", int(t.keep_checkpoints) >= 1, "must be >= 1"),
        ("profile.start_step", int(config.profile.start_step) >= 1, "must be >= 1"),
        ("profile.num_steps", int(config.profile.num_steps) >= 0, "must be >= 0"),
    ]
    for key, ok, what in checks:
        if not ok:
            group, leaf = key.split(".")
            raise ConfigError(f"config key {key!r} is {config[group][leaf]!r}; {what}")


def model_dtype(config):
    """The compute dtype of `config.train.dtype` (float32 for a run's config.json
    written before the option existed)."""
    return compute_dtype(config.train.get("dtype", "float32"))


def state_options(train) -> dict:
    """TrainState.create's keyword arguments from the `train` group (defaults for a
    config.json written before these options existed)."""
    return {"grad_accum_steps": int(train.get("grad_accum_steps", 1)),
            "ema_decay": float(train.get("ema_decay", 0.0))}


def fit_options(config, workdir) -> dict:
    """`jaxdl.train.loop.fit`'s keyword arguments for checkpoints and profiles."""
    from pathlib import Path
    return {"checkpoint_every": int(config.train.checkpoint_every_steps),
            "keep_checkpoints": int(config.train.keep_checkpoints),
            "profiler": StepProfiler.from_config(Path(workdir) / "profile", config.profile)}


def train_record(config) -> dict:
    """What results.json's train block says of these options."""
    options = state_options(config.train)
    return {"dtype": config.train.get("dtype", "float32"), **options,
            "evaluated_with": "ema_params" if options["ema_decay"] else "params"}
