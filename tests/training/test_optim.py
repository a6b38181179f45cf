import math

import pytest
import torch

from lcnn.config import OptimConfig
from lcnn.errors import ConfigError
from lcnn.training.optim import build_optimizer, lr_factor


def test_step_schedule_halves_every_five_epochs():
    config = OptimConfig(scheduler="step", step_size=5, gamma=0.5)
    factors = [lr_factor(config, epoch * 10, 1000, 10) for epoch in range(12)]
    assert factors == [1.0] * 5 + [0.5] * 5 + [0.25] * 2


def test_cosine_schedule_ends_at_zero():
    config = OptimConfig(scheduler="cosine")
    assert lr_factor(config, 0, 100, 10) == 1.0
    assert lr_factor(config, 50, 100, 10) == pytest.approx(0.5)
    assert lr_factor(config, 100, 100, 10) == pytest.approx(0.0, abs=1e-12)


def test_onecycle_warms_up_then_decays():
    config = OptimConfig(scheduler="onecycle", warmup_fraction=0.2)
    values = [lr_factor(config, step, 100, 10) for step in range(101)]
    peak = values.index(max(values))
    assert 19 <= peak <= 20
    assert values[0] < 0.1
    assert all(a <= b for a, b in zip(values[:peak], values[1 : peak + 1]))
    assert all(a >= b for a, b in zip(values[peak:], values[peak + 1 :]))
    assert values[-1] == pytest.approx(0.0, abs=1e-12)


def test_build_optimizer_applies_schedule_per_step():
    weight = torch.nn.Parameter(torch.zeros(3))
    config = OptimConfig(lr=0.1, scheduler="step", step_size=1, gamma=0.1)
    optimizer, scheduler = build_optimizer([weight], config, steps_per_epoch=2, max_epochs=3)
    rates = []
    for _ in range(4):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert [round(rate, 6) for rate in rates] == [0.1, 0.1, 0.01, 0.01]
    assert math.isclose(config.lr, 0.1)


def test_unknown_names_raise():
    weight = torch.nn.Parameter(torch.zeros(1))
    with pytest.raises(ConfigError, match=r"optim.scheduler must be one of none, step, cosine, onecycle, got 'linear'"):
        build_optimizer([weight], OptimConfig(scheduler="linear"), steps_per_epoch=1, max_epochs=1)
    with pytest.raises(ConfigError, match=r"optim.optimizer must be one of adam, adamw, sgd, got 'lamb'"):
        build_optimizer([weight], OptimConfig(optimizer="lamb"), steps_per_epoch=1, max_epochs=1)
