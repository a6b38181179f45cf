"""LCNN-9 as an anti-spoofing countermeasure back end for utterances of any length.

The reference LCNN-9 (see :mod:`lcnn.models.lcnn9`) flattens a fixed-size map into its dense layer,
so it only accepts one input size. This back end keeps the nine-convolution stack and its
Keras-equivalent batch norm, but applies the MFM dense layer (160 units, 80 after MFM) to each frame
of the stack output and pools over time:

1. stack: ``(B, 1, freq, frames) -> (B, 32, freq // 16, frames // 16)``;
2. each frame read as a vector of ``32 * (freq // 16)`` values, channel-major then frequency;
3. MFM dense per frame, ``32 * (freq // 16) -> 160 -> 80``;
4. mean (or max) over the valid frames;
5. batch norm and dropout 0.75, as after the dense layer of the reference network.

The output is the 80-dimensional embedding; a head from :mod:`lcnn.heads` turns it into a score.
"""

from __future__ import annotations

import torch
from torch import nn

from lcnn.models.lcnn9 import KERAS_BN_EPS, KERAS_BN_MOMENTUM, MIN_INPUT_SIZE, LCNN9Stack, glorot_init
from lcnn.models.masking import check_frame_lengths, masked_max, masked_mean, run_stack, stack_to_sequence
from lcnn.models.registry import register_model
from lcnn.nn import MFMLinear

__all__ = ["LCNN9Countermeasure", "POOLINGS"]

POOLINGS = ("mean", "max")
STACK_OUT_CHANNELS = 32


class LCNN9Countermeasure(nn.Module):
    """LCNN-9 stack, per-frame MFM dense layer and pooling over time, returning an embedding.

    Args:
        in_channels: int > 0, channels of the feature map (1 for one front end).
        n_features: int >= 16, feature bins per frame (the front end's ``n_features``).
        embedding_dim: int > 0, output size; the dense layer has twice as many units before MFM.
        pooling: ``"mean"`` or ``"max"`` over the valid frames.
        dropout: float in [0, 1), applied to the embedding in training.
        bn_momentum, bn_eps: batch-norm settings (PyTorch equivalents of the Keras defaults).

    Shapes:
        features ``(B, in_channels, n_features, frames)`` with ``frames >= 16``, optional
        ``lengths (B,)`` -> embedding ``(B, embedding_dim)``.

    Example:
        >>> backbone = LCNN9Countermeasure(n_features=60)
        >>> backbone.eval()(torch.randn(2, 1, 60, 333)).shape
        torch.Size([2, 80])
    """

    def __init__(
        self,
        in_channels: int = 1,
        *,
        n_features: int = 60,
        embedding_dim: int = 80,
        pooling: str = "mean",
        dropout: float = 0.75,
        bn_momentum: float = KERAS_BN_MOMENTUM,
        bn_eps: float = KERAS_BN_EPS,
    ) -> None:
        super().__init__()
        if n_features < MIN_INPUT_SIZE:
            raise ValueError(
                f"n_features must be at least {MIN_INPUT_SIZE} for four 2x2 poolings, got {n_features}."
            )
        if embedding_dim <= 0:
            raise ValueError(f"embedding_dim must be a positive integer, got {embedding_dim}.")
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}.")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}.")
        self.n_features = n_features
        self.embedding_dim = embedding_dim
        self.pooling = pooling
        self.stack = LCNN9Stack(in_channels, bn_momentum=bn_momentum, bn_eps=bn_eps)
        frame_dim = STACK_OUT_CHANNELS * (n_features // 16)
        self.frame_dense = MFMLinear(frame_dim, embedding_dim)
        self.norm = nn.BatchNorm1d(embedding_dim, eps=bn_eps, momentum=bn_momentum)
        self.dropout = nn.Dropout(dropout)
        glorot_init(self)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Map features ``(B, C, n_features, frames)`` to embeddings ``(B, embedding_dim)``.

        Args:
            features: padded feature maps.
            lengths: ``(B,)`` valid frames per utterance, or ``None`` when every row is whole.

        Raises:
            ValueError: if the feature size differs from ``n_features`` or ``lengths`` is invalid.
        """
        check_feature_size(features, self.n_features)
        lengths = check_frame_lengths(lengths, features.shape[0], features.shape[-1], device=features.device)
        x, lengths = run_stack(self.stack, features, lengths)
        frames = self.frame_dense(stack_to_sequence(x))
        if self.pooling == "mean":
            pooled = masked_mean(frames, lengths)
        else:
            pooled = masked_max(frames, lengths)
        return self.dropout(self.norm(pooled))


def check_feature_size(features: torch.Tensor, n_features: int) -> None:
    """Raise ``ValueError`` unless ``features`` is 4-D with ``n_features`` rows."""
    if features.dim() != 4:
        raise ValueError(
            f"expected features of shape (batch, channels, freq, frames), got shape {tuple(features.shape)}."
        )
    if features.shape[2] != n_features:
        raise ValueError(
            f"this back end was built for n_features={n_features}, got features with {features.shape[2]} "
            f"bins (shape {tuple(features.shape)}); build it with n_features={features.shape[2]}."
        )


@register_model("lcnn9_cm")
def lcnn9_cm(
    in_channels: int = 1,
    *,
    n_features: int = 60,
    embedding_dim: int = 80,
    pooling: str = "mean",
    dropout: float = 0.75,
    bn_momentum: float = KERAS_BN_MOMENTUM,
    bn_eps: float = KERAS_BN_EPS,
) -> LCNN9Countermeasure:
    """Build the LCNN-9 countermeasure back end (see :class:`LCNN9Countermeasure`)."""
    return LCNN9Countermeasure(
        in_channels,
        n_features=n_features,
        embedding_dim=embedding_dim,
        pooling=pooling,
        dropout=dropout,
        bn_momentum=bn_momentum,
        bn_eps=bn_eps,
    )
