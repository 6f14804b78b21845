"""Layers inside residual MLPs, transformer encoder layers and CNNs, and Linears on token
inputs, measured right: cases with known answers, and the plain reference
(tests/torch_reference.py) on the same noise in both rng modes.

rng="torch": the reference regenerates deep-ei's draws (torch.manual_seed, then one
torch.rand((batch_size, *in_shape)) per batch) and runs them through the module and the
activation the model applies after it; the library must give the same numbers to rtol 1e-9
(the same samples and formulas; only the per-cell logs' rounding differs).

rng="philox": the reference draws the noise with tests/philox_numpy.py (an independent
Philox). Where the fused Linear/Conv2d kernel computes the outputs, the test takes them from
the kernel (ops.sample_linear_layer_ with the module's weights and the expected activation),
checks them against the module and activation run by torch (rtol 1e-5, atol 1e-5: the kernel
sums in another order; float32 rounding), and requires the library's matrix to equal the
reference's on those outputs to rtol 1e-9; where torch computes them, on torch's outputs.
"""
import math
from typing import Callable, NamedTuple, Optional

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from test_known_values import entropy_deficit_bound, independence_bound

from deep_ei_fast.engine import ops
from deep_ei_fast.engine.ops import ActivationCode

import torch_reference as R
from philox_numpy import philox_uniform

RTOL, ATOL = 1e-9, 1e-12
BINS = 8


class ResidualMLP(nn.Module):
    def __init__(self, width=6, hidden=8, act=None):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(width, hidden), nn.Linear(hidden, width)
        self.act = act if act is not None else nn.ReLU()

    def forward(self, x):
        return x + self.fc2(self.act(self.fc1(x)))


class SmallCNN(nn.Module):
    """conv -> F.relu -> MaxPool2d -> Flatten -> Linear -> torch.sigmoid, in a custom forward."""

    def __init__(self):
        super().__init__()
        self.conv, self.pool, self.flat, self.head = nn.Conv2d(2, 3, 2), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(12, 4)

    def forward(self, x):
        return torch.sigmoid(self.head(self.flat(self.pool(F.relu(self.conv(x))))))


def encoder():
    return nn.TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=12, batch_first=True)


class Case(NamedTuple):
    model: nn.Module
    example: torch.Tensor
    layer: nn.Module
    in_layer: Optional[nn.Module]
    in_shape: tuple  # one sample's noise
    in_range: tuple
    out_range: tuple
    function: Callable  # what the model computes from the noise, per sample
    fused: Optional[tuple]  # (module, ActivationCode) when the fused kernel computes it


RELU, SIGMOID, IDENTITY = ActivationCode.RELU, ActivationCode.SIGMOID, ActivationCode.IDENTITY


def case(name):
    torch.manual_seed(0)
    if name.startswith("residual"):
        m = ResidualMLP()
        x = torch.zeros(2, 5, 6)  # tokens: a batch of 2 sequences of 5
        if name == "residual fc1":
            return Case(m, x, m.fc1, None, (6,), (-10, 10), (0, 10), lambda t: torch.relu(m.fc1(t)), (m.fc1, RELU))
        if name == "residual fc2":
            return Case(m, x, m.fc2, None, (8,), (0, 10), (-10, 10), m.fc2, (m.fc2, IDENTITY))
        return Case(m, x, m.fc2, m.fc1, (6,), (-10, 10), (-10, 10), lambda t: m.fc2(torch.relu(m.fc1(t))), None)
    if name.startswith("encoder"):
        m = encoder()
        x = torch.zeros(1, 4, 8)
        if name == "encoder linear1":  # its F.relu is found in the trace
            return Case(m, x, m.linear1, None, (8,), (-10, 10), (0, 10), lambda t: F.relu(m.linear1(t)),
                        (m.linear1, RELU))
        return Case(m, x, m.linear2, None, (12,), (0, 10), (-10, 10), m.linear2, (m.linear2, IDENTITY))
    m = SmallCNN()
    x = torch.zeros(1, 2, 5, 5)
    if name == "cnn conv":  # one receptive field: 2 x 2 x 2 -> 3 channels
        return Case(m, x, m.conv, None, (2, 2, 2), (-10, 10), (0, 10),
                    lambda t: F.relu(F.conv2d(t, m.conv.weight, m.conv.bias)), (m.conv, RELU))
    if name == "cnn head":
        return Case(m, x, m.head, None, (12,), (-10, 10), (0, 1), lambda t: torch.sigmoid(m.head(t)),
                    (m.head, SIGMOID))
    # conv ... head: the real tensors, through the pool and the flatten
    return Case(m, x, m.head, m.conv, (2, 5, 5), (-10, 10), (0, 1),
                lambda t: torch.sigmoid(m.head(m.flat(m.pool(F.relu(m.conv(t)))))), None)


