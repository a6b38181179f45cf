"""The reference LCNN-9: nine MFM convolutions with pooling and batch norm, then an MFM dense head.

The layer list follows the LCNN used by STC in their ASVspoof 2019 systems (Lavrentyeva et al.,
"STC Antispoofing Systems for the ASVspoof2019 Challenge", Interspeech 2019), after Wu et al.,
"A Light CNN for Deep Face Representation with Noisy Labels" (arXiv 1511.02683):

====  ========================  ===========  ===============================
 #    layer                     after MFM    then
====  ========================  ===========  ===============================
 1    conv 5x5, 64              32           max-pool 2x2
 2    conv 1x1, 64              32           batch norm
 3    conv 3x3, 96              48           max-pool 2x2, batch norm
 4    conv 1x1, 96              48           batch norm
 5    conv 3x3, 128             64           max-pool 2x2 (no batch norm)
 6    conv 1x1, 128             64           batch norm
 7    conv 3x3, 64              32           batch norm
 8    conv 1x1, 64              32           batch norm
 9    conv 3x3, 64              32           max-pool 2x2
 10   dense 160                 80           batch norm, dropout 0.75
 11   dense num_classes         -            (logits)
====  ========================  ===========  ===============================

Every convolution has stride 1, 'same' padding and a bias; pooling floors odd sizes, so an
``H x W`` input leaves the stack as ``(H // 16) x (W // 16)``. The batch-norm defaults
(momentum 0.01, eps 1e-3) are PyTorch's equivalent of the Keras defaults (momentum 0.99, epsilon
1e-3) of the original Keras implementation, and the weights start Glorot-uniform with zero biases as
in Keras.
"""

from __future__ import annotations

import torch
from torch import nn

from lcnn.models.registry import register_model
from lcnn.nn import MFMConv2d, MFMLinear

__all__ = ["LCNN9Stack", "LCNN9", "glorot_init", "KERAS_BN_MOMENTUM", "KERAS_BN_EPS", "MIN_INPUT_SIZE"]

KERAS_BN_MOMENTUM = 0.01
KERAS_BN_EPS = 1e-3
# Four 2x2 poolings need at least 16 rows and columns to leave one.
MIN_INPUT_SIZE = 16
STACK_OUT_CHANNELS = 32


