"""Frame masks for padded batches: running the LCNN-9 stack and pooling over valid frames only.

A padded batch contains utterances of different lengths, zero-padded to the longest along the frame
axis. To give each utterance the result it would get alone, :func:`run_stack_masked` zeroes the
padded frames after every layer of the stack. A 'same'-padded convolution then reads zeros past the
last valid frame, exactly as the zero padding of an utterance scored on its own, and a floor 2x2
pooling keeps only windows made of valid frames. The frame lengths follow the poolings.
"""

from __future__ import annotations

import torch
from torch import nn

from lcnn.models.lcnn9 import MIN_INPUT_SIZE, LCNN9Stack, check_image_input

__all__ = [
    "check_frame_lengths",
    "frame_mask",
    "run_stack",
    "run_stack_masked",
    "stack_to_sequence",
    "masked_mean",
    "masked_max",
]


def check_frame_lengths(
    lengths: torch.Tensor | None, batch: int, frames: int, *, device: torch.device | None = None
) -> torch.Tensor | None:
    """Validate per-utterance frame counts and drop them when no utterance is padded.

    Args:
        lengths: ``(batch,)`` integer frame counts, or ``None``.
        batch: batch size of the features.
        frames: frame count of the padded features.
        device: device of the features; the returned lengths are moved there.

    Returns:
        ``lengths`` as a long tensor, or ``None`` when it is ``None`` or every length equals ``frames``
        (then masking changes nothing and is skipped).

    Raises:
        ValueError: if ``lengths`` is not ``(batch,)`` or a length is outside ``[16, frames]``.
    """
    if lengths is None:
        return None
    if lengths.dim() != 1 or lengths.shape[0] != batch:
        raise ValueError(
            f"lengths must have shape ({batch},), one frame count per utterance, got {tuple(lengths.shape)}."
        )
    if lengths.is_floating_point():
        raise ValueError(f"lengths must be integers, got dtype {lengths.dtype}.")
    lengths = lengths.long()
    shortest, longest = int(lengths.min()), int(lengths.max())
    if shortest < MIN_INPUT_SIZE or longest > frames:
        raise ValueError(
            f"frame lengths must be in [{MIN_INPUT_SIZE}, {frames}] (the padded frame count), got "
            f"min {shortest} and max {longest}; four 2x2 poolings need at least {MIN_INPUT_SIZE} frames."
        )
    if shortest == frames:
        return None
    return lengths if device is None else lengths.to(device)


def frame_mask(lengths: torch.Tensor, frames: int) -> torch.Tensor:
    """Return a boolean ``(batch, frames)`` mask that is true on the first ``lengths[b]`` frames."""
    positions = torch.arange(frames, device=lengths.device)
    return positions.unsqueeze(0) < lengths.unsqueeze(1)


def _pooled_lengths(lengths: torch.Tensor, pool: nn.MaxPool2d) -> torch.Tensor:
    kernel = pool.kernel_size if isinstance(pool.kernel_size, int) else pool.kernel_size[-1]
    stride = pool.stride if isinstance(pool.stride, int) else pool.stride[-1]
    return torch.div(lengths - kernel, stride, rounding_mode="floor") + 1


def _zero_padded_frames(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    mask = frame_mask(lengths, x.shape[-1])[:, None, None, :]
    return torch.where(mask, x, torch.zeros((), dtype=x.dtype, device=x.device))


def run_stack_masked(
    stack: LCNN9Stack, features: torch.Tensor, lengths: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run ``stack`` over a padded batch so that each utterance's result depends only on its own frames.

    Args:
        stack: the LCNN-9 convolution stack.
        features: ``(B, C, freq, frames)``, padded along frames.
        lengths: ``(B,)`` valid frames per utterance, each in ``[16, frames]``.

    Returns:
        The map ``(B, 32, freq // 16, frames // 16)`` with padded frames set to zero, and the valid
        frame counts after the four poolings, ``lengths // 16``.
    """
    check_image_input(features, stack.in_channels)
    x = _zero_padded_frames(features, lengths)
    for layer in stack.layers:
        x = layer(x)
        if isinstance(layer, nn.MaxPool2d):
            lengths = _pooled_lengths(lengths, layer)
        x = _zero_padded_frames(x, lengths)
    return x, lengths


def run_stack(
    stack: LCNN9Stack, features: torch.Tensor, lengths: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Run ``stack`` plainly when ``lengths`` is ``None`` and through :func:`run_stack_masked` otherwise.

    Shapes:
        ``(B, C, freq, frames) -> (B, 32, freq // 16, frames // 16)``; lengths ``(B,) -> (B,)`` or ``None``.
    """
    if lengths is None:
        return stack(features), None
    return run_stack_masked(stack, features, lengths)


def stack_to_sequence(x: torch.Tensor) -> torch.Tensor:
    """Read a stack output as one vector per frame, channel-major then frequency.

    Shapes:
        ``(B, C, F, T) -> (B, T, C * F)``; element ``c * F + f`` of frame ``t`` is ``x[b, c, f, t]``.
    """
    batch, channels, freq, frames = x.shape
    return x.permute(0, 3, 1, 2).reshape(batch, frames, channels * freq)


def masked_mean(sequence: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """Average ``(B, T, D)`` over the valid time steps, giving ``(B, D)``.

    Every step counts when ``lengths`` is ``None``.
    """
    if lengths is None:
        return sequence.mean(dim=1)
    mask = frame_mask(lengths, sequence.shape[1]).unsqueeze(-1).to(sequence.dtype)
    return (sequence * mask).sum(dim=1) / lengths.to(sequence.dtype).unsqueeze(-1)


def masked_max(sequence: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """Take the maximum of ``(B, T, D)`` over the valid time steps, giving ``(B, D)``."""
    if lengths is None:
        return sequence.amax(dim=1)
    mask = frame_mask(lengths, sequence.shape[1]).unsqueeze(-1)
    lowest = torch.finfo(sequence.dtype).min
    return sequence.masked_fill(~mask, lowest).amax(dim=1)
