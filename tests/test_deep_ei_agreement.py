"""rng="torch" reproduces deep-ei 0.7.0: after the same torch.manual_seed, with the same
arguments (batch_size included), every public function returns deep-ei's value to relative
1e-9 (matrices elementwise).

Both packages are given the same graph, built by deep_ei_fast.topology_of (deep-ei's own
topology_of fails on networkx 3).

Tolerances: rtol=1e-9 everywhere.  atol=1e-12 only matters for entries that are exactly 0 in
deep-ei: numpy's vectorised per-cell logs (sklearn) and the C++ per-cell log may round the
last bit differently, so a sum of cancelling terms that is exactly 0 on one side can be
~1e-16 on the other (terms below DBL_EPSILON are zeroed on both sides, so the residue is tiny).
"""
import inspect
import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from helpers import ACTIVATIONS, make_net

deep_ei = pytest.importorskip("deep_ei")

RTOL = 1e-9
ATOL = 1e-12  # see module docstring: exact zeros in deep-ei vs per-cell log rounding

PAIRWISE_FUNCS = ["ei_parts", "ei_parts_matrix", "sensitivity", "sensitivity_matrix"]
SAMPLE_FUNCS = ["ei", "ei_parts", "ei_parts_matrix", "vector_and_pairwise_ei", "sensitivity", "sensitivity_matrix"]


def run_both(dei, name, *args, seed=0, **kw):
    torch.manual_seed(seed)
    ref = getattr(deep_ei, name)(*args, **kw)
    torch.manual_seed(seed)
    got = getattr(dei, name)(*args, rng="torch", progress=False, **kw)
    return ref, got


def assert_agree(ref, got):
    if isinstance(ref, np.ndarray):
        got = np.asarray(got)
        assert got.shape == ref.shape
        np.testing.assert_allclose(got, ref, rtol=RTOL, atol=ATOL)
    elif isinstance(ref, (tuple, list)):
        assert len(got) == len(ref)
        for r, g in zip(ref, got):
            assert_agree(r, g)
    else:
        assert float(got) == pytest.approx(float(ref), rel=RTOL, abs=ATOL)


# ------------------------------------------------------------------------------------------
# names, tables and signatures
# ------------------------------------------------------------------------------------------
PUBLIC = ["topology_of", "ei", "ei_parts", "ei_parts_matrix", "sensitivity", "sensitivity_matrix",
          "eis_between_groups", "vector_and_pairwise_ei", "MI", "nats_to_bits"]


def test_tables_equal(dei):
    assert dei.VALID_MODULES == deep_ei.VALID_MODULES
    assert dei.VALID_ACTIVATIONS == deep_ei.VALID_ACTIVATIONS
    assert dei.POOLING_MODULES == deep_ei.POOLING_MODULES
    assert dei.CONVOLUTIONAL_MODULES == deep_ei.CONVOLUTIONAL_MODULES
    assert dei.MEMORY_LIMIT == deep_ei.MEMORY_LIMIT == 100000000


@pytest.mark.parametrize("name", PUBLIC)
def test_signatures_extend_deep_ei(dei, name):
    ref = inspect.signature(getattr(deep_ei, name))
    got = inspect.signature(getattr(dei, name))
    ref_params = list(ref.parameters.values())
    got_params = list(got.parameters.values())
    # deep-ei's parameters come first, in the same order, with the same defaults
    assert [p.name for p in got_params[: len(ref_params)]] == [p.name for p in ref_params]
    for r, g in zip(ref_params, got_params):
        assert g.default == r.default, (name, r.name)
    extra = {p.name: p for p in got_params[len(ref_params):]}
    if name in ("topology_of", "MI", "nats_to_bits"):
        return
    for p in extra.values():
        assert p.kind == inspect.Parameter.KEYWORD_ONLY, (name, p.name)
    assert extra["rng"].default == "philox"
    assert extra["seed"].default is None
    assert extra["progress"].default is True
    if name in ("ei_parts", "ei_parts_matrix", "sensitivity", "sensitivity_matrix", "vector_and_pairwise_ei"):
        assert extra["memory_bound"].default is None  # the device's: 2 GiB on the CPU


@pytest.mark.parametrize("nats", [0.0, 1.0, math.log(2), 3.7])
def test_nats_to_bits(dei, nats):
    assert dei.nats_to_bits(nats) == pytest.approx(deep_ei.nats_to_bits(nats), rel=1e-15)


