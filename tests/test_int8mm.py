"""engine/onehot_matmul.py: the int8 one-hot matrix-product kernel (torch._int_mm) gives the
atomic kernel's counts bit for bit (ops.pair_histogram_accumulate_, itself checked against a
bincount oracle in test_kernels.py): many layer shapes, bins 4..128 plus the extremes, the drop
codes (the extra last row / column), uint8 and int32 codes, strided code rows, zero samples and
pairs, the tiling over pairs and samples at and around its boundaries, the padding of
torch._int_mm's shapes, counters near the int32 limit and their int64 flush, bad input, and the
engine with the rule forced to this kernel. Every case runs on each device of helpers.devices()
(the CUDA ones where a GPU and the CUDA build exist)."""
import pytest
import torch

from deep_ei_fast.engine import histogram_choice, onehot_matmul as om, ops
from deep_ei_fast.engine.settings import DEFAULT_MEMORY_BOUND

from helpers import devices, make_net

DEVICES = devices()
on_each_device = pytest.mark.parametrize("device", DEVICES)
INT32_MAX = 2**31 - 1


def codes_for(n, S, R, kind, dtype, g):
    """Codes [n, S] in [0, R): uniform, or saturated (most in the first or last cell; the last
    is the drop code R - 1), both always including the drop code when S is large enough."""
    if kind == "uniform":
        c = torch.randint(0, R, (n, S), generator=g)
    else:
        z = torch.randn((n, S), generator=g) * 8 + torch.randn((n, 1), generator=g) * 4
        c = torch.clamp((torch.sigmoid(z) * R).long(), max=R - 1)
    if S:
        c[:, 0] = R - 1  # a dropped sample in every row
    return c.to(dtype)


def both(device, start, x, y, workspace=om.DEFAULT_WORKSPACE_BYTES, check_codes=True):
    """(atomic counts, int8 GEMM counts), both added to `start`, computed on `device`, on the CPU."""
    atomic = start.to(device, copy=True)
    ops.pair_histogram_accumulate_(atomic, x.to(device), y.to(device))
    product = start.to(device, copy=True)
    om.pair_histogram_int8mm_accumulate_(product, x.to(device), y.to(device), check_codes=check_codes,
                                         workspace_bytes=workspace)
    return atomic.cpu(), product.cpu()


@on_each_device
@pytest.mark.parametrize("bins", [4, 8, 16, 32, 64, 128])
@pytest.mark.parametrize("na,nb,S,kind", [
    (25, 6, 3000, "uniform"), (25, 6, 3000, "saturated"), (1, 1, 7, "uniform"),
    (3, 17, 1001, "saturated"), (16, 2, 513, "uniform"),
])
def test_equals_atomic_kernel(device, bins, na, nb, S, kind):
    g = torch.Generator().manual_seed(bins * 1000 + na * 10 + nb)
    RX, RY = bins + 1, bins + 1
    x, y = codes_for(na, S, RX, kind, torch.uint8, g), codes_for(nb, S, RY, kind, torch.uint8, g)
    start = torch.randint(0, 1000, (na, nb, RX, RY), generator=g, dtype=torch.int32)
    atomic, product = both(device, start, x, y)
    assert torch.equal(product, atomic)
    assert int((product - start).sum()) == na * nb * S
    assert int((product - start)[:, :, RX - 1, :].sum()) >= na * nb  # the drop row counted


@on_each_device
@pytest.mark.parametrize("na,nb,RX,RY,S,dtype", [
    (3, 4, 2, 2, 100, torch.uint8),        # in_bins = out_bins = 1: M = 6 rows padded to 32
    (2, 3, 5, 129, 77, torch.uint8),       # different sides; S not a multiple of 8
    (5, 3, 301, 21, 300, torch.int32),     # int32 codes (more than 256 rows)
    (2, 2, 256, 256, 40, torch.uint8),     # the largest uint8 tables: code 255 is the drop code
    (4, 5, 17, 3, 1, torch.int32),         # one sample
])
def test_equals_atomic_kernel_at_extremes(device, na, nb, RX, RY, S, dtype):
    g = torch.Generator().manual_seed(RX * RY + S)
    x, y = codes_for(na, S, RX, "uniform", dtype, g), codes_for(nb, S, RY, "uniform", dtype, g)
    start = torch.zeros((na, nb, RX, RY), dtype=torch.int32)
    atomic, product = both(device, start, x, y)
    assert torch.equal(product, atomic) and int(product.sum()) == na * nb * S


