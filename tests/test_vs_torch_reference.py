"""Bigger layers than deep-ei can handle quickly: rng="torch" draws deep-ei's noise, which the
test regenerates (torch.manual_seed, then one torch.rand((batch, n_in)) per batch) and feeds to
the plain-torch oracle.  Also exercises pair tiling (tiny memory_bound) and int32 codes."""
import numpy as np
import pytest
import torch

import torch_reference as R
from helpers import make_net


def deep_ei_draws(lin, act, samples, batch_size, lo, hi, seed):
    """deep-ei's noise for samples % batch_size == 0 and one chunk, and the layer's outputs."""
    assert samples % batch_size == 0
    torch.manual_seed(seed)
    xs, ys = [], []
    with torch.no_grad():
        for _ in range(samples // batch_size):
            x = (hi - lo) * torch.rand((batch_size, lin.in_features)) + lo
            y = lin(x)
            xs.append(x)
            ys.append(act(y) if act is not None else y)
    return torch.cat(xs), torch.cat(ys)


# rng="torch" tiled counting keeps the codes when they fit in a quarter of memory_bound (20000 x 44
# codes < 1 MiB; larger ones are re-drawn from the saved generator state); 4 MiB still forces 3-4 pair tiles here
# (24 x 20 pairs of 65 x 65 int32 counters = 8 MB; 6 x 5 pairs of 301 x 301 = 11 MB)
@pytest.mark.parametrize("n_in,n_out,bins,memory_bound", [(40, 30, 16, 2 * 2**30), (24, 20, 64, 4 * 2**20),
                                                          (6, 5, 300, 4 * 2**20)])
def test_ei_parts_matrix_vs_reference(dei, n_in, n_out, bins, memory_bound):
    net, lin = make_net(n_in, n_out, "sigmoid", seed=n_in)
    top = dei.topology_of(net, torch.zeros((1, n_in)))
    S, bs = 20000, 500
    x, y = deep_ei_draws(lin, net[1], S, bs, 0.0, 1.0, seed=31)
    ref = R.ei_parts_matrix_from_samples(x, y, (0, 1), bins, (0, 1), bins).numpy()
    torch.manual_seed(31)
    got = dei.ei_parts_matrix(lin, top, samples=S, batch_size=bs, in_range=(0, 1), in_bins=bins, out_bins=bins,
                              rng="torch", memory_bound=memory_bound, progress=False)
    # same samples, same formula; rtol 1e-9, atol 1e-12 for exact zeros (per-cell log rounding)
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("n_in,n_out,bins", [(10, 6, 4), (5, 5, 16)])
def test_vector_ei_vs_reference(dei, n_in, n_out, bins):
    net, lin = make_net(n_in, n_out, "tanh", seed=n_in)
    top = dei.topology_of(net, torch.zeros((1, n_in)))
    S, bs = 20000, 1000
    x, y = deep_ei_draws(lin, net[1], S, bs, 0.0, 1.0, seed=32)
    ref = R.vector_ei_from_samples(x, y, (0, 1), bins, (-1, 1), bins)
    torch.manual_seed(32)
    got = dei.ei(lin, top, samples=S, batch_size=bs, in_range=(0, 1), in_bins=bins, out_bins=bins, rng="torch",
                 progress=False)
    assert got == pytest.approx(ref, rel=1e-9, abs=1e-12)
    groups = [((0, 1, 2), (0, 1)), ((3,), (2, 3, 4)), (tuple(range(n_in)), (0,))]
    ref_g = R.group_eis_from_samples(x, y, groups, (0, 1), bins, (-1, 1), bins)
    torch.manual_seed(32)
    got_g = dei.eis_between_groups(lin, top, groups, samples=S, batch_size=bs, in_range=(0, 1), in_bins=bins,
                                   out_bins=bins, rng="torch", progress=False)
    assert got_g == pytest.approx(ref_g, rel=1e-9, abs=1e-12)


def test_vector_negative_codes_quirk(dei):
    # deep-ei keeps codes below 0 (outputs below out_range) as extra symbols; rng="torch" must
    # reproduce that: identity outputs in (-1, 1) with out_range (0, 1)
    net, lin = make_net(2, 2, "none", weight=torch.eye(2), bias=torch.zeros(2))
    top = dei.topology_of(net, torch.zeros((1, 2)))
    x, y = deep_ei_draws(lin, None, 5000, 500, -1.0, 1.0, seed=33)
    ref = R.vector_ei_from_samples(x, y, (-1, 1), 8, (0, 1), 8)
    torch.manual_seed(33)
    got = dei.ei(lin, top, samples=5000, batch_size=500, in_range=(-1, 1), out_range=(0, 1),
                 in_bins=8, out_bins=8, rng="torch", progress=False)
    assert got == pytest.approx(ref, rel=1e-9)
    assert got > 4.0  # the negative codes carry information (a filter on code >= 0 would lose it)


def test_ei_parts_matrix_auto_uses_ei_parts_rule(dei):
    # samples=None: the same rounds as ei_parts, so with the same seed the matrix sums to ei_parts
    net, lin = make_net(3, 2, "sigmoid", seed=4)
    top = dei.topology_of(net, torch.zeros((1, 3)))
    for rng in ("torch", "philox"):
        torch.manual_seed(5)
        m = dei.ei_parts_matrix(lin, top, batch_size=1000, in_bins=8, out_bins=8, rng=rng, seed=None, progress=False)
        torch.manual_seed(5)
        s = dei.ei_parts(lin, top, batch_size=1000, in_bins=8, out_bins=8, rng=rng, seed=None, progress=False)
        assert s >= 0.01
        assert m.sum() == pytest.approx(s, rel=1e-12)


def test_ei_parts_matrix_auto_matches_deep_ei_ei_parts(dei):
    deep_ei = pytest.importorskip("deep_ei")
    net, lin = make_net(2, 2, "tanh", seed=6)
    top = dei.topology_of(net, torch.zeros((1, 2)))
    torch.manual_seed(8)
    ref = deep_ei.ei_parts(lin, top, batch_size=1000, in_bins=8, out_bins=8)
    torch.manual_seed(8)
    m = dei.ei_parts_matrix(lin, top, batch_size=1000, in_bins=8, out_bins=8, rng="torch", progress=False)
    assert m.shape == (2, 2)
    assert m.sum() == pytest.approx(ref, rel=1e-9)


def test_progress_bar_does_not_change_results(dei, capsys):
    net, lin = make_net(3, 2, "sigmoid", seed=1)
    top = dei.topology_of(net, torch.zeros((1, 3)))
    a = dei.ei_parts_matrix(lin, top, samples=50000, in_bins=8, out_bins=8, seed=3, progress=True)
    b = dei.ei_parts_matrix(lin, top, samples=50000, in_bins=8, out_bins=8, seed=3, progress=False)
    assert np.array_equal(a, b)


@pytest.mark.parametrize("device", ["cpu", torch.device("cpu")])
def test_cpu_device_forms(dei, device):
    net, lin = make_net(3, 2, "sigmoid", seed=1)
    top = dei.topology_of(net, torch.zeros((1, 3)))
    a = dei.ei_parts(lin, top, samples=2000, in_bins=8, out_bins=8, seed=3, device=device, progress=False)
    b = dei.ei_parts(lin, top, samples=2000, in_bins=8, out_bins=8, seed=3, progress=False)
    assert a == b and a > 0.01
