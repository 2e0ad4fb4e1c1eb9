"""Optimisers and learning-rate schedules from a config (optax)."""

from __future__ import annotations

import ml_collections
import optax

from jaxdl.config import ConfigError

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "cosine", "warmup_cosine", "step")


def optimizer_config(**overrides) -> ml_collections.ConfigDict:
    """The `optim` config group `make_optimizer` reads, with its defaults:
    name "adam" (one of OPTIMIZERS), learning_rate 1e-3, schedule "cosine" (one of
    SCHEDULES), warmup_steps 0, momentum 0.9 (sgd), weight_decay 1e-4 (adamw,
    decoupled), decay_factor 0.1 and decay_every_steps 1000 ("step" schedule),
    grad_clip_norm 0 (off). Keyword arguments replace defaults."""
    c = ml_collections.ConfigDict(dict(
        name="adam", learning_rate=1e-3, schedule="cosine", warmup_steps=0,
        momentum=0.9, weight_decay=1e-4, decay_factor=0.1, decay_every_steps=1000,
        grad_clip_norm=0.0))
    unknown = set(overrides) - set(c.keys())
    if unknown:
        raise ValueError(f"unknown optimizer config field(s) {sorted(unknown)}")
    c.update(overrides)
    return c


def make_schedule(config, total_steps: int) -> optax.Schedule:
    """Learning-rate schedule over `total_steps` optimiser steps.

    config fields: learning_rate, schedule (one of SCHEDULES), warmup_steps,
    decay_factor and decay_every_steps (for "step").
    """
    lr = float(config.learning_rate)
    name = config.schedule
    if name == "constant":
        return optax.constant_schedule(lr)
    if name == "cosine":
        return optax.cosine_decay_schedule(lr, max(total_steps, 1))
    if name == "warmup_cosine":
        warmup = int(config.warmup_steps)
        return optax.warmup_cosine_decay_schedule(
            0.0, lr, warmup, max(total_steps, warmup + 1))
    if name == "step":
        every = max(int(config.decay_every_steps), 1)
        return optax.exponential_decay(lr, every, float(config.decay_factor),
                                       staircase=True)
    raise ConfigError(f"unknown optim.schedule {name!r}; choose from: {', '.join(SCHEDULES)}")


def make_optimizer(config, total_steps: int) -> optax.GradientTransformation:
    """optax transformation from config fields: name (one of OPTIMIZERS), momentum
    (sgd), weight_decay (adamw, decoupled), grad_clip_norm (0 = off), and the
    schedule fields of `make_schedule`."""
    schedule = make_schedule(config, total_steps)
    name = config.name
    if name == "sgd":
        tx = optax.sgd(schedule, momentum=float(config.momentum) or None)
    elif name == "adam":
        tx = optax.adam(schedule)
    elif name == "adamw":
        tx = optax.adamw(schedule, weight_decay=float(config.weight_decay))
    else:
        raise ConfigError(f"unknown optim.name {name!r}; choose from: {', '.join(OPTIMIZERS)}")
    if float(config.grad_clip_norm) > 0:
        tx = optax.chain(optax.clip_by_global_norm(float(config.grad_clip_norm)), tx)
    return tx