@pytest.mark.parametrize(
    "bins,rng",
    [(32, ((0, 1), (0, 1))), (8, ((0, 1), (0, 1))), ((8, 16), ((0, 1), (-1, 1))), (300, ((-2, 2), (0, 1)))],
)
def test_MI(dei, bins, rng):
    g = torch.Generator().manual_seed(1)
    x = torch.rand(5000, generator=g) * 1.2 - 0.1  # some values out of range on purpose
    y = torch.sigmoid(3 * x + 0.3 * torch.randn(5000, generator=g))
    ref = deep_ei.MI(x, y, bins=bins, range=rng)
    got = dei.MI(x, y, bins=bins, range=rng)
    assert isinstance(got, float)
    assert got == pytest.approx(ref, rel=RTOL, abs=ATOL)
    assert dei.MI(x, y) == pytest.approx(deep_ei.MI(x, y), rel=RTOL, abs=ATOL)


# ------------------------------------------------------------------------------------------
# samples=N, single layer: every function x activation x bins x batch size
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("batch_size", [20, 7, 3000])
@pytest.mark.parametrize("bins", [8, 64])
@pytest.mark.parametrize("act", ["sigmoid", "tanh", "relu", "none"])
@pytest.mark.parametrize("name", SAMPLE_FUNCS)
def test_single_layer(dei, name, act, bins, batch_size):
    net, lin = make_net(4, 3, act, seed=3 * list(ACTIVATIONS).index(act) + bins)
    top = dei.topology_of(net, torch.zeros((1, 4)))
    # sensitivity runs one pass per input neuron: its default 500 samples keep it quick
    samples = 500 if name.startswith("sensitivity") else 1000
    ref, got = run_both(dei, name, lin, top, samples=samples, batch_size=batch_size,
                        in_bins=bins, out_bins=bins, seed=batch_size + bins)
    assert_agree(ref, got)
    if isinstance(ref, np.ndarray):
        assert isinstance(got, np.ndarray) and got.dtype == np.float64
    elif isinstance(ref, tuple):
        assert isinstance(got, tuple)
    else:
        assert isinstance(got, float)


@pytest.mark.parametrize("batch_size", [20, 7, 3000])
@pytest.mark.parametrize("act", ["sigmoid", "relu"])
def test_eis_between_groups(dei, act, batch_size):
    net, lin = make_net(4, 3, act, seed=5)
    top = dei.topology_of(net, torch.zeros((1, 4)))
    groups = [((0, 1), (0,)), ((2,), (1, 2)), ((0, 1, 2, 3), (0, 1, 2)), ((3,), (2,))]
    ref, got = run_both(dei, "eis_between_groups", lin, top, groups, samples=1000,
                        batch_size=batch_size, in_bins=8, out_bins=8, seed=11)
    assert isinstance(got, list) and len(got) == len(groups)
    assert_agree(ref, got)


@pytest.mark.parametrize("name", SAMPLE_FUNCS)
def test_explicit_ranges_and_activation_argument(dei, name):
    # explicit in_range / out_range / activation override the graph's defaults
    net, lin = make_net(3, 3, "none", seed=8)
    top = dei.topology_of(net, torch.zeros((1, 3)))
    ref, got = run_both(dei, name, lin, top, samples=1500, batch_size=64, in_range=(-1, 1),
                        out_range=(0, 1), activation=torch.sigmoid, in_bins=16, out_bins=12, seed=4)
    assert_agree(ref, got)


# ------------------------------------------------------------------------------------------
# in_layer chains
# ------------------------------------------------------------------------------------------
def _chain(act1, act2, act3):
    torch.manual_seed(21)
    mods = [nn.Linear(4, 5)]
    if act1:
        mods.append(ACTIVATIONS[act1]())
    mods.append(nn.Linear(5, 4))
    if act2:
        mods.append(ACTIVATIONS[act2]())
    mods.append(nn.Linear(4, 3))
    if act3:
        mods.append(ACTIVATIONS[act3]())
    net = nn.Sequential(*mods)
    lins = [m for m in net if isinstance(m, nn.Linear)]
    return net, lins