CASES = ["residual fc1", "residual fc2", "residual fc1..fc2", "encoder linear1", "encoder linear2",
         "cnn conv", "cnn head", "cnn conv..head"]


def _flat(t):
    return t.reshape(t.shape[0], -1)


@pytest.mark.parametrize("name", CASES)
def test_torch_rng_equals_the_plain_reference(dei, name):
    model, example, layer, in_layer, in_shape, in_range, out_range, function, _ = case(name)
    top = dei.topology_of(model, example)
    S, bs, seed = 6000, 500, 13
    torch.manual_seed(seed)
    x = torch.cat([(in_range[1] - in_range[0]) * torch.rand((bs, *in_shape)) + in_range[0] for _ in range(S // bs)])
    with torch.no_grad():
        y = function(x)
    ref_parts = float(R.ei_parts_matrix_from_samples(_flat(x), _flat(y), in_range, BINS, out_range, BINS).sum())
    ref_vector = R.vector_ei_from_samples(_flat(x), _flat(y), in_range, BINS, out_range, BINS)
    torch.manual_seed(seed)
    vector, parts = dei.vector_and_pairwise_ei(layer, top, samples=S, batch_size=bs, in_layer=in_layer,
                                               in_bins=BINS, out_bins=BINS, rng="torch", progress=False)
    assert parts == pytest.approx(ref_parts, rel=RTOL, abs=ATOL)
    assert vector == pytest.approx(ref_vector, rel=RTOL, abs=ATOL)
    assert parts > 0.5  # the case measures something


@pytest.mark.parametrize("name", CASES)
def test_philox_equals_the_plain_reference(dei, name):
    model, example, layer, in_layer, in_shape, in_range, out_range, function, fused = case(name)
    top = dei.topology_of(model, example)
    S, seed = 6000, 21
    n_in = math.prod(in_shape)
    x = torch.from_numpy(philox_uniform(seed, 0, 0, n_in, S, *in_range)).t().contiguous()  # [S, n_in]
    with torch.no_grad():
        y = _flat(function(x.reshape(S, *in_shape)))
    if fused is not None:
        module, code = fused
        weight = module.weight.detach().reshape(module.weight.shape[0], -1).contiguous()
        x_kernel, y_kernel = torch.empty(n_in, S), torch.empty(weight.shape[0], S)
        ops.sample_linear_layer_(x_kernel, y_kernel, weight, module.bias.detach(), code, seed, 0, *map(float, in_range))
        assert torch.equal(x_kernel.t(), x)
        torch.testing.assert_close(y_kernel.t(), y, rtol=1e-5, atol=1e-5)
        y = y_kernel.t()
    reference = R.ei_parts_matrix_from_samples(x, y, in_range, BINS, out_range, BINS).numpy()
    got = dei.ei_parts_matrix(layer, top, samples=S, in_layer=in_layer, in_bins=BINS, out_bins=BINS,
                              seed=seed, progress=False)
    np.testing.assert_allclose(got, reference, rtol=RTOL, atol=ATOL)
    assert got.sum() > 0.5


@pytest.mark.parametrize("rng", ["philox", "torch"])
def test_a_linear_on_tokens_equals_the_same_linear_alone(dei, rng):
    torch.manual_seed(1)
    model = ResidualMLP()
    top = dei.topology_of(model, torch.zeros(3, 7, 6))
    alone = dei.topology_of(nn.Sequential(model.fc1, nn.ReLU()), torch.zeros(1, 6))
    kw = dict(in_bins=BINS, out_bins=BINS, rng=rng, progress=False, **({"seed": 2} if rng == "philox" else {}))
    results = []
    for topology in (top, alone):
        torch.manual_seed(5)
        results.append((dei.vector_and_pairwise_ei(model.fc1, topology, samples=4000, **kw),
                        dei.sensitivity_matrix(model.fc1, topology, samples=300, **kw).tolist()))
    assert results[0] == results[1]


@pytest.mark.parametrize("rng", ["philox", "torch"])
@pytest.mark.parametrize("form", [torch.sigmoid, torch.Tensor.sigmoid, F.sigmoid, lambda t: t.sigmoid_()])
def test_a_functional_sigmoid_equals_the_module_form(dei, rng, form):
    torch.manual_seed(1)
    functional, module = ResidualMLP(act=form), ResidualMLP(act=nn.Sigmoid())
    module.load_state_dict(functional.state_dict())
    kw = dict(in_bins=BINS, out_bins=BINS, rng=rng, progress=False, **({"seed": 3} if rng == "philox" else {}))
    results = []
    for model in (functional, module):
        top = dei.topology_of(model, torch.zeros(1, 6))
        torch.manual_seed(6)
        results.append((dei.vector_and_pairwise_ei(model.fc1, top, samples=4000, **kw),
                        dei.sensitivity(model.fc1, top, samples=300, **kw),
                        dei.ei_parts(model.fc2, top, samples=4000, **kw)))  # its input range (0, 1)
    assert results[0] == results[1]


class IdentityResidual(nn.Module):
    def __init__(self, k):
        super().__init__()
        self.fc = nn.Linear(k, k)
        with torch.no_grad():
            self.fc.weight.copy_(torch.eye(k))
            self.fc.bias.zero_()

    def forward(self, x):
        return x + self.fc(x)


@pytest.mark.parametrize("k, B, example", [(3, 16, (1, 3)), (4, 8, (2, 6, 4))])
def test_an_identity_linear_in_a_residual_block_gives_k_log2_bins(dei, k, B, example):
    # The bounds of tests/test_known_values.py (identity map: diagonal pairs at log2 B minus the
    # plug-in deficit, other pairs independent).
    N = 50_000
    model = IdentityResidual(k)
    top = dei.topology_of(model, torch.zeros(example))
    total = dei.ei_parts(model.fc, top, samples=N, in_range=(0, 1), out_range=(0, 1), in_bins=B, out_bins=B,
                         seed=7, progress=False)
    assert k * (math.log2(B) - entropy_deficit_bound(B, N)) <= total
    assert total <= k * math.log2(B) + k * (k - 1) * independence_bound(B, N)


def test_causal_plane_of_a_transformer_encoder_layer(dei):
    torch.manual_seed(0)
    model = encoder()
    example = torch.zeros(1, 4, 8)
    plane = dei.causal_plane(model, example, samples=3000, sensitivity_samples=40, in_bins=BINS, out_bins=BINS,
                             seed=8, progress=False)
    assert [(r.name, r.n_in, r.n_out, r.in_low, r.out_high) for r in plane] == [
        ("linear1", 8, 12, -10.0, 10.0), ("linear2", 12, 8, 0.0, 10.0)]
    top = dei.topology_of(model, example)
    kw = dict(in_bins=BINS, out_bins=BINS, seed=8, progress=False)
    for row, layer in zip(plane, (model.linear1, model.linear2)):
        assert (row.ei, row.ei_parts) == dei.vector_and_pairwise_ei(layer, top, samples=3000, **kw)
        assert row.sensitivity == dei.sensitivity(layer, top, samples=40, **kw)
    by_module = dei.causal_plane(model, example, layers=[model.linear2], samples=3000, sensitivity_samples=40,
                                 in_bins=BINS, out_bins=BINS, seed=8, progress=False)
    assert by_module[0].ei == plane[1].ei


def test_causal_plane_layers_by_name_and_unknown_names(dei):
    torch.manual_seed(0)
    model = SmallCNN()
    plane = dei.causal_plane(model, torch.zeros(1, 2, 5, 5), layers=["head", "conv"], samples=2000,
                             sensitivity_samples=20, in_bins=BINS, out_bins=BINS, seed=1, progress=False)
    assert [(r.name, r.module) for r in plane] == [("head", "Linear 12->4"), ("conv", "Conv2d 8->3")]
    with pytest.raises(ValueError, match=r"layers: 'fc9' is not a node of the model's topology .*its Linear and "
                                         r"Conv2d layers are \['conv', 'head'\]"):
        dei.causal_plane(model, torch.zeros(1, 2, 5, 5), layers=["fc9"], samples=2000)


# ------------------------------------------------------------------------------------------
# a layer described by hand (no graph), and the weight check before the fused op
# ------------------------------------------------------------------------------------------
def test_a_layer_spec_by_hand_equals_the_traced_layer(dei):
    torch.manual_seed(0)
    model = ResidualMLP(act=nn.GELU())
    top = dei.topology_of(model, torch.zeros(1, 5, 6))
    spec = dei.LayerSpec(modules=[model.fc1], in_shape=(6,), out_shape=(8,), in_range=(-1, 1),
                         out_range=(-1, 3), activation=F.gelu, name="fc1 by hand")
    kw = dict(samples=3000, in_bins=BINS, out_bins=BINS, seed=4, progress=False)
    by_hand = dei.vector_and_pairwise_ei(spec, None, **kw)
    traced = dei.vector_and_pairwise_ei(model.fc1, top, in_range=(-1, 1), out_range=(-1, 3), **kw)
    assert by_hand == traced
    # a path of two modules with the activation between them, and ranges given at the call
    path = dei.LayerSpec(modules=[model.fc1, model.fc2], between=[(nn.GELU(),)], in_shape=(6,), out_shape=(6,),
                         in_range=(0, 1), out_range=(-10, 10))
    x = torch.rand(5, 6)
    torch.testing.assert_close(path.forward(x), model.fc2(F.gelu(model.fc1(x))), rtol=0, atol=0)
    assert dei.ei_parts(path, None, out_range=(-3, 3), **kw) > 0


@pytest.mark.parametrize("change, error, message", [
    (dict(modules=[]), TypeError, r"LayerSpec.modules must be one or more torch.nn.Modules"),
    (dict(in_shape=(0, 3)), ValueError, r"LayerSpec.in_shape must be a tuple of positive ints"),
    (dict(out_shape=(2.5,)), ValueError, r"LayerSpec.out_shape must be a tuple of positive ints"),
    (dict(in_range=(1, 0)), ValueError, r"LayerSpec.in_range must have low < high"),
    (dict(in_range=None), ValueError, r"LayerSpec.in_range is None: give it in the LayerSpec or as in_range="),
    (dict(out_range=(0, float("inf"))), ValueError, r"LayerSpec.out_range must be finite"),
    (dict(activation=3), TypeError, r"LayerSpec.activation must be callable"),
    (dict(between=[(torch.relu,)]), ValueError, r"LayerSpec.between must hold one tuple of activations per module"),
    (dict(in_shape=(5,)), ValueError, r"layer 'hand': its weight is \[4, 3\], but the layer was resolved as 5 "
                                      r"inputs \(shape \(5,\)\) -> 4 outputs \(shape \(4,\)\), which needs a weight "
                                      r"of \[4, 5\]"),
    (dict(out_shape=(2, 3), activation=F.gelu), ValueError, r"layer 'hand': its weight is \[4, 3\], but the layer "
                                                             r"was resolved as 3 inputs .* needs a weight of \[6, 3\]"),
    (dict(activation=lambda t: t.reshape(7)), ValueError,
     r"layer 'hand': one sample of shape \(3,\) does not run through its modules and activation: shape '\[7\]'"),
])
def test_a_bad_layer_spec_is_refused_before_work(dei, change, error, message):
    fields = dict(modules=[nn.Linear(3, 4)], in_shape=(3,), out_shape=(4,), in_range=(0, 1), out_range=(0, 1),
                  activation=torch.sigmoid, name="hand")
    fields.update(change)
    with pytest.raises(error, match=message):
        dei.ei_parts(dei.LayerSpec(**fields), None, samples=10**12, progress=False)


def test_a_layer_spec_takes_no_topology_in_layer_or_activation(dei):
    spec = dei.LayerSpec(modules=[nn.Linear(3, 4)], in_shape=(3,), out_shape=(4,), in_range=(0, 1), out_range=(0, 1))
    net = nn.Sequential(nn.Linear(3, 4))
    top = dei.topology_of(net, torch.zeros(1, 3))
    for kwargs, name in ((dict(topology=top), "topology"), (dict(topology=None, in_layer=net[0]), "in_layer"),
                         (dict(topology=None, activation=torch.tanh), "activation")):
        with pytest.raises(ValueError, match=f"layer is a LayerSpec, which describes the whole layer: pass {name}="):
            dei.ei(spec, samples=100, progress=False, **kwargs)


def test_a_weight_replaced_after_topology_of_is_refused_in_python(dei, monkeypatch):
    net = nn.Sequential(nn.Linear(3, 4), nn.Sigmoid())
    top = dei.topology_of(net, torch.zeros(1, 3))
    net[0].weight = nn.Parameter(torch.randn(4, 5))
    calls = []
    monkeypatch.setattr(ops, "sample_linear_layer_", lambda *a: calls.append(a))
    with pytest.raises(ValueError, match=r"layer '0': its weight is \[4, 5\], but the layer was resolved as 3 "
                                         r"inputs \(shape \(3,\)\) -> 4 outputs"):
        dei.ei_parts(net[0], top, samples=1000, progress=False)
    assert calls == []  # the fused op was never called
