"""LCNN-LSTM: the back end of the ASVspoof 2021 LFCC-LCNN baseline.

The layers follow the LFCC-LCNN-LSTM model of Xin Wang (National Institute of Informatics), published
with its weights in the nii-yamagishilab/project-NN-Pytorch-scripts repository and used by the
ASVspoof 2021 challenge as its LFCC-LCNN baseline:

1. the nine-convolution MFM stack of LCNN-9 with batch norm without affine parameters (PyTorch's
   default momentum 0.1 and eps 1e-5, as in the published model), then dropout 0.7;
2. the map ``(B, 32, freq // 16, frames // 16)`` read as ``frames // 16`` vectors of
   ``32 * (freq // 16)`` values, channel-major then frequency (96 values for 60 LFCC features);
3. two bidirectional LSTM layers with 48 units per direction, whose output is added to their input;
4. the mean over the valid time steps, a 96-dimensional embedding.

The published model maps the embedding to one logit with a linear layer; here that layer is the
``"sigmoid"`` head of :mod:`lcnn.heads`. With 60 features the back end has 269,632 parameters
(269,729 with the head).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lcnn.models.lcnn9 import MIN_INPUT_SIZE, LCNN9Stack
from lcnn.models.lcnn9_cm import check_feature_size
from lcnn.models.masking import check_frame_lengths, masked_mean, run_stack, stack_to_sequence
from lcnn.models.registry import register_model

__all__ = ["LCNNLSTM", "TORCH_BN_MOMENTUM", "TORCH_BN_EPS"]

TORCH_BN_MOMENTUM = 0.1
TORCH_BN_EPS = 1e-5
STACK_OUT_CHANNELS = 32


class LCNNLSTM(nn.Module):
    """LCNN stack with non-affine batch norm, two bidirectional LSTM layers with a residual, mean over time.

    Args:
        in_channels: int > 0, channels of the feature map.
        n_features: int >= 16, feature bins per frame (60 for LFCC with deltas).
        hidden_size: int > 0, LSTM units per direction; the embedding has ``2 * hidden_size`` values.
        num_layers: int > 0, stacked bidirectional LSTM layers.
        dropout: float in [0, 1), applied to the stack output in training.
        bn_momentum, bn_eps: batch-norm settings.

    When ``32 * (n_features // 16)`` differs from ``2 * hidden_size`` (for example with a
    257-bin spectrogram), a linear layer projects each frame to ``2 * hidden_size`` values first, so
    that the residual connection has matching sizes. With the defaults and 60 features there is no
    projection, as in the published model.

    Shapes:
        features ``(B, in_channels, n_features, frames)`` with ``frames >= 16``, optional
        ``lengths (B,)`` -> embedding ``(B, 2 * hidden_size)``.

    Example:
        >>> LCNNLSTM(n_features=60).eval()(torch.randn(2, 1, 60, 333)).shape
        torch.Size([2, 96])
    """

    def __init__(
        self,
        in_channels: int = 1,
        *,
        n_features: int = 60,
        hidden_size: int = 48,
        num_layers: int = 2,
        dropout: float = 0.7,
        bn_momentum: float = TORCH_BN_MOMENTUM,
        bn_eps: float = TORCH_BN_EPS,
    ) -> None:
        super().__init__()
        if n_features < MIN_INPUT_SIZE:
            raise ValueError(
                f"n_features must be at least {MIN_INPUT_SIZE} for four 2x2 poolings, got {n_features}."
            )
        if hidden_size <= 0 or num_layers <= 0:
            raise ValueError(
                f"hidden_size and num_layers must be positive integers, got {hidden_size} and {num_layers}."
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}.")
        self.n_features = n_features
        self.embedding_dim = 2 * hidden_size
        self.stack = LCNN9Stack(in_channels, affine=False, bn_momentum=bn_momentum, bn_eps=bn_eps)
        self.dropout = nn.Dropout(dropout)
        frame_dim = STACK_OUT_CHANNELS * (n_features // 16)
        if frame_dim == self.embedding_dim:
            self.projection: nn.Module = nn.Identity()
        else:
            self.projection = nn.Linear(frame_dim, self.embedding_dim)
        self.lstm = nn.LSTM(
            self.embedding_dim,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=True,
        )

    def forward(self, features: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Map features ``(B, C, n_features, frames)`` to embeddings ``(B, 2 * hidden_size)``.

        Args:
            features: padded feature maps.
            lengths: ``(B,)`` valid frames per utterance, or ``None`` when every row is whole. With
                lengths, each utterance gets the embedding it would get alone (the LSTM runs on a
                packed sequence and the mean covers its own steps).

        Raises:
            ValueError: if the feature size differs from ``n_features`` or ``lengths`` is invalid.
        """
        check_feature_size(features, self.n_features)
        lengths = check_frame_lengths(lengths, features.shape[0], features.shape[-1], device=features.device)
        x, lengths = run_stack(self.stack, features, lengths)
        sequence = self.projection(stack_to_sequence(self.dropout(x)))
        if lengths is None:
            hidden, _ = self.lstm(sequence)
        else:
            packed = pack_padded_sequence(sequence, lengths.cpu(), batch_first=True, enforce_sorted=False)
            hidden, _ = self.lstm(packed)
            hidden, _ = pad_packed_sequence(hidden, batch_first=True, total_length=sequence.shape[1])
        return masked_mean(hidden + sequence, lengths)


@register_model("lcnn_lstm")
def lcnn_lstm(
    in_channels: int = 1,
    *,
    n_features: int = 60,
    hidden_size: int = 48,
    num_layers: int = 2,
    dropout: float = 0.7,
    bn_momentum: float = TORCH_BN_MOMENTUM,
    bn_eps: float = TORCH_BN_EPS,
) -> LCNNLSTM:
    """Build the LCNN-LSTM back end of the ASVspoof 2021 baseline (see :class:`LCNNLSTM`)."""
    return LCNNLSTM(
        in_channels,
        n_features=n_features,
        hidden_size=hidden_size,
        num_layers=num_layers,
        dropout=dropout,
        bn_momentum=bn_momentum,
        bn_eps=bn_eps,
    )