@pytest.mark.parametrize("acts", [("sigmoid", "tanh", "sigmoid"), ("relu", None, "tanh"), (None, "sigmoid", None)])
@pytest.mark.parametrize("name", SAMPLE_FUNCS + ["eis_between_groups"])
def test_in_layer_chain(dei, name, acts):
    net, (l1, l2, l3) = _chain(*acts)
    top = dei.topology_of(net, torch.zeros((1, 4)))
    extra = ([((0, 1), (0, 1)), ((2, 3), (2,))],) if name == "eis_between_groups" else ()
    ref, got = run_both(dei, name, l3, top, *extra, samples=1000, batch_size=70, in_layer=l1,
                        in_range=(0, 1), in_bins=8, out_bins=8, seed=3)
    assert_agree(ref, got)


# ------------------------------------------------------------------------------------------
# 'dynamic' out_range / out_bins (pairwise functions)
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["range", "bins", "both"])
@pytest.mark.parametrize("act", ["sigmoid", "relu", "none"])
@pytest.mark.parametrize("name", PAIRWISE_FUNCS)
def test_dynamic(dei, name, act, mode):
    # positive weights: deep-ei's dynamic sensitivity range (min of the one-hot-at-low outputs,
    # max of the one-hot-at-high outputs) is then a proper range; with negative weights it can
    # be empty and deep-ei crashes on the empty tables
    w = torch.tensor([[1.0, 2.0, 0.5], [0.3, 1.5, 2.5]])
    net, lin = make_net(3, 2, act, weight=w, bias=torch.tensor([0.1, -0.4]))
    top = dei.topology_of(net, torch.zeros((1, 3)))
    kw = dict(samples=1000, batch_size=20, in_range=(0, 1), in_bins=8)
    if mode in ("range", "both"):
        kw["out_range"] = "dynamic"
    if mode in ("bins", "both"):
        kw["out_bins"] = "dynamic"
    else:
        kw["out_bins"] = 8
    ref, got = run_both(dei, name, lin, top, seed=17, **kw)
    assert_agree(ref, got)


# ------------------------------------------------------------------------------------------
# auto sample count and extrapolation
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("act", ["sigmoid", "tanh"])
def test_ei_auto_samples(dei, act):
    net, lin = make_net(2, 2, act, seed=2)
    top = dei.topology_of(net, torch.zeros((1, 2)))
    ref, got = run_both(dei, "ei", lin, top, batch_size=1000, in_bins=8, out_bins=8, seed=5)
    assert_agree(ref, got)


@pytest.mark.parametrize("act,threshold", [("sigmoid", 0.05), ("relu", 0.05), ("tanh", 0.01)])
def test_ei_parts_auto_samples(dei, act, threshold):
    net, lin = make_net(2, 2, act, seed=3)
    top = dei.topology_of(net, torch.zeros((1, 2)))
    ref, got = run_both(dei, "ei_parts", lin, top, threshold=threshold, batch_size=1000,
                        in_bins=8, out_bins=8, seed=6)
    assert_agree(ref, got)


def test_ei_parts_extrapolate(dei):
    net, lin = make_net(2, 2, "sigmoid", seed=4)
    top = dei.topology_of(net, torch.zeros((1, 2)))
    ref, got = run_both(dei, "ei_parts", lin, top, extrapolate=True, batch_size=10000,
                        in_bins=8, out_bins=8, seed=7)
    assert_agree(ref, got)


def test_sensitivity_default_samples(dei):
    # sensitivity* default samples=500
    net, lin = make_net(3, 2, "tanh", seed=9)
    top = dei.topology_of(net, torch.zeros((1, 3)))
    for name in ("sensitivity", "sensitivity_matrix"):
        ref, got = run_both(dei, name, lin, top, in_bins=16, out_bins=16, seed=1)
        assert_agree(ref, got)


def test_sensitivity_dynamic_decreasing_layer(dei):
    # sensitivity's dynamic range takes the min and max over both one-hot passes, so a
    # decreasing layer still gets a proper range (unlike sensitivity_matrix, see test_bad_input)
    net, lin = make_net(3, 2, "sigmoid", weight=-torch.ones(2, 3), bias=torch.zeros(2))
    top = dei.topology_of(net, torch.zeros((1, 3)))
    ref, got = run_both(dei, "sensitivity", lin, top, samples=500, in_range=(0, 1), in_bins=8,
                        out_bins=8, out_range="dynamic", seed=0)
    assert ref > 1.0
    assert_agree(ref, got)