@on_each_device
def test_strided_code_rows(device):
    """Row slices of a wider block (as the tiled pass hands them over) count as their copies."""
    g = torch.Generator().manual_seed(3)
    wide_x, wide_y = codes_for(7, 900, 9, "uniform", torch.uint8, g), codes_for(5, 900, 9, "saturated", torch.uint8, g)
    x, y = wide_x[2:6, 100:700], wide_y[1:4, 100:700]
    start = torch.zeros((4, 3, 9, 9), dtype=torch.int32)
    atomic, product = both(device, start, x.contiguous(), y.contiguous())
    strided = start.to(device, copy=True)
    om.pair_histogram_int8mm_accumulate_(strided, wide_x.to(device)[2:6, 100:700], wide_y.to(device)[1:4, 100:700])
    assert torch.equal(strided.cpu(), atomic) and torch.equal(product, atomic)


@on_each_device
@pytest.mark.parametrize("na,nb,S", [(4, 3, 0), (0, 3, 50), (4, 0, 50)])
def test_nothing_to_count(device, na, nb, S):
    start = torch.full((na, nb, 9, 9), 7, dtype=torch.int32, device=device)
    counts = start.clone()
    x = torch.zeros((na, S), dtype=torch.uint8, device=device)
    y = torch.zeros((nb, S), dtype=torch.uint8, device=device)
    om.pair_histogram_int8mm_accumulate_(counts, x, y)
    assert torch.equal(counts, start)


# ------------------------------------------------------------------------------------------
# tiling over pairs and samples, and the padding of torch._int_mm's shapes
# ------------------------------------------------------------------------------------------
def test_plan_fits_the_workspace_and_tiles_when_it_must():
    for na, nb, RX, RY, S, workspace in [(1024, 1024, 9, 9, 2**20, 2**30), (1024, 1024, 65, 65, 2**20, 2**30),
                                         (4096, 4096, 129, 129, 2**20, 2**30), (25, 6, 9, 9, 10**6, 2**20),
                                         (300, 200, 129, 129, 5000, 2**26), (7, 5, 9, 9, 1000, 10_000)]:
        ta, tb, K = om.plan(na, nb, RX, RY, S, workspace)
        assert 1 <= ta <= na and 1 <= tb <= nb and K % om.ALIGN == 0 and K <= om.MAX_CHUNK_SAMPLES
        assert om.scratch_bytes(ta, tb, RX, RY, K) <= workspace
    # 1024 x 1024 pairs at 8 bins: all pairs in one product, chunks of ~40000 samples
    assert om.plan(1024, 1024, 9, 9, 2**20, 2**30) == (1024, 1024, 39808)
    # at 64 bins the product of all pairs (17.7 GB) does not fit: blocks of 128 x 256 pairs
    # (8320 x 16640 products), whose chunks hold more than TARGET_CHUNK samples
    assert om.plan(1024, 1024, 65, 65, 2**20, 2**30) == (128, 256, 20816)
    # a small layer in a small workspace: all pairs, fewer samples per chunk
    assert om.plan(25, 6, 9, 9, 10**6, 2**20) == (25, 6, 3232)
    # a workspace smaller than one pair's plan: the smallest plan
    assert om.plan(10, 10, 65, 65, 1000, 100) == (1, 1, om.ALIGN)
    # the samples of a small call: one chunk, padded to a multiple of ALIGN
    assert om.plan(3, 3, 9, 9, 37, 2**30) == (3, 3, 48)


@on_each_device
@pytest.mark.parametrize("na,nb,RX,RY,S,workspace", [
    (7, 5, 9, 9, 1000, 10_000),      # blocks of 2 x 5 pairs (a last one of 1 x 5), 48 samples
    (7, 5, 9, 9, 48 * 20, 10_000),   # samples an exact multiple of the chunk
    (7, 5, 9, 9, 48 * 20 + 1, 10_000),  # one sample in a last chunk
    (6, 11, 17, 5, 777, 6_000),      # blocks of 1 x 6: split along a and b (a last one of 1 x 5)
    (3, 9, 33, 33, 500, 20_000),     # blocks of 1 x 2 (a last one of 1 x 1), 32 samples
    (2, 2, 129, 129, 64, 1),         # the smallest plan: one pair, 16 samples at a time
])
def test_tile_boundaries(device, na, nb, RX, RY, S, workspace):
    ta, tb, K = om.plan(na, nb, RX, RY, S, workspace)
    assert (ta < na or tb < nb) and K < S  # the case does tile over pairs and samples
    g = torch.Generator().manual_seed(na * nb * S + RX)
    x, y = codes_for(na, S, RX, "saturated", torch.uint8, g), codes_for(nb, S, RY, "uniform", torch.uint8, g)
    start = torch.randint(0, 50, (na, nb, RX, RY), generator=g, dtype=torch.int32)
    atomic, product = both(device, start, x, y, workspace=workspace)
    assert torch.equal(product, atomic)


