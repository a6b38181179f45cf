"""Tests of the countermeasure back ends lcnn9_cm and lcnn_lstm."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lcnn.models import LCNN9Countermeasure, LCNNLSTM, create_model, list_models
from lcnn.models.masking import frame_mask, masked_max, masked_mean, stack_to_sequence

BACKBONES = ("lcnn9_cm", "lcnn_lstm")
EMBEDDING_DIMS = {"lcnn9_cm": 80, "lcnn_lstm": 96}
NII_STATE_DICT = "pretrained/nii_lfcc_lcnn_lstm_sig_asvspoof2019la.pt"


def build(name: str, **kwargs) -> nn.Module:
    torch.manual_seed(0)
    return create_model(name, **kwargs).eval()


def test_backbones_registered():
    for name in BACKBONES:
        assert name in list_models()


@pytest.mark.parametrize("name", BACKBONES)
@pytest.mark.parametrize("frames", [16, 17, 31, 100, 333])
def test_embedding_shape_any_frames(name, frames):
    model = build(name)
    with torch.no_grad():
        embedding = model(torch.randn(3, 1, 60, frames))
    assert embedding.shape == (3, EMBEDDING_DIMS[name])
    assert torch.isfinite(embedding).all()


@pytest.mark.parametrize("name", BACKBONES)
@pytest.mark.parametrize("n_features", [16, 60, 84, 257])
def test_embedding_shape_feature_sizes(name, n_features):
    model = build(name, n_features=n_features)
    with torch.no_grad():
        assert model(torch.randn(2, 1, n_features, 40)).shape == (2, EMBEDDING_DIMS[name])


def test_lcnn_lstm_parameter_count():
    # Counted by hand from the layer list: 157,504 in the convolutions, 112,128 in the two LSTM layers.
    model = create_model("lcnn_lstm")
    assert sum(p.numel() for p in model.parameters()) == 269_632


def test_lcnn_lstm_parameter_count_matches_published(data_dir):
    path = data_dir / NII_STATE_DICT
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    published = torch.load(path, map_location="cpu", weights_only=True)
    trainable = sum(
        value.numel()
        for key, value in published.items()
        if key.startswith(("m_transform", "m_before_pooling")) and not key.split(".")[-1].startswith(("running", "num_batches"))
    )
    assert sum(p.numel() for p in create_model("lcnn_lstm").parameters()) == trainable


def test_lcnn_lstm_batch_norm_settings():
    norms = [m for m in create_model("lcnn_lstm").modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(norms) == 6
    for norm in norms:
        assert not norm.affine
        assert norm.momentum == 0.1
        assert norm.eps == 1e-5


def test_lcnn9_cm_keras_batch_norm_and_dropout():
    model = create_model("lcnn9_cm")
    norms = [m for m in model.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    assert len(norms) == 7
    for norm in norms:
        assert norm.affine
        assert norm.momentum == 0.01
        assert norm.eps == 1e-3
    assert model.dropout.p == 0.75
    assert model.frame_dense.linear.out_features == 160


def test_lcnn_lstm_dropout_and_no_projection():
    model = create_model("lcnn_lstm")
    assert model.dropout.p == 0.7
    assert isinstance(model.projection, nn.Identity)
    assert model.lstm.hidden_size == 48
    assert model.lstm.num_layers == 2
    assert model.lstm.bidirectional


def test_lcnn_lstm_projection_for_other_sizes():
    model = create_model("lcnn_lstm", n_features=257)
    assert isinstance(model.projection, nn.Linear)
    assert model.projection.in_features == 32 * 16
    assert model.projection.out_features == 96


def test_stack_to_sequence_matches_time_major_layout():
    # The published model permutes a (B, 32, T, F) map with permute(0, 2, 1, 3) and flattens.
    x = torch.randn(2, 32, 3, 7)
    published = x.transpose(2, 3).permute(0, 2, 1, 3).reshape(2, 7, -1)
    assert torch.equal(stack_to_sequence(x), published)


def test_masked_pooling_naive():
    sequence = torch.randn(3, 6, 4)
    lengths = torch.tensor([6, 2, 4])
    mean, maximum = masked_mean(sequence, lengths), masked_max(sequence, lengths)
    for b, length in enumerate(lengths.tolist()):
        assert torch.allclose(mean[b], sequence[b, :length].mean(0))
        assert torch.equal(maximum[b], sequence[b, :length].amax(0))
    assert frame_mask(lengths, 6).sum().item() == 12


@pytest.mark.parametrize(
    "name, kwargs",
    [("lcnn_lstm", {}), ("lcnn9_cm", {"pooling": "mean"}), ("lcnn9_cm", {"pooling": "max"})],
)
def test_padded_batch_equals_single(name, kwargs):
    model = build(name, **kwargs)
    lengths = [333, 250, 57, 16, 17]
    batch = torch.full((len(lengths), 1, 60, max(lengths)), 1e3)  # padding far from real features
    singles = []
    for b, length in enumerate(lengths):
        features = torch.randn(1, 1, 60, length)
        batch[b, :, :, :length] = features[0]
        singles.append(features)
    with torch.no_grad():
        padded = model(batch, torch.tensor(lengths))
        for b, features in enumerate(singles):
            alone = model(features)[0]
            assert torch.allclose(padded[b], alone, atol=1e-5), f"row {b} (length {lengths[b]})"


@pytest.mark.parametrize("name", BACKBONES)
def test_full_lengths_equal_no_lengths(name):
    model = build(name)
    features = torch.randn(2, 1, 60, 90)
    with torch.no_grad():
        assert torch.equal(model(features, torch.tensor([90, 90])), model(features))


@pytest.mark.parametrize("name", BACKBONES)
def test_gradients_reach_every_parameter(name):
    model = build(name).train()
    features = torch.randn(4, 1, 60, 70, requires_grad=True)
    model(features, torch.tensor([70, 50, 33, 16])).pow(2).sum().backward()
    for parameter_name, parameter in model.named_parameters():
        assert parameter.grad is not None, parameter_name
        assert torch.isfinite(parameter.grad).all(), parameter_name
        assert parameter.grad.abs().sum() > 0, parameter_name
    assert features.grad.abs().sum() > 0


@pytest.mark.parametrize("name", BACKBONES)
def test_wrong_feature_size_rejected(name):
    model = build(name)
    with pytest.raises(ValueError, match="n_features=60, got features with 40 bins"):
        model(torch.randn(1, 1, 40, 50))


@pytest.mark.parametrize("name", BACKBONES)
def test_too_few_frames_rejected(name):
    model = build(name)
    with pytest.raises(ValueError, match="at least 16x16"):
        model(torch.randn(1, 1, 60, 15))
    with pytest.raises(ValueError, match=r"frame lengths must be in \[16, 50\].*min 12"):
        model(torch.randn(2, 1, 60, 50), torch.tensor([50, 12]))


@pytest.mark.parametrize("name", BACKBONES)
def test_bad_lengths_rejected(name):
    model = build(name)
    features = torch.randn(2, 1, 60, 50)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        model(features, torch.tensor([50]))
    with pytest.raises(ValueError, match="max 51"):
        model(features, torch.tensor([50, 51]))
    with pytest.raises(ValueError, match="integers"):
        model(features, torch.tensor([50.0, 40.0]))


def test_invalid_settings_rejected():
    with pytest.raises(ValueError, match="pooling must be one of mean, max"):
        LCNN9Countermeasure(pooling="sum")
    with pytest.raises(ValueError, match="n_features must be at least 16"):
        LCNNLSTM(n_features=8)
    with pytest.raises(ValueError, match="dropout must be in"):
        LCNNLSTM(dropout=1.0)
