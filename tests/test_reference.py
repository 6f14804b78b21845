"""The plain-torch oracle (tests/torch_reference.py) agrees with deep-ei 0.7.0's own helpers on
fixed samples, so that the kernel tests compare against the right thing."""
from collections import defaultdict

import numpy as np
import pytest
import torch
from fast_histogram import histogram2d
from sklearn.metrics import mutual_info_score

import torch_reference as R

deep_ei = pytest.importorskip("deep_ei")


def _samples(seed, S=3000, n_in=3, n_out=2):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(S, n_in, generator=g)
    y = torch.sigmoid(x @ (2 * torch.randn(n_in, n_out, generator=g)) - 1)
    return x, y


def _deep_ei_vector(x, y, in_range, in_bins, out_range, out_bins, groups=None):
    hists = defaultdict(lambda: (defaultdict(int), defaultdict(int), defaultdict(int)))
    groups = groups or [(tuple(range(x.shape[1])), tuple(range(y.shape[1])))]
    for a, b in zip(deep_ei._tuples1d(x, r=in_range, bins=in_bins), deep_ei._tuples1d(y, r=out_range, bins=out_bins)):
        if all(v < in_bins for v in a) and all(v < out_bins for v in b):
            for gi, (gin, gout) in enumerate(groups):
                hx, hy, hxy = hists[gi]
                sa, sb = deep_ei._subset(a, gin), deep_ei._subset(b, gout)
                hx[sa] += 1
                hy[sb] += 1
                hxy[(sa, sb)] += 1
    return [deep_ei._entropy(hx) + deep_ei._entropy(hy) - deep_ei._entropy(hxy)
            for hx, hy, hxy in (hists[i] for i in range(len(groups)))]


@pytest.mark.parametrize("seed,bins", [(0, 8), (1, 64), (2, 300)])
def test_pairwise_matrix_matches_deep_ei_rule(seed, bins):
    x, y = _samples(seed)
    y = y * 1.2 - 0.1  # some outputs out of range
    m = R.ei_parts_matrix_from_samples(x, y, (0, 1), bins, (0, 1), bins)
    assert m.dtype == torch.float64 and m.shape == (3, 2)
    for a in range(3):
        for b in range(2):
            cm = histogram2d(x[:, a].numpy(), y[:, b].numpy(), bins=(bins, bins),
                             range=deep_ei.hack_range(((0, 1), (0, 1))))
            ref = deep_ei.nats_to_bits(mutual_info_score(None, None, contingency=cm))
            assert m[a, b].item() == pytest.approx(ref, rel=1e-12, abs=1e-15)


def test_per_neuron_out_ranges_and_bins():
    x, y = _samples(3)
    ranges = [(0.0, 0.5), (0.2, 1.0)]
    bins = [5, 17]
    m = R.ei_parts_matrix_from_samples(x, y, (0, 1), 8, ranges, bins)
    for b in range(2):
        single = R.ei_parts_matrix_from_samples(x, y[:, b : b + 1], (0, 1), 8, ranges[b], bins[b])
        assert torch.equal(m[:, b : b + 1], single)


@pytest.mark.parametrize("seed,bins", [(0, 8), (1, 4)])
def test_vector_ei_matches_deep_ei_rule(seed, bins):
    x, y = _samples(seed)
    ref = _deep_ei_vector(x, y, (0, 1), bins, (0, 1), bins)[0]
    assert R.vector_ei_from_samples(x, y, (0, 1), bins, (0, 1), bins) == pytest.approx(ref, rel=1e-9)
    groups = [((0, 1), (0,)), ((2,), (1,)), ((0, 1, 2), (0, 1))]
    refs = _deep_ei_vector(x, y, (0, 1), bins, (0, 1), bins, groups)
    got = R.group_eis_from_samples(x, y, groups, (0, 1), bins, (0, 1), bins)
    assert got == pytest.approx(refs, rel=1e-9, abs=1e-12)


def test_vector_codes_match_deep_ei():
    x, _ = _samples(4)
    x = x * 3 - 1
    codes = R.vector_codes(x, -1.0, 2.0, 16)
    ref = np.array([t for t in deep_ei._tuples1d(x, r=(-1.0, 2.0), bins=16)])
    assert np.array_equal(codes.numpy(), ref)


def test_mi_matches_deep_ei():
    x, y = _samples(5)
    for bins in (8, 32, (8, 16)):
        assert R.mi(x[:, 0], y[:, 1], bins=bins) == pytest.approx(deep_ei.MI(x[:, 0], y[:, 1], bins=bins), rel=1e-12)


def test_histogram_builders_agree():
    x, y = _samples(6)
    cx = R.pairwise_codes(x, 0, 1, 7)
    cy = R.pairwise_codes(y * 1.5 - 0.2, 0, 1, [3, 9])
    assert torch.equal(R.pair_histograms(cx, cy, 7, [3, 9]), R.pair_histograms_scatter(cx, cy, 7, [3, 9]))
