"""Conv2d: the layer is the map from one receptive field (C_in x kH x kW inputs) to the C_out
channels at one location, so with rng="philox" and the same seed its EI equals that of the
nn.Linear(C_in*kH*kW, C_out) with weight conv.weight.reshape(C_out, -1) and bias conv.bias."""
import numpy as np
import pytest
import torch
import torch.nn as nn

from helpers import ACTIVATIONS


def _pair(c_in, c_out, k, act, bias=True, seed=0, image=(9, 11), **conv_kw):
    torch.manual_seed(seed)
    conv = nn.Conv2d(c_in, c_out, k, bias=bias, **conv_kw)
    lin = nn.Linear(conv.weight[0].numel(), c_out, bias=bias)
    with torch.no_grad():
        lin.weight.copy_(conv.weight.reshape(c_out, -1))
        if bias:
            lin.bias.copy_(conv.bias)
    A = ACTIVATIONS[act]
    cnet = nn.Sequential(conv, *( [A()] if A else []))
    lnet = nn.Sequential(lin, *( [A()] if A else []))
    return conv, lin, cnet, lnet, (1, c_in) + tuple(image)


def _same(a, b):
    if isinstance(a, (tuple, list)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    elif isinstance(a, np.ndarray):
        assert a.shape == np.asarray(b).shape
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    else:
        assert a == pytest.approx(b, rel=1e-12, abs=1e-15)


FUNCS = ["ei", "ei_parts", "ei_parts_matrix", "sensitivity", "sensitivity_matrix", "vector_and_pairwise_ei"]


@pytest.mark.parametrize(
    "c_in,c_out,k,act",
    [(1, 2, 2, "sigmoid"), (2, 3, (2, 3), "tanh"), (3, 4, 1, "relu"), (2, 2, 2, "none")],
)
@pytest.mark.parametrize("name", FUNCS)
def test_conv_equals_linear(dei, name, c_in, c_out, k, act):
    conv, lin, cnet, lnet, shape = _pair(c_in, c_out, k, act)
    ctop = dei.topology_of(cnet, torch.zeros(shape))
    ltop = dei.topology_of(lnet, torch.zeros((1, lin.in_features)))
    kw = dict(samples=3000, in_bins=16, out_bins=16, seed=11, progress=False)
    if act == "none":
        kw.update(in_range=(0, 1), out_range=(-2, 2))
    got = getattr(dei, name)(conv, ctop, **kw)
    ref = getattr(dei, name)(lin, ltop, **kw)
    _same(got, ref)
    if isinstance(ref, np.ndarray):
        assert ref.shape == (lin.in_features, c_out)
    assert np.sum(ref) > 0.01  # a non-trivial comparison


def test_conv_without_bias_and_with_stride_padding(dei):
    conv, lin, cnet, lnet, shape = _pair(2, 3, 3, "sigmoid", bias=False, stride=2, padding=1, dilation=1, image=(8, 8))
    ctop = dei.topology_of(cnet, torch.zeros(shape))
    ltop = dei.topology_of(lnet, torch.zeros((1, lin.in_features)))
    kw = dict(samples=2000, in_bins=8, out_bins=8, seed=5, progress=False)
    _same(dei.ei_parts_matrix(conv, ctop, **kw), dei.ei_parts_matrix(lin, ltop, **kw))
    _same(dei.ei(conv, ctop, **kw), dei.ei(lin, ltop, **kw))


def test_conv_eis_between_groups(dei):
    conv, lin, cnet, lnet, shape = _pair(2, 3, 2, "sigmoid")
    ctop = dei.topology_of(cnet, torch.zeros(shape))
    ltop = dei.topology_of(lnet, torch.zeros((1, lin.in_features)))
    groups = [((0, 1, 2), (0,)), ((4, 7), (1, 2))]
    kw = dict(samples=2000, in_bins=8, out_bins=8, seed=6, progress=False)
    _same(dei.eis_between_groups(conv, ctop, groups, **kw), dei.eis_between_groups(lin, ltop, groups, **kw))


def test_conv_in_a_network(dei):
    # the conv node of a bigger network gives the same values as the conv alone
    conv, lin, cnet, lnet, shape = _pair(1, 2, 3, "relu", image=(6, 6))
    net = nn.Sequential(conv, nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3), nn.Sigmoid())
    top = dei.topology_of(net, torch.zeros(shape))
    ltop = dei.topology_of(lnet, torch.zeros((1, lin.in_features)))
    kw = dict(samples=2000, in_bins=8, out_bins=8, seed=8, progress=False)
    _same(dei.ei_parts(conv, top, **kw), dei.ei_parts(lin, ltop, **kw))
