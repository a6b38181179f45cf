import pytest
import torch
from torch import nn

from lcnn.errors import UnknownModelError
from lcnn.models import LCNN9, LCNN9Stack, create_model, list_models
from lcnn.nn import MFMConv2d


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def expected_parameters(in_channels: int, num_classes: int, height: int, width: int) -> int:
    """Count LCNN-9 parameters from the layer table by hand: (kernel, filters before MFM, input channels)."""
    convs = [(5, 64, in_channels), (1, 64, 32), (3, 96, 32), (1, 96, 48), (3, 128, 48),
             (1, 128, 64), (3, 64, 64), (1, 64, 32), (3, 64, 32)]
    total = sum(k * k * c_in * filters + filters for k, filters, c_in in convs)
    total += 2 * (32 + 48 + 48 + 64 + 32 + 32)  # batch norm scale and shift
    flat = 32 * (height // 16) * (width // 16)
    total += flat * 160 + 160 + 2 * 80 + 80 * num_classes + num_classes
    return total


@pytest.mark.parametrize(
    ("in_channels", "size", "params"),
    [(1, 28, 164_266), (3, 32, 182_826)],
)
def test_lcnn9_parameter_count(in_channels, size, params):
    model = create_model("lcnn9", in_channels=in_channels, num_classes=10)
    assert count_parameters(model) == params
    assert params == expected_parameters(in_channels, 10, size, size)


@pytest.mark.parametrize(("in_channels", "size", "flat"), [(1, 28, 32), (3, 32, 128)])
def test_lcnn9_output_shapes(in_channels, size, flat):
    model = create_model("lcnn9", in_channels=in_channels, num_classes=10).eval()
    x = torch.randn(5, in_channels, size, size)
    assert model.features(x).flatten(1).shape == (5, flat)
    assert model(x).shape == (5, 10)


def test_lcnn9_layer_order_matches_reference():
    layers = list(LCNN9Stack(1).layers)
    kinds = []
    for layer in layers:
        if isinstance(layer, MFMConv2d):
            kinds.append(f"conv{layer.conv.kernel_size[0]}x{layer.conv.out_channels}")
        elif isinstance(layer, nn.MaxPool2d):
            kinds.append("pool")
        elif isinstance(layer, nn.BatchNorm2d):
            kinds.append(f"bn{layer.num_features}")
    assert kinds == [
        "conv5x64", "pool",
        "conv1x64", "bn32",
        "conv3x96", "pool", "bn48",
        "conv1x96", "bn48",
        "conv3x128", "pool",
        "conv1x128", "bn64",
        "conv3x64", "bn32",
        "conv1x64", "bn32",
        "conv3x64", "pool",
    ]


def test_lcnn9_keras_batch_norm_settings_and_dropout():
    model = create_model("lcnn9", in_channels=1, num_classes=10)
    norms = [m for m in model.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    assert len(norms) == 7
    assert all(m.momentum == 0.01 and m.eps == 1e-3 for m in norms)
    dropouts = [m for m in model.modules() if isinstance(m, nn.Dropout)]
    assert [m.p for m in dropouts] == [0.75]


def test_lcnn9_glorot_init_zero_bias():
    model = create_model("lcnn9", in_channels=1, num_classes=10)
    conv = model.features.layers[0].conv
    bound = (6 / (25 * 1 + 25 * 64)) ** 0.5
    assert conv.weight.abs().max() <= bound
    assert conv.weight.abs().max() > 0.9 * bound
    assert torch.count_nonzero(conv.bias) == 0


@pytest.mark.parametrize("size", [(16, 16), (17, 40), (100, 23)])
def test_lcnn9_any_size_and_channels(size):
    model = LCNN9(in_channels=2, num_classes=3, input_size=size).eval()
    assert model(torch.randn(2, 2, *size)).shape == (2, 3)


def test_lcnn9_batch_consistency():
    model = create_model("lcnn9", in_channels=1, num_classes=10).eval()
    x = torch.randn(4, 1, 28, 28)
    torch.testing.assert_close(model(x)[1:2], model(x[1:2]), rtol=1e-5, atol=1e-5)


def test_lcnn9_input_too_small_raises():
    with pytest.raises(ValueError, match=r"at least 16x16 .* got 15x28"):
        LCNN9(in_channels=1, num_classes=10, input_size=(15, 28))
    with pytest.raises(ValueError, match=r"at least 16x16 .* got 12x12"):
        LCNN9Stack(1)(torch.zeros(1, 1, 12, 12))


def test_lcnn9_wrong_input_size_names_fix():
    model = create_model("lcnn9", in_channels=3, num_classes=10)
    with pytest.raises(ValueError, match=r"input_size=\(32, 32\), got \(28, 28\)"):
        model(torch.zeros(1, 3, 28, 28))


def test_lcnn9_wrong_channels_raises():
    model = create_model("lcnn9", in_channels=3, num_classes=10)
    with pytest.raises(ValueError, match=r"in_channels=3, got an input with 1 channels"):
        model(torch.zeros(1, 1, 32, 32))


def test_registry_lists_and_rejects_unknown():
    assert "lcnn9" in list_models()
    with pytest.raises(UnknownModelError, match=r"unknown model 'lcnn10'.*lcnn9"):
        create_model("lcnn10")


def test_lcnn9_gradients_reach_first_layer():
    model = create_model("lcnn9", in_channels=1, num_classes=10).train()
    loss = model(torch.randn(8, 1, 28, 28)).logsumexp(dim=1).mean()
    loss.backward()
    assert model.features.layers[0].conv.weight.grad.abs().sum() > 0
