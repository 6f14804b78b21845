"""ActivationCode (engine/ops.py, the Python IntEnum) agrees with the C++ enum of
csrc/include/deep_ei_fast/activation.h, read through the activation_code op, and it is what
engine/layer_spec.FUSED_ACTIVATIONS hands to the fused Linear kernel."""
import pytest
import torch
import torch.nn as nn

from deep_ei_fast.engine import layer_spec, ops


@pytest.mark.parametrize("member", list(ops.ActivationCode), ids=lambda m: m.name)
def test_every_member_has_the_cpp_code(member):
    assert ops.activation_code(member.name) == member.value


@pytest.mark.parametrize("name", ["", "GELU", "relu", "Sigmoid", "IDENTITY ", "SOFTMAX"])
def test_unknown_names_give_minus_one(name):
    assert ops.activation_code(name) == -1


def test_codes_are_distinct_and_non_negative():
    values = [m.value for m in ops.ActivationCode]
    assert len(set(values)) == len(values) and min(values) >= 0


def test_fused_activations_use_activation_code():
    table = layer_spec.FUSED_ACTIVATIONS
    assert {code for code, _ in table.values()} == set(ops.ActivationCode)
    assert all(type(code) is ops.ActivationCode for code, _ in table.values())
    assert table[type(None)][0] is ops.ActivationCode.IDENTITY
    assert table[nn.Sigmoid][0] is ops.ActivationCode.SIGMOID
    assert table[nn.Tanh][0] is ops.ActivationCode.TANH
    assert table[nn.ReLU][0] is ops.ActivationCode.RELU


@pytest.mark.parametrize("module_type", list(layer_spec.FUSED_ACTIVATIONS), ids=lambda t: t.__name__)
def test_fused_kernel_computes_the_module_of_its_code(module_type):
    """The code FUSED_ACTIVATIONS gives a module type makes the kernel compute that module,
    and no output lies below the least value the table states for it."""
    code, least = layer_spec.FUSED_ACTIVATIONS[module_type]
    g = torch.Generator().manual_seed(1)
    w, b = torch.randn(4, 3, generator=g) * 3, torch.randn(4, generator=g)
    x, y = torch.empty(3, 2000), torch.empty(4, 2000)
    ops.sample_linear_layer_(x, y, w, b, code, 5, 0, -1.0, 1.0)
    z = (w @ x).T + b
    expected = z if module_type is type(None) else module_type()(z)
    # the kernel sums in another order than the matrix product: float32 rounding apart
    torch.testing.assert_close(y.T, expected, rtol=1e-5, atol=1e-5)
    if least is not None:
        assert y.min().item() >= least
