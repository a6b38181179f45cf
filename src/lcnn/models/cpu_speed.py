"""Opt-in CPU speed settings for the LCNN models that leave their numerics unchanged.

Measured on a 2-core AMD EPYC with PyTorch 2.13 (``benchmarks/keras_vs_lcnn``, results in
``docs/benchmarks.md``): storing convolution weights channels-last lets oneDNN run every
convolution and its backward in NHWC without reordering the activations.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

__all__ = ["optimize_for_cpu"]

logger = logging.getLogger(__name__)


def optimize_for_cpu(model: nn.Module, *, channels_last: bool = True, compile: bool = False) -> nn.Module:
    """Apply the CPU speed settings to ``model`` in place and return the model to call.

    Args:
        model: an LCNN model (any ``nn.Module`` works).
        channels_last: store 4-D weights channels-last, so convolutions produce channels-last maps.
            Inputs may stay ``(B, C, H, W)`` contiguous, and outputs and gradients keep their shapes.
        compile: wrap the model in ``torch.compile`` (inductor needs a C++ compiler on CPU and
            takes tens of seconds per new input shape to compile).

    Returns:
        ``model`` itself, or its ``torch.compile`` wrapper. The wrapper shares the parameters, but
        its ``state_dict`` keys carry an ``_orig_mod.`` prefix, so save ``model.state_dict()``.
    """
    if channels_last:
        model.to(memory_format=torch.channels_last)
    if compile:
        logger.info("compiling %s with torch.compile", type(model).__name__)
        return torch.compile(model)
    return model
