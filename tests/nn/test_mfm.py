import pytest
import torch

from lcnn.nn import MaxFeatureMap, MFMConv2d, MFMLinear, max_feature_map


def naive_mfm(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Element by element reference: out[..., j, ...] = max(x[..., j, ...], x[..., j + C, ...])."""
    half = x.shape[dim] // 2
    moved = x.movedim(dim, 0)
    out = torch.empty((half,) + moved.shape[1:], dtype=x.dtype)
    for j in range(half):
        out[j] = torch.where(moved[j] >= moved[j + half], moved[j], moved[j + half])
    return out.movedim(0, dim)


@pytest.mark.parametrize(
    ("shape", "dim"),
    [((3, 8, 5, 7), 1), ((4, 10), 1), ((4, 10), -1), ((2, 3, 6), 2), ((2, 6, 4, 4), -3)],
)
def test_mfm_matches_naive_reference(shape, dim):
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    expected = naive_mfm(x, dim)
    result = MaxFeatureMap(dim)(x)
    assert result.shape == expected.shape
    torch.testing.assert_close(result, expected, rtol=0, atol=0)


def test_mfm_gradient_goes_to_larger_half():
    x = torch.tensor([[1.0, -2.0, 3.0, 0.5, 4.0, -1.0]], requires_grad=True)
    max_feature_map(x, dim=1).sum().backward()
    # Pairs (1, 0.5), (-2, 4), (3, -1): the larger element of each pair gets the gradient.
    assert x.grad.tolist() == [[1.0, 0.0, 1.0, 0.0, 1.0, 0.0]]


def test_mfm_gradcheck():
    x = torch.randn(2, 6, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: max_feature_map(t, 1), (x,))


def test_mfm_odd_width_raises():
    with pytest.raises(ValueError, match=r"even width along dim 1, got 5"):
        MaxFeatureMap()(torch.zeros(2, 5, 4, 4))


def test_mfm_conv_shapes():
    block = MFMConv2d(3, 16, 3)
    assert block.conv.out_channels == 32
    assert block(torch.zeros(2, 3, 9, 11)).shape == (2, 16, 9, 11)


def test_mfm_conv_even_kernel_raises():
    with pytest.raises(ValueError, match=r"odd number .* got 4"):
        MFMConv2d(3, 16, 4)


def test_mfm_linear_shapes_and_values():
    block = MFMLinear(7, 5)
    x = torch.randn(4, 7)
    dense = block.linear(x)
    torch.testing.assert_close(block(x), torch.maximum(dense[:, :5], dense[:, 5:]))


def test_mfm_gradient_on_ties_goes_to_first_half():
    x = torch.tensor([[2.0, -1.0, 2.0, -1.0]], requires_grad=True)
    max_feature_map(x, dim=1).backward(torch.tensor([[3.0, 5.0]]))
    assert x.grad.tolist() == [[3.0, 5.0, 0.0, 0.0]]


@pytest.mark.parametrize("channels_last", [False, True])
def test_mfm_gradient_matches_masked_reference(channels_last):
    x = torch.randn(2, 8, 5, 3, generator=torch.Generator().manual_seed(1))
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    x.requires_grad_()
    upstream = torch.randn(2, 4, 5, 3, generator=torch.Generator().manual_seed(2))
    max_feature_map(x, dim=1).backward(upstream)
    first_wins = x[:, :4] >= x[:, 4:]
    expected = torch.cat([upstream * first_wins, upstream * ~first_wins], dim=1)
    torch.testing.assert_close(x.grad, expected, rtol=0, atol=0)
    assert x.grad.is_contiguous(memory_format=torch.channels_last) == channels_last


def test_mfm_without_grad_matches_with_grad():
    x = torch.randn(3, 6, 4, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        plain = max_feature_map(x, dim=-2)
    tracked = max_feature_map(x.clone().requires_grad_(), dim=-2)
    torch.testing.assert_close(tracked.detach(), plain, rtol=0, atol=0)


def test_mfm_conv_1x1_channels_last_matches_default_path():
    torch.manual_seed(4)
    block = MFMConv2d(6, 5, 1)
    x = torch.randn(3, 6, 7, 9)
    expected = block(x)
    expected.square().sum().backward()
    expected_grads = [p.grad.clone() for p in block.parameters()]
    block.zero_grad()
    x_last = x.contiguous(memory_format=torch.channels_last)
    result = block(x_last)
    result.square().sum().backward()
    assert result.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(result, expected, rtol=1e-5, atol=1e-6)
    for grad, expected_grad in zip((p.grad for p in block.parameters()), expected_grads):
        torch.testing.assert_close(grad, expected_grad, rtol=1e-5, atol=1e-5)
