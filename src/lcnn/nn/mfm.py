"""Max-Feature-Map (MFM) activation and the MFM convolution and dense blocks.

MFM was introduced by Wu et al., "A Light CNN for Deep Face Representation with Noisy Labels"
(arXiv 1511.02683). It splits a dimension of width 2C into two halves and keeps their element-wise
maximum, so channel ``j`` of the output is ``max(x[j], x[j + C])``. It acts both as activation and as
feature selection.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torch.autograd.function import once_differentiable

__all__ = ["MaxFeatureMap", "MFMConv2d", "MFMLinear", "max_feature_map"]


def max_feature_map(x: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """Apply Max-Feature-Map along ``dim``.

    Args:
        x: tensor whose size along ``dim`` is even, e.g. ``(B, 2C, H, W)`` or ``(B, 2C)``.
        dim: the dimension to halve (negative values count from the end).

    Returns:
        Tensor of the same shape as ``x`` except ``dim``, which is halved: ``(B, 2C, ...) -> (B, C, ...)``.
        The values are those of ``torch.maximum`` of the two halves (NaN propagates). Where the
        halves are equal the whole gradient goes to the first half (``torch.maximum`` itself would
        split it in two).

    Raises:
        ValueError: if the size along ``dim`` is odd.
    """
    width = x.shape[dim]
    if width % 2 != 0:
        raise ValueError(
            f"Max-Feature-Map needs an even width along dim {dim}, got {width} "
            f"(input shape {tuple(x.shape)}); give the preceding layer an even number of outputs."
        )
    first, second = torch.split(x, width // 2, dim=dim)
    if torch.compiler.is_compiling():
        # Traceable form for torch.compile with the same values and gradient routing. The NaN
        # test keeps NaN propagating as torch.maximum does.
        first_wins = torch.ge(first, second) | torch.isnan(first)
        return torch.where(first_wins, first, second)
    if not (x.requires_grad and torch.is_grad_enabled()):
        return torch.maximum(first, second)
    return _MaxFeatureMapFunction.apply(x, dim % x.dim())


class _MaxFeatureMapFunction(torch.autograd.Function):
    """MFM whose backward routes the gradient with a saved 0/1 mask of the first half's wins.

    ``torch.maximum`` keeps both float halves for its backward and splits the gradient on ties.
    This keeps half as much (the mask, in the input dtype so the backward needs no type cast) and
    writes both halves of the input gradient straight into one buffer. Measured on 2 AMD EPYC cores
    with PyTorch 2.13, MFM forward plus backward of a ``(256, 64, 28, 28)`` map ran 2.5 to 3 times
    faster than with ``torch.maximum``.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, dim: int) -> torch.Tensor:
        half = x.shape[dim] // 2
        first, second = x.narrow(dim, 0, half), x.narrow(dim, half, half)
        output = torch.maximum(first, second)
        first_wins = torch.empty_like(output)
        torch.ge(first, second, out=first_wins)
        ctx.save_for_backward(first_wins)
        ctx.dim = dim
        ctx.input_shape = x.shape
        dense = x.is_contiguous() or (x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last))
        ctx.input_stride = x.stride() if dense else None
        return output

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_output: torch.Tensor) -> tuple[torch.Tensor, None]:
        (first_wins,) = ctx.saved_tensors
        if ctx.input_stride is None:
            grad_input = grad_output.new_empty(ctx.input_shape)
        else:
            grad_input = torch.empty_strided(
                ctx.input_shape, ctx.input_stride, dtype=grad_output.dtype, device=grad_output.device
            )
        half = ctx.input_shape[ctx.dim] // 2
        grad_first = grad_input.narrow(ctx.dim, 0, half)
        # NOTE: products with the mask run about twice as fast as torch.where on CPU, but an
        # infinite or NaN upstream gradient gives NaN, not 0, in the half that lost.
        torch.mul(grad_output, first_wins, out=grad_first)
        torch.sub(grad_output, grad_first, out=grad_input.narrow(ctx.dim, half, half))
        return grad_input, None


class MaxFeatureMap(nn.Module):
    """Max-Feature-Map activation: the element-wise maximum of the two halves of one dimension.

    Args:
        dim: dimension to halve; 1 is the channel dimension of convolution maps and the feature
            dimension of dense outputs ``(B, features)``.

    Example:
        >>> MaxFeatureMap()(torch.randn(8, 64, 28, 28)).shape
        torch.Size([8, 32, 28, 28])
    """

    def __init__(self, dim: int = 1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Halve ``dim``: ``(B, 2C, ...) -> (B, C, ...)``."""
        return max_feature_map(x, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class MFMConv2d(nn.Module):
    """A 'same'-padded convolution with ``2 * out_channels`` filters followed by MFM.

    Args:
        in_channels: int > 0, channels of the input map.
        out_channels: int > 0, channels after MFM (the convolution itself has twice as many).
        kernel_size: int > 0, odd, so that stride-1 'same' padding is symmetric.

    Example:
        >>> MFMConv2d(1, 32, 5)(torch.randn(2, 1, 28, 28)).shape
        torch.Size([2, 32, 28, 28])
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, bias: bool = True) -> None:
        super().__init__()
        if kernel_size <= 0 or kernel_size % 2 == 0:
            raise ValueError(
                f"kernel_size must be a positive odd number for 'same' padding, got {kernel_size}."
            )
        self.conv = nn.Conv2d(
            in_channels, 2 * out_channels, kernel_size, stride=1, padding=kernel_size // 2, bias=bias
        )
        self.mfm = MaxFeatureMap(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(B, in_channels, H, W) -> (B, out_channels, H, W)``."""
        channels_last = x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last)
        if self.conv.kernel_size == (1, 1) and channels_last:
            return self.mfm(_pointwise_conv_channels_last(x, self.conv))
        return self.mfm(self.conv(x))


def _pointwise_conv_channels_last(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """Compute a 1x1 convolution of a channels-last map as one matrix product over all pixels.

    A channels-last ``(B, C, H, W)`` tensor is a contiguous ``(B, H, W, C)`` one, so ``F.linear``
    needs no copy, and the result is channels-last too. At LCNN-9's sizes on 2 AMD EPYC cores
    (PyTorch 2.13) its backward ran 1.1 to 12 times faster than oneDNN's 1x1 convolution backward,
    its forward between 2.5 times faster and 1.5 times slower.
    """
    weight = conv.weight.view(conv.out_channels, conv.in_channels)
    return F.linear(x.permute(0, 2, 3, 1), weight, conv.bias).permute(0, 3, 1, 2)


class MFMLinear(nn.Module):
    """A dense layer with ``2 * out_features`` units followed by MFM over the features.

    Args:
        in_features: int > 0.
        out_features: int > 0, features after MFM.
    """

    def __init__(self, in_features: int, out_features: int, *, bias: bool = True) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, 2 * out_features, bias=bias)
        self.mfm = MaxFeatureMap(dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(..., in_features) -> (..., out_features)``."""
        return self.mfm(self.linear(x))
