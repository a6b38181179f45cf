import pytest
import torch

from lcnn.models import LCNN9, LCNN9Countermeasure, optimize_for_cpu, tune_glibc_malloc


@pytest.mark.parametrize(
    ("build", "input_shape"),
    [
        (lambda: LCNN9(1, 2, input_size=(32, 48), dropout=0.0), (3, 1, 32, 48)),
        (lambda: LCNN9(3, 10, input_size=(32, 32), dropout=0.0), (3, 3, 32, 32)),
        (lambda: LCNN9Countermeasure(n_features=32, dropout=0.0), (3, 1, 32, 40)),
    ],
)
def test_optimize_for_cpu_keeps_outputs_and_gradients(build, input_shape):
    # float64 so that only the summation order of the two paths can differ.
    x = torch.randn(*input_shape, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    torch.manual_seed(0)
    reference = build().double()
    torch.manual_seed(0)
    fast = optimize_for_cpu(build().double())
    expected = reference(x)
    result = fast(x)
    torch.testing.assert_close(result, expected, rtol=1e-10, atol=1e-12)
    expected.square().sum().backward()
    result.square().sum().backward()
    for (name, p_ref), p_fast in zip(reference.named_parameters(), fast.parameters()):
        torch.testing.assert_close(p_fast.grad, p_ref.grad, rtol=1e-7, atol=1e-9, msg=name)


def test_optimize_for_cpu_stores_conv_weights_channels_last():
    model = optimize_for_cpu(LCNN9(1, 10, input_size=(28, 28)))
    conv = model.features.layers[4].conv
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert not conv.weight.is_contiguous()


def test_optimized_state_dict_loads_into_plain_model():
    fast = optimize_for_cpu(LCNN9(1, 10, input_size=(28, 28)))
    plain = LCNN9(1, 10, input_size=(28, 28))
    plain.load_state_dict(fast.state_dict())
    x = torch.randn(2, 1, 28, 28)
    torch.testing.assert_close(plain.eval()(x), fast.eval()(x), rtol=1e-5, atol=1e-5)


def test_tune_glibc_malloc_returns_bool():
    assert isinstance(tune_glibc_malloc(), bool)
