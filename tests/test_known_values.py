"""Layers whose EI is known in closed form (rng="philox", the default).

Notation: B bins, N samples, ln = natural log.

* Identity map, in_range = out_range = (0, 1), equal-width bins over the same range: y == x
  exactly (float32 x*1 + 0), so both values of a pair fall in the same bin, the joint table
  is diagonal and the plug-in MI equals the plug-in entropy H^ of the input's bins.
  For B equiprobable bins, log2 B - H^ = KL(p^ || uniform) / ln 2, and 2 N KL (in nats) is
  the G-statistic, asymptotically chi2(B - 1).  So
      0 <= log2 B - H^ <= (B - 1 + 10 sqrt(2 (B - 1))) / (2 N ln 2)
  except with probability < 1e-15 (a 10-sigma chi-square tail).  (The bins span the range
  widened by 1e-6, so they are equiprobable to 1e-6 relative; the KL this adds is ~B*1e-12.)
* Independent input/output pairs: 2 N ln2 * MI^ is the G-statistic of independence,
  asymptotically chi2((Bx - 1)(By - 1)) with mean (Bx-1)(By-1), i.e. the plug-in bias
  (B - 1)^2 / (2 N ln 2) bits; the bound used is
      MI^ <= ((B - 1)^2 + 10 sqrt(2) (B - 1)) / (2 N ln 2)
  (at most (B-1)^2 degrees of freedom; fewer when some output bins are empty).
"""
import math

import numpy as np
import pytest
import torch

from helpers import make_net

LN2 = math.log(2)


def entropy_deficit_bound(B, N):
    return (B - 1 + 10 * math.sqrt(2 * (B - 1))) / (2 * N * LN2)


def independence_bound(B, N):
    df = (B - 1) ** 2
    return (df + 10 * math.sqrt(2 * df)) / (2 * N * LN2)


def identity_layer(dei, k):
    net, lin = make_net(k, k, "none", weight=torch.eye(k), bias=torch.zeros(k))
    top = dei.topology_of(net, torch.zeros((1, k)))
    return lin, top


KW = dict(in_range=(0, 1), out_range=(0, 1), progress=False)


@pytest.mark.parametrize("k,B", [(1, 64), (2, 8), (3, 64), (4, 16)])
def test_identity_ei_parts_matrix(dei, k, B):
    N = 100_000
    lin, top = identity_layer(dei, k)
    m = dei.ei_parts_matrix(lin, top, samples=N, in_bins=B, out_bins=B, seed=1, **KW)
    assert isinstance(m, np.ndarray) and m.shape == (k, k)
    diag = np.diag(m)
    assert np.all(diag <= math.log2(B) + 1e-12)
    assert np.all(diag >= math.log2(B) - entropy_deficit_bound(B, N))
    off = m[~np.eye(k, dtype=bool)]
    assert np.all(off >= 0)
    assert np.all(off <= independence_bound(B, N))
    # ei_parts is the sum of the same matrix (same seed, same samples)
    total = dei.ei_parts(lin, top, samples=N, in_bins=B, out_bins=B, seed=1, **KW)
    assert total == pytest.approx(m.sum(), rel=1e-12)
    assert total >= k * (math.log2(B) - entropy_deficit_bound(B, N))
    assert total <= k * math.log2(B) + k * (k - 1) * independence_bound(B, N)


@pytest.mark.parametrize("k,B", [(1, 64), (2, 8), (3, 4)])
def test_identity_vector_ei(dei, k, B):
    # vector EI of y == x: H(X) + H(Y) - H(X, Y) = H^(X), the plug-in entropy of the k-dim
    # code over B^k cells, so the same bound applies with B^k cells.  Vector bins divide by
    # (1 + 0.0001), so the top bin is 0.08% smaller: a KL of ~1e-7 bits, absorbed by +1e-6.
    N = 100_000
    lin, top = identity_layer(dei, k)
    v = dei.ei(lin, top, samples=N, in_bins=B, out_bins=B, seed=2, **KW)
    cells = B**k
    assert v <= k * math.log2(B) + 1e-9
    assert v >= k * math.log2(B) - entropy_deficit_bound(cells, N) - 1e-6
    vec, pw = dei.vector_and_pairwise_ei(lin, top, samples=N, in_bins=B, out_bins=B, seed=2, **KW)
    assert vec >= k * math.log2(B) - entropy_deficit_bound(cells, N) - 1e-6
    assert pw >= k * (math.log2(B) - entropy_deficit_bound(B, N))
    assert pw <= k * math.log2(B) + k * (k - 1) * independence_bound(B, N)


@pytest.mark.parametrize("k,B", [(1, 64), (3, 64), (4, 8)])
def test_identity_sensitivity(dei, k, B):
    # only input A varies; y_A = x_A (MI = H^(x_A)) and every other output is exactly 0, a
    # single column, whose MI is exactly 0.
    N = 20_000
    lin, top = identity_layer(dei, k)
    m = dei.sensitivity_matrix(lin, top, samples=N, in_bins=B, out_bins=B, seed=3, **KW)
    assert m.shape == (k, k)
    assert np.all(m[~np.eye(k, dtype=bool)] == 0.0)
    assert np.all(np.diag(m) >= math.log2(B) - entropy_deficit_bound(B, N))
    assert np.all(np.diag(m) <= math.log2(B) + 1e-12)
    s = dei.sensitivity(lin, top, samples=N, in_bins=B, out_bins=B, seed=3, **KW)
    assert s == pytest.approx(m.sum(), rel=1e-12)
    assert k * (math.log2(B) - entropy_deficit_bound(B, N)) <= s <= k * math.log2(B) + 1e-12


