"""Vector EI under a small memory_bound: the distinct-row tables are counted in key ranges, one
pass over the samples each (rng="torch" re-draws them from the saved generator state), and the
results must equal the unbounded ones bit for bit (==), with torch's global generator left
where one pass leaves it. MIN_TABLE_ROWS is lowered so that a few thousand samples already
need many parts."""
import re

import pytest
import torch

from helpers import make_net

SAMPLES = 3000
GROUPS = [((0, 1, 2), (0, 1)), ((0,), (0, 1, 2, 3, 4)), ((3, 4, 5), (2,))]


@pytest.fixture
def small_tables(monkeypatch):
    from deep_ei_fast.engine import vector_counts
    monkeypatch.setattr(vector_counts, "MIN_TABLE_ROWS", 16)
    return vector_counts


def _layer(dei, act="sigmoid"):
    net, lin = make_net(6, 5, act, seed=65)
    return lin, dei.topology_of(net, torch.zeros((1, 6)))


def _bound(rows, words=2, tables=1, shares=1, shuffled=False):
    """A memory_bound giving `rows` rows per part for keys of `words` words, when it is cut into
    `shares` equal shares (null pairings, the pair counts) of `tables` tables each: tables
    multiplied by groups or shuffles each hold their bookkeeping too."""
    from deep_ei_fast.engine.vector_counts import ROW_COST, TABLE_BYTES
    bookkeeping = TABLE_BYTES if tables > 1 or shuffled else 0
    return tables * shares * (rows * ROW_COST * 8 * (words + 1) + bookkeeping)


def _run(dei, name, rng, memory_bound, **kw):
    lin, top = _layer(dei)
    torch.manual_seed(11)
    args = (GROUPS,) if name == "eis_between_groups" else ()
    kw.setdefault("samples", SAMPLES)
    result = getattr(dei, name)(lin, top, *args, in_bins=16, out_bins=16, rng=rng, batch_size=300,
                                seed=5 if rng == "philox" else None,  # rng="torch": torch.manual_seed above
                                progress=False, memory_bound=memory_bound, **kw)
    return result, torch.rand(4)  # the generator afterwards: where later draws start


@pytest.mark.parametrize("rng", ["philox", "torch"])
@pytest.mark.parametrize("name", ["ei", "eis_between_groups", "vector_and_pairwise_ei"])
def test_partitioned_equals_unbounded(dei, small_tables, name, rng):
    passes = []
    original = small_tables.VectorCounts.marginal_counts

    def spy(self):
        result = [(total, list(pieces)) if total is not None else None
                  for total, pieces in (m or (None, None) for m in original(self))]
        passes.append(self.passes)
        return [r and (r[0], iter(r[1])) for r in result]

    small_tables.VectorCounts.marginal_counts = spy
    try:
        whole, after_whole = _run(dei, name, rng, None)
        tables = len(GROUPS) if name == "eis_between_groups" else 1
        # vector_and_pairwise_ei gives the vector table half the bound
        share = 2 if name == "vector_and_pairwise_ei" else 1
        for rows in (400, 100):
            got, after = _run(dei, name, rng, _bound(rows, tables=tables, shares=share))
            assert got == whole
            assert torch.equal(after, after_whole)
    finally:
        small_tables.VectorCounts.marginal_counts = original
    # 3000 samples of mostly distinct rows: 100 rows a part needs dozens of passes
    assert passes[0] == 1 and passes[1] > 4 and passes[2] > 20, passes


@pytest.mark.parametrize("rng", ["philox", "torch"])
def test_partitioned_convergence_rounds(dei, small_tables, rng):
    # samples=None: the vector EI is estimated every doubling round, re-planned as it grows
    whole, after_whole = _run(dei, "ei", rng, None, samples=None, threshold=0.5)
    got, after = _run(dei, "ei", rng, _bound(1500), samples=None, threshold=0.5)
    assert got == whole and torch.equal(after, after_whole)


def test_partitioned_shuffle_null_across_rounds(dei, small_tables, monkeypatch):
    # The null pairs samples within segments that a take's end cuts; with blocks of 2048
    # samples the convergence rounds' takes (10k, 10k, 20k, ...) end inside blocks, and the
    # passes over the samples must re-read them cut the same way (they once re-read whole
    # blocks).
    from deep_ei_fast.engine import noise_streams
    monkeypatch.setitem(noise_streams.BLOCK_LIMITS, "cpu", (16 * 2**20, 2048))
    net, lin = make_net(3, 2, "sigmoid", seed=3)
    top = dei.topology_of(net, torch.zeros((1, 3)))
    values = [dei.ei(lin, top, in_bins=4, out_bins=4, seed=8, estimator="shuffle", progress=False,
                     memory_bound=bound) for bound in (None, _bound(16, shares=2, shuffled=True))]
    assert values[0] == values[1] and values[0] > 0


def test_too_small_bound_is_refused_before_work(dei):
    lin, top = _layer(dei)
    pattern = r"memory_bound=1000 is too small: .* the smallest memory_bound that works is (\d+)$"
    with pytest.raises(ValueError, match=pattern) as refused:
        dei.ei(lin, top, samples=10**9, memory_bound=1000, progress=False)
    smallest = int(re.search(pattern, str(refused.value))[1])
    dei.ei(lin, top, samples=2000, memory_bound=smallest, seed=0, progress=False)  # it works
    with pytest.raises(ValueError, match=pattern.replace("1000", str(smallest - 1))):
        dei.ei(lin, top, samples=2000, memory_bound=smallest - 1, seed=0, progress=False)


def test_torch_replay_restores_generator_for_tiled_pairs(dei):
    # rng="torch" pair tiles now re-draw instead of caching codes: same matrix, same generator
    lin, top = _layer(dei)
    results = []
    for bound in (None, 64 * 1024):
        torch.manual_seed(3)
        kw = {} if bound is None else {"memory_bound": bound}
        m = dei.ei_parts_matrix(lin, top, samples=20000, in_bins=16, out_bins=16, rng="torch",
                                progress=False, **kw)
        results.append((m, torch.rand(3)))
    assert (results[0][0] == results[1][0]).all() and torch.equal(results[0][1], results[1][1])
