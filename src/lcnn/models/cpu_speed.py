"""Opt-in CPU speed settings for the LCNN models that leave their numerics unchanged.

Measured on 2 AMD EPYC cores with PyTorch 2.13 (``benchmarks/keras_vs_lcnn``, results in
``docs/benchmarks.md``): channels-last weights make oneDNN run the convolutions in NHWC, and
keeping freed memory mapped saves page faults on every step. ``torch.compile`` made LCNN-9
training slower there, so it is off by default. A third setting lives outside Python: the
environment variable ``OMP_WAIT_POLICY=PASSIVE``, read when torch is first imported, stops idle
OpenMP threads from spinning. On 2 cores shared with other processes it made a training step about
4 times faster.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

__all__ = ["optimize_for_cpu", "tune_glibc_malloc"]

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


# glibc mallopt parameter numbers (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4


def tune_glibc_malloc() -> bool:
    """Make glibc keep freed memory for reuse instead of returning it to the system.

    PyTorch's CPU allocator hands each large activation and gradient to ``malloc``. glibc serves
    large blocks with fresh ``mmap`` pages (from 128 KiB by default, a threshold it raises itself
    up to 32 MiB) and unmaps them when freed, so every training step pays the page faults again.
    Disabling ``mmap`` allocation and heap trimming (the same as ``MALLOC_MMAP_MAX_=0
    MALLOC_TRIM_THRESHOLD_=<large>`` in the environment) keeps those pages mapped. It affects the
    whole process, and its resident memory stays at the high-water mark.

    Returns:
        ``True`` if the settings were applied, ``False`` where the C library is not glibc.
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        logger.info("mallopt is not available; leaving the C allocator settings unchanged")
        return False
    applied = mallopt(_M_MMAP_MAX, 0) == 1 and mallopt(_M_TRIM_THRESHOLD, 2**31 - 1) == 1
    if not applied:
        logger.warning("mallopt rejected the allocator settings; leaving them unchanged")
    return applied