def test_operand_shapes_meet_int_mm_cuda_constraints(monkeypatch):
    """Every product is called with torch._int_mm's CUDA shapes (M > 16, K and N positive
    multiples of 8, A row-major, B column-major), whatever the tables and samples, here on the
    CPU whose _int_mm would accept any shapes."""
    seen = []
    real = torch._int_mm

    def recording(a, b, out):
        seen.append((tuple(a.shape), tuple(b.shape), a.stride(), b.stride()))
        return real(a, b, out=out)
    monkeypatch.setattr(torch, "_int_mm", recording)
    g = torch.Generator().manual_seed(0)
    for na, nb, RX, RY, S, workspace in [(1, 1, 2, 2, 3, 2**30), (7, 5, 9, 9, 1000, 30_000), (2, 3, 5, 129, 77, 2**30)]:
        seen.clear()
        x, y = codes_for(na, S, RX, "uniform", torch.uint8, g), codes_for(nb, S, RY, "uniform", torch.uint8, g)
        counts = torch.zeros((na, nb, RX, RY), dtype=torch.int32)
        om.pair_histogram_int8mm_accumulate_(counts, x, y, workspace_bytes=workspace)
        assert seen
        for (M, K), (K2, N), a_stride, b_stride in seen:
            assert M > 16 and K > 0 and K % 8 == 0 and N > 0 and N % 8 == 0 and K2 == K
            assert a_stride == (K, 1) and b_stride == (1, K)


# ------------------------------------------------------------------------------------------
# int32 counters: the same bound as the atomic kernel's, and the same int64 flush
# ------------------------------------------------------------------------------------------
@on_each_device
def test_counters_near_the_int32_limit(device):
    """A product entry counts at most one chunk's samples; added into counters already holding
    2^31 - 1 - S, the counts reach 2^31 - 1 exactly, without wrapping, as the atomic kernel's."""
    S = 5000
    g = torch.Generator().manual_seed(1)
    x = torch.zeros((2, S), dtype=torch.uint8)  # every sample in row 0 of every pair
    y = codes_for(3, S, 9, "uniform", torch.uint8, g)
    y[0] = 4  # pair (a, 0): all S samples in one cell
    start = torch.zeros((2, 3, 9, 9), dtype=torch.int32)
    start[:, :, 0, 4] = INT32_MAX - S
    atomic, product = both(device, start, x, y, workspace=20_000)  # several chunks
    assert torch.equal(product, atomic)
    assert int(product[0, 0, 0, 4]) == INT32_MAX


def test_counters_flush_into_int64_with_this_kernel(monkeypatch):
    """PairCounts' Counters flush this kernel's int32 counters into int64 totals exactly as the
    atomic kernel's: near the limit, and with a lowered flush limit against the unflushed sum."""
    from deep_ei_fast.engine import pair_counts
    from deep_ei_fast.engine.pair_counts import FLUSH_SAMPLES, Counters
    op = histogram_choice.KERNELS[histogram_choice.INT8MM]
    narrow = torch.zeros((1, 1, 3, 3), dtype=torch.int32)
    narrow[0, 0, 1, 1] = FLUSH_SAMPLES - 10
    counters = Counters(narrow)
    counters.held = FLUSH_SAMPLES - 10
    codes = torch.ones((1, 25), dtype=torch.uint8)
    counters.add(op, codes, codes)  # 25 more: past 2^31 - 1, so the int32 counters flush first
    totals = counters.totals()
    assert totals.dtype == torch.int64 and int(totals[0, 0, 1, 1]) == 2**31 + 14

    g = torch.Generator().manual_seed(4)
    blocks = [(codes_for(3, 400, 9, "uniform", torch.uint8, g), codes_for(2, 400, 9, "saturated", torch.uint8, g))
              for _ in range(6)]
    whole = Counters(torch.zeros((3, 2, 9, 9), dtype=torch.int32))
    for x, y in blocks:
        whole.add(ops.pair_histogram_accumulate_, x, y)
    monkeypatch.setattr(pair_counts, "FLUSH_SAMPLES", 1000)  # a flush every other block
    flushed = Counters(torch.zeros((3, 2, 9, 9), dtype=torch.int32))
    for x, y in blocks:
        flushed.add(op, x, y)
    assert flushed.wide is not None  # it did flush
    assert torch.equal(flushed.totals(), whole.totals().long())


# ------------------------------------------------------------------------------------------
# bad input: a ValueError naming the argument, before anything is counted
# ------------------------------------------------------------------------------------------
@on_each_device
@pytest.mark.parametrize("x,y,match,dtype", [
    ([[0, 1, 3]], [[0, 1, 2]], r"x_codes: code 3 out of range \(R = 3\)", torch.int32),
    ([[0, 1, 2]], [[0, -1, 2]], r"y_codes: code -1 out of range", torch.int32),
    ([[0, 1, 2]], [[0, 255, 2]], r"y_codes: code 255 out of range", torch.uint8),
])
def test_out_of_range_codes_refused(device, x, y, match, dtype):
    counts = torch.zeros((1, 1, 3, 3), dtype=torch.int32, device=device)
    x, y = (torch.tensor(v, dtype=dtype, device=device) for v in (x, y))
    with pytest.raises(ValueError, match=match):
        om.pair_histogram_int8mm_accumulate_(counts, x, y)
    assert int(counts.sum()) == 0
    with pytest.raises(RuntimeError, match="out of range"):  # as the atomic kernel refuses them
        ops.pair_histogram_accumulate_(counts, x, y)


