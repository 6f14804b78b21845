"""rng="philox" (the default): counter-based noise, so for a given seed the result does not
depend on batch_size, the thread count or memory_bound (a tiny memory_bound forces many
neuron-pair tiles); seed=None draws the seed from torch's global generator."""
import numpy as np
import pytest
import torch
import torch.nn as nn

from helpers import make_net

FUNCS = ["ei", "ei_parts", "ei_parts_matrix", "vector_and_pairwise_ei", "sensitivity_matrix", "sensitivity"]
PAIRWISE = ["ei_parts", "ei_parts_matrix", "vector_and_pairwise_ei", "sensitivity_matrix", "sensitivity"]
TINY = 64 * 1024


def _net(dei, act="sigmoid", n_in=6, n_out=5):
    net, lin = make_net(n_in, n_out, act, seed=n_in * 10 + n_out)
    return lin, dei.topology_of(net, torch.zeros((1, n_in)))


def call(dei, name, lin, top, **kw):
    kw.setdefault("samples", 3000)
    kw.setdefault("in_bins", 16)
    kw.setdefault("out_bins", 16)
    return getattr(dei, name)(lin, top, progress=False, **kw)


def assert_identical(a, b):
    if isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and a.shape == b.shape
        assert np.array_equal(a, b)
    elif isinstance(a, tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_identical(x, y)
    else:
        assert a == b


def is_nontrivial(v):
    if isinstance(v, tuple):
        return all(is_nontrivial(x) for x in v)
    return float(np.sum(v)) > 0.01


@pytest.mark.parametrize("act", ["sigmoid", "relu", "none"])
@pytest.mark.parametrize("name", FUNCS)
def test_batch_size_independent(dei, name, act):
    lin, top = _net(dei, act)
    base = call(dei, name, lin, top, seed=42, batch_size=20)
    assert is_nontrivial(base)
    for bs in (1, 7, 1000, 3000, 10**6):
        assert_identical(base, call(dei, name, lin, top, seed=42, batch_size=bs))


@pytest.mark.parametrize("name", FUNCS)
def test_thread_count_independent(dei, name, restore_threads):
    lin, top = _net(dei, "tanh")
    torch.set_num_threads(1)
    one = call(dei, name, lin, top, seed=7, samples=20000, batch_size=512)
    torch.set_num_threads(2)
    two = call(dei, name, lin, top, seed=7, samples=20000, batch_size=512)
    assert_identical(one, two)


def test_thread_count_independent_large_vector_table(dei, restore_threads):
    # Issue 8's case: 1e5 distinct code vectors, more than torch's serial-reduction grain, so a
    # plain tensor sum of the entropy terms split by thread (16.6094...823 vs ...816 before).
    torch.manual_seed(0)
    lin = nn.Linear(64, 48)
    top = dei.topology_of(nn.Sequential(lin, nn.Sigmoid()), torch.zeros((1, 64)))
    results = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        results.append(dei.vector_and_pairwise_ei(lin, top, samples=10**5, in_bins=8, out_bins=8,
                                                  seed=123, rng="philox", progress=False))
    assert results[0][0] > 16.6  # H(X) = log2(1e5): every sample its own input vector
    assert_identical(results[0], results[1])


@pytest.mark.parametrize("name", PAIRWISE)
def test_memory_bound_independent(dei, name):
    # 12 x 10 pairs x (16+1) x (16+1) int32 counters = 139 KB > 64 KiB: several pair tiles
    lin, top = _net(dei, "sigmoid", n_in=12, n_out=10)
    default = call(dei, name, lin, top, seed=3, samples=5000)
    tiny = call(dei, name, lin, top, seed=3, samples=5000, memory_bound=TINY)
    assert_identical(default, tiny)


@pytest.mark.parametrize("name", ["ei_parts", "ei_parts_matrix", "sensitivity_matrix"])
def test_memory_bound_many_bins(dei, name):
    # int32 codes (bins > 255) and tiny tiles together
    lin, top = _net(dei, "sigmoid", n_in=4, n_out=3)
    a = call(dei, name, lin, top, seed=9, samples=4000, in_bins=300, out_bins=270)
    # one pair's counters take 301*271*4 = 326 KB, so 512 KiB holds one pair per tile: 12 tiles
    b = call(dei, name, lin, top, seed=9, samples=4000, in_bins=300, out_bins=270, memory_bound=8 * TINY, batch_size=33)
    assert_identical(a, b)


def test_ei_parts_matrix_sums_to_ei_parts(dei):
    lin, top = _net(dei, "sigmoid")
    m = call(dei, "ei_parts_matrix", lin, top, seed=5)
    s = call(dei, "ei_parts", lin, top, seed=5)
    assert s == pytest.approx(m.sum(), rel=1e-12)
    vec, pw = call(dei, "vector_and_pairwise_ei", lin, top, seed=5)
    assert pw == pytest.approx(m.sum(), rel=1e-12)
    assert vec == call(dei, "ei", lin, top, seed=5)
    sm = call(dei, "sensitivity_matrix", lin, top, seed=5)
    assert call(dei, "sensitivity", lin, top, seed=5) == pytest.approx(sm.sum(), rel=1e-12)


@pytest.mark.parametrize("name", FUNCS)
def test_seed_none_follows_torch_manual_seed(dei, name):
    lin, top = _net(dei, "sigmoid")
    torch.manual_seed(1234)
    a = call(dei, name, lin, top)
    torch.manual_seed(1234)
    b = call(dei, name, lin, top)
    assert_identical(a, b)
    torch.manual_seed(4321)
    c = call(dei, name, lin, top)
    assert not np.array_equal(np.asarray(a, dtype=float), np.asarray(c, dtype=float))


@pytest.mark.parametrize("name", FUNCS)
def test_different_seeds_differ(dei, name):
    lin, top = _net(dei, "sigmoid")
    a = call(dei, name, lin, top, seed=1)
    b = call(dei, name, lin, top, seed=2)
    assert not np.array_equal(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
    # but they estimate the same quantity: 3000 samples of 16x16 tables, the two estimates
    # differ by sampling noise only (well under 25% of the value for these layers)
    assert np.allclose(np.sum(a), np.sum(b), rtol=0.25)


def test_explicit_seed_ignores_global_generator_state(dei):
    lin, top = _net(dei, "sigmoid")
    torch.manual_seed(0)
    v1 = call(dei, "ei_parts", lin, top, seed=99)
    torch.manual_seed(12345)
    torch.rand(1000)
    assert v1 == call(dei, "ei_parts", lin, top, seed=99)


def test_eis_between_groups_batch_size_independent(dei):
    lin, top = _net(dei, "sigmoid")
    groups = [((0, 1), (0,)), ((2, 3, 4), (1, 2)), ((5,), (4,))]
    a = dei.eis_between_groups(lin, top, groups, samples=3000, in_bins=8, out_bins=8, seed=4, progress=False)
    b = dei.eis_between_groups(lin, top, groups, samples=3000, in_bins=8, out_bins=8, seed=4, batch_size=999,
                               progress=False)
    assert a == b and len(a) == 3


def test_in_layer_chain_batch_size_independent(dei):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 4), nn.Sigmoid(), nn.Linear(4, 3), nn.Tanh())
    top = dei.topology_of(net, torch.zeros((1, 5)))
    l1, l2 = net[0], net[2]
    for name in ["ei", "ei_parts_matrix", "sensitivity_matrix"]:
        a = call(dei, name, l2, top, in_layer=l1, seed=8, in_range=(0, 1), batch_size=20)
        b = call(dei, name, l2, top, in_layer=l1, seed=8, in_range=(0, 1), batch_size=2999)
        assert_identical(a, b)
