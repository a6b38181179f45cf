"""Benchmark cases and the analytic operation count of the reference LCNN-9 (no third-party imports).

Both worker scripts import this file, so Keras and PyTorch run the same shapes and batches.
"""

from __future__ import annotations

# name: (height, width, channels, classes, batch)
CASES = {
    "mnist_28x28x1_b256": (28, 28, 1, 10, 256),
    "cifar_32x32x3_b64": (32, 32, 3, 10, 64),
    "lfcc_60x400x1_b32": (60, 400, 1, 2, 32),
}

# The layer list of the reference LCNN-9: (kernel size, filters before MFM, max-pool after).
CONV_LAYERS = [
    (5, 64, True),
    (1, 64, False),
    (3, 96, True),
    (1, 96, False),
    (3, 128, True),
    (1, 128, False),
    (3, 64, False),
    (1, 64, False),
    (3, 64, True),
]
DENSE_UNITS = 160


def forward_macs(height: int, width: int, channels: int, classes: int) -> int:
    """Count the multiply-accumulates of one forward pass per sample (convolutions and dense layers).

    Batch norm, MFM, pooling and the softmax are left out: they are elementwise and small next to
    the matrix products.
    """
    macs = 0
    in_channels = channels
    for kernel, filters, pool in CONV_LAYERS:
        macs += height * width * kernel * kernel * in_channels * filters
        in_channels = filters // 2
        if pool:
            height, width = height // 2, width // 2
    flat = height * width * in_channels
    macs += flat * DENSE_UNITS + (DENSE_UNITS // 2) * classes
    return macs


def step_flops(case: str, mode: str) -> float:
    """Estimate the floating-point operations per sample: 2 per MAC, times 3 for a train step."""
    height, width, channels, classes, _ = CASES[case]
    forward = 2.0 * forward_macs(height, width, channels, classes)
    return 3.0 * forward if mode == "train" else forward