class LCNN9Stack(nn.Module):
    """The nine MFM convolutions of LCNN-9 with their pooling and batch norm (layers 1 to 9).

    Args:
        in_channels: int > 0, channels of the input map.
        affine: whether batch norm has learnable scale and shift (the anti-spoofing LCNN-LSTM
            baseline uses ``False``).
        bn_momentum: float in (0, 1], PyTorch's batch-norm momentum.
        bn_eps: float > 0.

    Shapes:
        ``(B, in_channels, H, W) -> (B, 32, H // 16, W // 16)``, with ``H, W >= 16``.
    """

    def __init__(
        self,
        in_channels: int = 1,
        *,
        affine: bool = True,
        bn_momentum: float = KERAS_BN_MOMENTUM,
        bn_eps: float = KERAS_BN_EPS,
    ) -> None:
        super().__init__()
        if in_channels <= 0:
            raise ValueError(f"in_channels must be a positive integer, got {in_channels}.")
        self.in_channels = in_channels

        def batch_norm(channels: int) -> nn.BatchNorm2d:
            return nn.BatchNorm2d(channels, eps=bn_eps, momentum=bn_momentum, affine=affine)

        def pool() -> nn.MaxPool2d:
            return nn.MaxPool2d(kernel_size=2, stride=2)

        self.layers = nn.Sequential(
            MFMConv2d(in_channels, 32, 5),
            pool(),
            MFMConv2d(32, 32, 1),
            batch_norm(32),
            MFMConv2d(32, 48, 3),
            pool(),
            batch_norm(48),
            MFMConv2d(48, 48, 1),
            batch_norm(48),
            MFMConv2d(48, 64, 3),
            pool(),
            MFMConv2d(64, 64, 1),
            batch_norm(64),
            MFMConv2d(64, 32, 3),
            batch_norm(32),
            MFMConv2d(32, 32, 1),
            batch_norm(32),
            MFMConv2d(32, 32, 3),
            pool(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(B, in_channels, H, W) -> (B, 32, H // 16, W // 16)``.

        Raises:
            ValueError: if the input is not 4-D with ``in_channels`` channels and at least 16x16.
        """
        check_image_input(x, self.in_channels)
        return self.layers(x)


def check_image_input(x: torch.Tensor, in_channels: int) -> None:
    """Raise ``ValueError`` unless ``x`` is ``(B, in_channels, H >= 16, W >= 16)``."""
    if x.dim() != 4:
        raise ValueError(
            f"LCNN-9 expects a 4-D input (batch, channels, height, width), got shape {tuple(x.shape)}."
        )
    if x.shape[1] != in_channels:
        raise ValueError(
            f"LCNN-9 was built for in_channels={in_channels}, got an input with {x.shape[1]} channels "
            f"(shape {tuple(x.shape)}); build the model with in_channels={x.shape[1]}."
        )
    height, width = x.shape[-2:]
    if height < MIN_INPUT_SIZE or width < MIN_INPUT_SIZE:
        raise ValueError(
            f"LCNN-9 needs an input of at least {MIN_INPUT_SIZE}x{MIN_INPUT_SIZE} for its four 2x2 "
            f"poolings, got {height}x{width}; resize or pad the input."
        )


def glorot_init(module: nn.Module) -> None:
    """Initialise convolution and dense weights Glorot-uniform and their biases to zero, as Keras does."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


class LCNN9(nn.Module):
    """The reference LCNN-9 image classifier, returning logits.

    Args:
        in_channels: int > 0, image channels (1 for MNIST, 3 for CIFAR-10).
        num_classes: int >= 2.
        input_size: ``(height, width)``, each >= 16; fixes the width of the flattened map.
        dropout: dropout probability after the dense MFM block.
        bn_momentum, bn_eps: batch-norm settings (Keras-equivalent defaults).

    Shapes:
        ``(B, in_channels, H, W) -> (B, num_classes)``.

    Example:
        >>> LCNN9(in_channels=1, num_classes=10, input_size=(28, 28))(torch.zeros(4, 1, 28, 28)).shape
        torch.Size([4, 10])
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        *,
        input_size: tuple[int, int] = (28, 28),
        dropout: float = 0.75,
        bn_momentum: float = KERAS_BN_MOMENTUM,
        bn_eps: float = KERAS_BN_EPS,
    ) -> None:
        super().__init__()
        height, width = (int(v) for v in input_size)
        if height < MIN_INPUT_SIZE or width < MIN_INPUT_SIZE:
            raise ValueError(
                f"input_size must be at least {MIN_INPUT_SIZE}x{MIN_INPUT_SIZE} for four 2x2 poolings, "
                f"got {height}x{width}; resize or pad the images."
            )
        if num_classes < 2:
            raise ValueError(f"num_classes must be at least 2, got {num_classes}.")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}.")
        self.input_size = (height, width)
        self.num_classes = num_classes
        self.features = LCNN9Stack(in_channels, bn_momentum=bn_momentum, bn_eps=bn_eps)
        flat = STACK_OUT_CHANNELS * (height // 16) * (width // 16)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            MFMLinear(flat, 80),
            nn.BatchNorm1d(80, eps=bn_eps, momentum=bn_momentum),
            nn.Dropout(dropout),
            nn.Linear(80, num_classes),
        )
        glorot_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(B, in_channels, H, W) -> (B, num_classes)`` logits.

        Raises:
            ValueError: if the spatial size differs from ``input_size``.
        """
        if tuple(x.shape[-2:]) != self.input_size and x.dim() == 4:
            raise ValueError(
                f"this LCNN-9 was built for input_size={self.input_size}, got {tuple(x.shape[-2:])} "
                f"(input shape {tuple(x.shape)}); build it with input_size={tuple(x.shape[-2:])}."
            )
        return self.classifier(self.features(x))


@register_model("lcnn9")
def lcnn9(
    in_channels: int = 1,
    num_classes: int = 10,
    *,
    input_size: tuple[int, int] | None = None,
    dropout: float = 0.75,
    bn_momentum: float = KERAS_BN_MOMENTUM,
    bn_eps: float = KERAS_BN_EPS,
) -> LCNN9:
    """Build the reference LCNN-9 classifier.

    ``input_size`` defaults to 28x28 for one channel (MNIST) and 32x32 otherwise (CIFAR-10).
    """
    if input_size is None:
        input_size = (28, 28) if in_channels == 1 else (32, 32)
    return LCNN9(
        in_channels,
        num_classes,
        input_size=tuple(input_size),
        dropout=dropout,
        bn_momentum=bn_momentum,
        bn_eps=bn_eps,
    )