def test_bad_arguments_refused():
    counts = torch.zeros((2, 3, 9, 9), dtype=torch.int32)
    x = torch.zeros((2, 10), dtype=torch.uint8)
    y = torch.zeros((3, 10), dtype=torch.uint8)
    call = om.pair_histogram_int8mm_accumulate_
    with pytest.raises(ValueError, match="counts must be a contiguous int32"):
        call(counts.long(), x, y)
    with pytest.raises(ValueError, match="counts must be a contiguous int32"):
        call(counts.transpose(0, 1), x, y[:2])
    with pytest.raises(ValueError, match="x_codes must be a 2-D uint8 or int32"):
        call(counts, x.long(), y)
    with pytest.raises(ValueError, match="same dtype"):
        call(counts, x, y.int())
    with pytest.raises(ValueError, match=r"codes rows \(2, 2\) do not match counts \[2, 3"):
        call(counts, x, y[:2])
    with pytest.raises(ValueError, match="x_codes has 10 samples, y_codes 9"):
        call(counts, x, y[:, :9])
    assert int(counts.sum()) == 0


# ------------------------------------------------------------------------------------------
# the engine with the rule forced to this kernel
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("memory_bound", [None, 100_000, 40_000])
def test_engine_with_this_kernel_gives_the_same_results(dei, monkeypatch, memory_bound):
    """ei_parts_matrix and vector_and_pairwise_ei are bit-identical with the int8 GEMM kernel
    chosen: whole (the default bound), with a small workspace (100000: 12500 bytes, products of
    2 x 2 pairs and 32 samples) and tiled (40000: two tiles of pairs, products of one pair)."""
    net, lin = make_net(6, 5, "sigmoid", seed=3)
    top = dei.topology_of(net, torch.zeros((1, 6)))
    kw = dict(samples=3000, in_bins=16, out_bins=16, seed=1, progress=False)
    if memory_bound:
        kw["memory_bound"] = memory_bound
    expected = dei.ei_parts_matrix(lin, top, **kw), dei.vector_and_pairwise_ei(lin, top, **kw)
    calls = []
    real = histogram_choice.KERNELS[histogram_choice.INT8MM]

    def counted(*args, **kwargs):
        calls.append(kwargs)
        real(*args, **kwargs)
    monkeypatch.setitem(histogram_choice.KERNELS, histogram_choice.INT8MM, counted)
    monkeypatch.setattr(histogram_choice, "choose", lambda *args: histogram_choice.INT8MM)
    bound = memory_bound or DEFAULT_MEMORY_BOUND  # the CPU's default
    got = [dei.ei_parts_matrix(lin, top, **kw)]
    assert calls and all(c == {"check_codes": False, "workspace_bytes": om.workspace_bytes(bound)} for c in calls)
    calls.clear()
    got.append(dei.vector_and_pairwise_ei(lin, top, **kw))  # pairs get half of memory_bound
    assert calls and all(c == {"check_codes": False, "workspace_bytes": om.workspace_bytes(bound - bound // 2)}
                         for c in calls)
    assert (got[0] == expected[0]).all() and got[1] == expected[1]


def test_workspace_is_set_aside_from_memory_bound(monkeypatch):
    from deep_ei_fast.engine.pair_counts import PairBinning, PairCounts, plan_tiles
    binning = PairBinning((0.0, 1.0), 64, [(0.0, 1.0)] * 40, [64] * 40, torch.device("cpu"))
    bound = 4_000_000
    atomic = PairCounts(binning, 40, 40, bound)
    monkeypatch.setattr(histogram_choice, "choose", lambda *args: histogram_choice.INT8MM)
    product = PairCounts(binning, 40, 40, bound)
    reduced = bound - om.workspace_bytes(bound)
    assert atomic.tiles == plan_tiles(40, 40, binning.pair_bytes, bound)
    assert product.tiles == plan_tiles(40, 40, binning.pair_bytes, reduced) != atomic.tiles
    assert product.cache_limit == reduced // 4
    # counters (3/4 of the rest), cached codes (1/4 of it) and the workspace: within the bound
    a0, a1, b0, b1 = product.tiles[0]
    assert (a1 - a0) * (b1 - b0) * binning.pair_bytes + product.cache_limit + om.workspace_bytes(bound) <= bound
