"""Optimiser and learning-rate schedule built from :class:`lcnn.config.OptimConfig`."""

from __future__ import annotations

import math

import torch

from lcnn.config import OptimConfig
from lcnn.errors import ConfigError

__all__ = ["lr_factor", "build_optimizer"]

SCHEDULERS = ("none", "step", "cosine", "onecycle")
OPTIMIZERS = ("adam", "adamw", "sgd")


def lr_factor(config: OptimConfig, step: int, total_steps: int, steps_per_epoch: int) -> float:
    """Return the learning-rate multiplier at optimiser ``step`` (0-based).

    The ``step`` schedule multiplies by ``gamma`` every ``step_size`` epochs. ``cosine`` decays to
    zero over ``total_steps``. ``onecycle`` warms up linearly over ``warmup_fraction`` of the steps and
    then decays as a cosine.
    """
    if config.scheduler == "none":
        return 1.0
    if config.scheduler == "step":
        epoch = step // max(steps_per_epoch, 1)
        return config.gamma ** (epoch // config.step_size)
    progress = min(step / max(total_steps, 1), 1.0)
    if config.scheduler == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    warmup = config.warmup_fraction
    if progress < warmup:
        return 0.04 + 0.96 * progress / warmup
    return 0.5 * (1.0 + math.cos(math.pi * (progress - warmup) / (1.0 - warmup)))


def build_optimizer(
    parameters, config: OptimConfig, *, steps_per_epoch: int, max_epochs: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """Create the optimiser and a per-step LambdaLR scheduler for it.

    Raises:
        ConfigError: an unknown optimiser or scheduler name.
    """
    if config.scheduler not in SCHEDULERS:
        raise ConfigError(f"optim.scheduler must be one of {', '.join(SCHEDULERS)}, got {config.scheduler!r}.")
    if config.optimizer == "adam":
        optimizer = torch.optim.Adam(parameters, lr=config.lr, weight_decay=config.weight_decay)
    elif config.optimizer == "adamw":
        optimizer = torch.optim.AdamW(parameters, lr=config.lr, weight_decay=config.weight_decay)
    elif config.optimizer == "sgd":
        optimizer = torch.optim.SGD(
            parameters,
            lr=config.lr,
            momentum=config.momentum,
            nesterov=config.nesterov,
            weight_decay=config.weight_decay,
        )
    else:
        raise ConfigError(f"optim.optimizer must be one of {', '.join(OPTIMIZERS)}, got {config.optimizer!r}.")
    total_steps = steps_per_epoch * max_epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(config, step, total_steps, steps_per_epoch)
    )
    return optimizer, scheduler