def test_identity_ei_parts_auto_samples(dei):
    # the auto rule stops when the projected change is below 5%: the value must still be
    # within the bounds for the smallest possible sample count (10k)
    k, B = 2, 16
    lin, top = identity_layer(dei, k)
    v = dei.ei_parts(lin, top, in_bins=B, out_bins=B, seed=4, batch_size=1000, **KW)
    assert k * (math.log2(B) - entropy_deficit_bound(B, 10_000)) <= v
    assert v <= k * math.log2(B) + k * (k - 1) * independence_bound(B, 10_000)


@pytest.mark.parametrize("act", ["sigmoid", "tanh"])
@pytest.mark.parametrize("B", [8, 32])
def test_independent_pairs_near_zero(dei, act, B):
    # outputs depend on inputs 0 and 1 only; inputs 2 and 3 are independent of every output
    N = 50_000
    W = torch.tensor([[1.5, 1.0, 0.0, 0.0], [1.0, -2.0, 0.0, 0.0]])
    net, lin = make_net(4, 2, act, weight=W, bias=torch.zeros(2))
    top = dei.topology_of(net, torch.zeros((1, 4)))
    m = dei.ei_parts_matrix(lin, top, samples=N, in_range=(-1, 1), in_bins=B, out_bins=B, seed=5, progress=False)
    indep = m[2:, :]
    assert np.all(indep >= 0.0)
    assert np.all(indep <= independence_bound(B, N))
    # the dependent pairs carry real information, far above that bound
    # (the weakest, x0 -> x0 - 2 x1, has correlation 1/sqrt(5): ~0.16 bits for a Gaussian)
    assert np.all(m[:2, :] > 2 * independence_bound(B, N))


@pytest.mark.parametrize("act", ["sigmoid", "tanh", "relu", "none"])
def test_zero_weight_gives_zero(dei, act):
    # y = act(bias) is constant: a single output column, so every MI is exactly 0
    net, lin = make_net(3, 2, act, weight=torch.zeros(2, 3), bias=torch.tensor([0.3, -0.2]))
    top = dei.topology_of(net, torch.zeros((1, 3)))
    kw = dict(in_bins=16, out_bins=16, progress=False, seed=6)
    assert np.all(dei.ei_parts_matrix(lin, top, samples=5000, **kw) == 0.0)
    assert dei.ei_parts(lin, top, samples=5000, **kw) == 0.0
    assert np.all(dei.sensitivity_matrix(lin, top, samples=2000, **kw) == 0.0)
    assert dei.sensitivity(lin, top, samples=2000, **kw) == 0.0
    assert abs(dei.ei(lin, top, samples=5000, **kw)) < 1e-9
    vec, pw = dei.vector_and_pairwise_ei(lin, top, samples=5000, **kw)
    assert abs(vec) < 1e-9 and pw == 0.0
    # auto mode: EI_k == 0 is treated as converged (deep-ei 0.7.0 divides by zero here)
    assert dei.ei_parts(lin, top, batch_size=1000, **kw) == 0.0


def test_no_in_range_samples_gives_zero(dei):
    # sigmoid outputs never reach (5, 6): every pair table is empty; MI 0.0 (deep-ei crashes)
    net, lin = make_net(3, 2, "sigmoid", seed=1)
    top = dei.topology_of(net, torch.zeros((1, 3)))
    m = dei.ei_parts_matrix(lin, top, samples=2000, out_range=(5, 6), in_bins=8, out_bins=8, seed=1, progress=False)
    assert m.shape == (3, 2) and np.all(m == 0.0)
    assert dei.ei_parts(lin, top, samples=2000, out_range=(5, 6), in_bins=8, out_bins=8, seed=1, progress=False) == 0.0
    assert np.all(dei.sensitivity_matrix(lin, top, samples=500, out_range=(5, 6), in_bins=8, out_bins=8, seed=1,
                                         progress=False) == 0.0)


def test_ei_parts_matrix_auto_samples(dei):
    # samples=None uses the ei_parts convergence rule instead of crashing; the result obeys the
    # identity bounds for at least 10k samples
    k, B = 2, 8
    lin, top = identity_layer(dei, k)
    m = dei.ei_parts_matrix(lin, top, in_bins=B, out_bins=B, seed=7, batch_size=1000, **KW)
    assert m.shape == (k, k)
    assert np.all(np.diag(m) >= math.log2(B) - entropy_deficit_bound(B, 10_000))
    assert np.all(m[~np.eye(k, dtype=bool)] <= independence_bound(B, 10_000))


def test_MI_known_values(dei):
    x = (torch.arange(4096, dtype=torch.float32) + 0.5) / 4096
    # y == x, 128 values in each of 32 bins (edges sit half a spacing from any value):
    # exactly log2(32) = 5 bits
    assert dei.MI(x, x, bins=32) == pytest.approx(5.0, abs=1e-9)
    # a constant series carries no information
    assert dei.MI(x, torch.full_like(x, 0.5), bins=32) == 0.0
