"""CUDA kernels against the CPU kernels, op by op and end to end (csrc/OPS.md).

Every CUDA case is skipped unless a GPU is present and deep_ei_fast was built with its CUDA
kernels (setup.py builds them when torch has CUDA and nvcc is found, or with FORCE_CUDA=1).
What they check:
- identical results (torch.equal) for philox_uniform_, sample_linear_layer_ (every weight:
  the kernel performs the CPU's float32 operations in the CPU's order, and the activations are
  libm-free), pairwise_codes_, both pair-histogram kernels, pairwise_mi, and the vector ops;
- end to end with rng="philox" and the same seed: identical EI_parts matrices for fused
  layers (the counts are identical); identical vector EI (its entropies are summed on the CPU
  from the same counts); non-fused layers, whose forward pass runs
  through cuBLAS (TF32 off), within the float32-rounding bound stated in OPS.md;
- rng="torch" on CUDA against deep-ei 0.7.0 run with device='cuda' (relative 1e-9, as on CPU).
The selection rule of deep_ei_fast/histogram_kernel.py is tested on every machine.
"""
import math

import numpy as np
import pytest
import torch
import torch.nn as nn

from conftest import make_net


def _cuda_ready():
    if not torch.cuda.is_available():
        return False, "no CUDA GPU available"
    try:
        from deep_ei_fast import build_info
    except Exception as e:  # the extension itself failed to import
        return False, f"deep_ei_fast extension not importable: {e}"
    if not build_info().cuda:
        return False, "deep_ei_fast was built without CUDA kernels (CPU torch or no nvcc)"
    return True, ""


_READY, _WHY = _cuda_ready()
needs_cuda = pytest.mark.skipif(not _READY, reason=f"CUDA kernels not testable here: {_WHY}")
CUDA = torch.device("cuda")


def on_cpu_and_cuda(op, *args):
    """Runs op(*args) on CPU tensors and on CUDA copies; returns (cpu result, cuda result on CPU)."""
    cpu_args = [a.clone() if isinstance(a, torch.Tensor) else a for a in args]
    gpu_args = [a.to(CUDA, copy=True) if isinstance(a, torch.Tensor) else a for a in args]
    r_cpu = op(*cpu_args)
    r_gpu = op(*gpu_args)
    torch.cuda.synchronize()
    return cpu_args, r_cpu, [a.cpu() if isinstance(a, torch.Tensor) else a for a in gpu_args], r_gpu


def to_cpu(result):
    if isinstance(result, (tuple, list)):
        return type(result)(to_cpu(r) for r in result)
    return result.cpu() if isinstance(result, torch.Tensor) else result


# ------------------------------------------------------------------------------------------
# the selection rule (every machine)
# ------------------------------------------------------------------------------------------
def test_histogram_kernel_rule(dei):
    from deep_ei_fast.engine import histogram_choice as hk
    # one-hot work grows with the padded table, the atomic kernel's does not
    assert hk.onehot_cost_ratio(9, 9, 1024, 1024) < hk.onehot_cost_ratio(65, 65, 1024, 1024)
    assert hk.onehot_cost_ratio(65, 65, 1024, 1024) > 10
    assert hk.choose(65, 65, 1024, 1024) == "pair_histogram_accumulate_"
    # small layers fill less of each 128-wide tile: one-hot costs more per pair
    assert hk.onehot_cost_ratio(9, 9, 3, 3) > hk.onehot_cost_ratio(9, 9, 1024, 1024)
    for rows, cols, a, b in [(9, 9, 25, 6), (65, 65, 256, 256), (301, 17, 4, 4)]:
        assert hk.choose(rows, cols, a, b) in ("pair_histogram_accumulate_",
                                                "pair_histogram_onehot_accumulate_")
    assert hk.batch_limits(torch.device("cpu")) == (65536, 64 * 2**20)
    assert hk.batch_limits("cuda")[0] >= hk.batch_limits("cpu")[0]


def test_onehot_op_equals_atomic_op_on_cpu(ops):
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 9, (3, 500), generator=g, dtype=torch.int32)
    y = torch.randint(0, 5, (4, 500), generator=g, dtype=torch.int32)
    a = torch.zeros((3, 4, 9, 5), dtype=torch.int32)
    b = torch.zeros_like(a)
    ops.pair_histogram_accumulate_(a, x, y)
    ops.pair_histogram_onehot_accumulate_(b, x, y)
    assert torch.equal(a, b) and int(a.sum()) == 3 * 4 * 500


# ------------------------------------------------------------------------------------------
# sampling
# ------------------------------------------------------------------------------------------
@needs_cuda
@pytest.mark.parametrize("seed", [0, 123456789, -5, 2**63 - 1])
@pytest.mark.parametrize("sample_start,neuron_start,n,S", [
    (0, 0, 7, 1000), (2**32 - 300, 3, 9, 700), (12345, 70, 1, 1), (2**40, 1, 33, 4097)])
def test_philox_uniform(ops, seed, sample_start, neuron_start, n, S):
    out = torch.empty((n, S))
    ops.philox_uniform_(out, seed, sample_start, neuron_start, -10.0, 10.0)
    gpu = torch.empty((n, S), device=CUDA)
    ops.philox_uniform_(gpu, seed, sample_start, neuron_start, -10.0, 10.0)
    assert torch.equal(out, gpu.cpu())
    # a non-contiguous output (a transposed view) gets the same values
    view = torch.empty((S, n), device=CUDA).t()
    ops.philox_uniform_(view, seed, sample_start, neuron_start, -10.0, 10.0)
    assert torch.equal(out, view.cpu())


@needs_cuda
@pytest.mark.parametrize("act", [0, 1, 2, 3])
@pytest.mark.parametrize("n_in,n_out,S", [(1, 1, 1), (3, 5, 1000), (37, 70, 3001), (256, 129, 2048), (0, 4, 10)])
@pytest.mark.parametrize("weights", ["gaussian", "integer"])
def test_sample_linear_layer_bit_identical(ops, act, n_in, n_out, S, weights):
    g = torch.Generator().manual_seed(n_in * 1000 + n_out)
    if weights == "gaussian":
        w = torch.randn(n_out, n_in, generator=g) * 2
        b = torch.randn(n_out, generator=g)
    else:  # exact products and sums: any order gives the same value
        w = torch.randint(-3, 4, (n_out, n_in), generator=g).float()
        b = torch.randint(-2, 3, (n_out,), generator=g).float()
    for bias in (b, None):
        x = torch.empty((n_in, S)); y = torch.empty((n_out, S))
        ops.sample_linear_layer_(x, y, w, bias, act, 99, 17, -1.0, 1.0)
        xg = torch.empty((n_in, S), device=CUDA); yg = torch.empty((n_out, S), device=CUDA)
        ops.sample_linear_layer_(xg, yg, w.to(CUDA), None if bias is None else bias.to(CUDA),
                                 act, 99, 17, -1.0, 1.0)
        assert torch.equal(x, xg.cpu())
        assert torch.equal(y, yg.cpu()), (act, float((y - yg.cpu()).abs().max()))


# ------------------------------------------------------------------------------------------
# binning, histograms, MI
# ------------------------------------------------------------------------------------------
@needs_cuda
@pytest.mark.parametrize("dtype", [torch.uint8, torch.int32])
def test_pairwise_codes(ops, dtype):
    g = torch.Generator().manual_seed(1)
    n, S = 6, 5000
    lo = torch.linspace(-2, 0, n, dtype=torch.float64)
    hi = lo + torch.linspace(0.5, 3, n, dtype=torch.float64)
    values = (torch.rand((n, S), generator=g) * 5 - 3).float()
    values[:, :8] = torch.tensor([math.nan, math.inf, -math.inf, 0.0, -2.0, 1.0, -1e-7, 0.9999999])
    # values exactly on bin edges
    bins = torch.tensor([1, 8, 64, 100, 255, 7], dtype=torch.int32)
    for j in range(n):
        k = torch.arange(int(bins[j]) + 1, dtype=torch.float64)
        edges = (lo[j] + (hi[j] - lo[j]) * k / int(bins[j])).float()
        values[j, 8:8 + edges.numel()] = edges
    drop = int(bins.max())
    cpu, _, gpu, _ = on_cpu_and_cuda(ops.pairwise_codes_, torch.empty((n, S), dtype=dtype), values,
                                     lo - 1e-6, hi + 1e-6, bins, drop)
    assert torch.equal(cpu[0], gpu[0])


def saturated_codes(n, S, bins, g):
    """Codes of saturated sigmoids: most samples in the first or last bin (atomic collisions)."""
    z = torch.randn((n, S), generator=g) * 8 + torch.randn((n, 1), generator=g) * 4
    return torch.clamp((torch.sigmoid(z) * bins).long(), max=bins - 1)


@needs_cuda
@pytest.mark.parametrize("op_name", ["pair_histogram_accumulate_", "pair_histogram_onehot_accumulate_"])
@pytest.mark.parametrize("na,nb,in_bins,out_bins,S,kind", [
    (3, 4, 8, 8, 1000, "uniform"),
    (25, 6, 8, 8, 70001, "uniform"),      # more samples than a 16-bit counter holds: flushes
    (17, 9, 64, 64, 3000, "saturated"),
    (2, 3, 64, 33, 140000, "saturated"),  # one cell gets > 65535 samples
    (5, 3, 300, 20, 2000, "uniform"),     # int32 codes
    (2, 2, 450, 450, 500, "uniform"),     # a pair's histogram exceeds shared memory: fallback
    (1, 1, 1, 1, 10, "uniform"),
])
def test_pair_histograms_identical(ops, op_name, na, nb, in_bins, out_bins, S, kind):
    g = torch.Generator().manual_seed(na * nb + S)
    RX, RY = in_bins + 1, out_bins + 1
    dtype = torch.uint8 if max(RX, RY) <= 256 else torch.int32
    if kind == "uniform":
        x = torch.randint(0, RX, (na, S), generator=g)
        y = torch.randint(0, RY, (nb, S), generator=g)
    else:
        x, y = saturated_codes(na, S, RX, g), saturated_codes(nb, S, RY, g)
    x, y = x.to(dtype), y.to(dtype)
    start = torch.randint(0, 1000, (na, nb, RX, RY), generator=g, dtype=torch.int32)
    op = getattr(ops, op_name)
    cpu, _, gpu, _ = on_cpu_and_cuda(op, start, x, y)
    assert torch.equal(cpu[0], gpu[0])
    assert int((cpu[0] - start).sum()) == na * nb * S
    # strided code rows (a slice of a larger block, as the tiled pass passes) give the same
    wide = torch.cat([x, x], dim=1).to(CUDA)
    counts = start.to(CUDA)
    op(counts, wide[:, :S], y.to(CUDA))
    assert torch.equal(counts.cpu(), cpu[0])


@needs_cuda
@pytest.mark.parametrize("op_name", ["pair_histogram_accumulate_", "pair_histogram_onehot_accumulate_"])
def test_pair_histogram_rejects_bad_codes(ops, op_name):
    counts = torch.zeros((1, 1, 3, 3), dtype=torch.int32, device=CUDA)
    x = torch.tensor([[0, 1, 3]], dtype=torch.int32, device=CUDA)  # 3 >= RX
    y = torch.tensor([[0, 1, 2]], dtype=torch.int32, device=CUDA)
    with pytest.raises(RuntimeError):
        getattr(ops, op_name)(counts, x, y)
    with pytest.raises(RuntimeError):
        getattr(ops, op_name)(counts, y, -x)  # negative codes
    assert counts.sum().item() == 0  # checked before anything was counted


@needs_cuda
@pytest.mark.parametrize("na,nb,in_bins,max_out,scale,sparse", [
    (4, 5, 8, 8, 50, False), (3, 7, 64, 64, 5, True), (2, 3, 300, 40, 3, True),
    (6, 2, 8, 8, 200000, False), (3, 3, 1, 5, 10, False)])
def test_pairwise_mi_identical(ops, na, nb, in_bins, max_out, scale, sparse):
    g = torch.Generator().manual_seed(in_bins + max_out)
    counts = torch.randint(0, scale, (na, nb, in_bins + 1, max_out + 1), generator=g)
    if sparse:
        counts *= torch.rand(counts.shape, generator=g) < 0.1
    counts[0, 0] = 0  # an empty table
    counts[-1, -1, :, 1:] = 0  # a single column
    counts = counts.to(torch.int32)
    out_bins = torch.randint(1, max_out + 1, (nb,), generator=g, dtype=torch.int32)
    out_bins[0] = max_out
    _, r_cpu, _, r_gpu = on_cpu_and_cuda(ops.pairwise_mi, counts, in_bins, out_bins)
    assert r_gpu.dtype == torch.float64
    assert torch.equal(r_cpu, r_gpu.cpu())  # bit for bit: same logs, same summation tree


# ------------------------------------------------------------------------------------------
# vector ops
# ------------------------------------------------------------------------------------------
@needs_cuda
def test_vector_codes(ops):
    g = torch.Generator().manual_seed(2)
    v = torch.randn((5, 4000), generator=g) * 3
    v[0, :6] = torch.tensor([math.nan, math.inf, -math.inf, 1e30, -1e30, 0.0])
    cpu, _, gpu, _ = on_cpu_and_cuda(ops.vector_codes_, torch.empty(v.shape, dtype=torch.int32),
                                     v, -1.0, 1.0, 37)
    assert torch.equal(cpu[0], gpu[0])


@needs_cuda
@pytest.mark.parametrize("bits,offset", [(3, 0), (8, 1), (32, 2**31), (64, 0), (21, 5)])
def test_pack_code_rows(ops, bits, offset):
    g = torch.Generator().manual_seed(bits)
    top = min(2**bits - 1 - offset, 2**31 - 1)
    codes = torch.randint(-offset if offset < 2**31 else -(2**31), top + 1, (13, 999), generator=g).to(torch.int32)
    _, r_cpu, _, r_gpu = on_cpu_and_cuda(ops.pack_code_rows, codes, bits, offset)
    assert torch.equal(r_cpu, r_gpu.cpu())
    if bits < 32:  # a field one past the top does not fit
        too_big = torch.tensor([[2**bits - offset]], dtype=torch.int32, device=CUDA)
        with pytest.raises(RuntimeError):
            ops.pack_code_rows(too_big, bits, offset)


@needs_cuda
@pytest.mark.parametrize("M,W,kind", [(1, 1, "small"), (5000, 1, "small"), (3000, 3, "full"),
                                      (20000, 2, "negative"), (777, 4, "constant_words")])
@pytest.mark.parametrize("weighted", [False, True])
def test_sort_unique_rows_and_prefix_counts(ops, M, W, kind, weighted):
    g = torch.Generator().manual_seed(M + W)
    if kind == "small":
        keys = torch.randint(0, 4, (M, W), generator=g)
    elif kind == "full":
        keys = torch.randint(-(2**63), 2**63 - 1, (M, W), generator=g)
        keys[M // 2:] = keys[:M - M // 2].clone()
    elif kind == "constant_words":
        keys = torch.randint(0, 3, (M, W), generator=g) << 40
        keys[:, 0] = 7
    else:  # words with the sign bit set sort after the others (unsigned order)
        keys = torch.randint(0, 3, (M, W), generator=g)
        keys[:, 0] = torch.where(torch.rand(M, generator=g) < 0.5, torch.tensor(-1), torch.tensor(5))
    weights = torch.randint(1, 1000, (M,), generator=g) if weighted else None
    _, r_cpu, _, r_gpu = on_cpu_and_cuda(ops.sort_unique_rows, keys, weights)
    r_gpu = to_cpu(r_gpu)
    assert torch.equal(r_cpu[0], r_gpu[0]) and torch.equal(r_cpu[1], r_gpu[1])
    for p in range(W + 1):
        _, p_cpu, _, p_gpu = on_cpu_and_cuda(ops.prefix_counts, r_cpu[0], r_cpu[1], p)
        assert torch.equal(p_cpu, p_gpu.cpu())


@needs_cuda
@pytest.mark.parametrize("in_bins,out_bins,out_bits,out_offset", [(8, 8, 32, 2**31), (64, 5, 32, 2**31), (3, 70, 7, 0)])
def test_vector_keys(ops, in_bins, out_bins, out_bits, out_offset):
    g = torch.Generator().manual_seed(in_bins)
    x = torch.rand((9, 30000), generator=g)
    y = torch.rand((7, 30000), generator=g) * (1.4 if out_offset else 1.0) - (0.2 if out_offset else 0.0)
    in_bits = max(1, (in_bins - 1).bit_length())
    for in_index, out_index in [(list(range(9)), list(range(7))), ([4, 0], [6]), ([], [1, 2])]:
        args = (x, y, 0.0, 1.0, in_bins, 0.0, 1.0, out_bins, in_bits, out_bits, out_offset,
                torch.tensor(in_index, dtype=torch.int64), torch.tensor(out_index, dtype=torch.int64))
        r_cpu = ops.vector_keys(*args)
        # the engine passes the index vectors from the host; device copies work too
        r_gpu = ops.vector_keys(x.to(CUDA), y.to(CUDA), *args[2:])
        r_gpu2 = ops.vector_keys(x.to(CUDA), y.to(CUDA), *args[2:11], args[11].to(CUDA), args[12].to(CUDA))
        assert torch.equal(r_cpu, r_gpu.cpu()) and torch.equal(r_cpu, r_gpu2.cpu())
        assert 0 < r_cpu.shape[0] <= 30000


# ------------------------------------------------------------------------------------------
# end to end
# ------------------------------------------------------------------------------------------
def _net_on(device, n_in, n_out, act, seed):
    net, lin = make_net(n_in, n_out, act, seed=seed)
    return net.to(device), lin


@needs_cuda
@pytest.mark.parametrize("act", ["sigmoid", "tanh", "relu", "none"])
def test_philox_end_to_end_fused_layers(dei, act):
    kw = dict(samples=30000, in_range=(0, 1), in_bins=16, out_bins=16, seed=7, progress=False)
    results = {}
    for device in ("cpu", "cuda"):
        net, lin = _net_on(device, 12, 9, act, seed=4)
        top = dei.topology_of(net, torch.zeros((1, 12), device=device))
        results[device] = (dei.ei_parts_matrix(lin, top, device=device, **kw),
                           dei.vector_and_pairwise_ei(lin, top, device=device, **kw),
                           dei.ei(lin, top, device=device, **kw),
                           dei.ei_parts_matrix(lin, top, device=device,
                                               **dict(kw, out_range="dynamic", out_bins="dynamic")))
    cpu, gpu = results["cpu"], results["cuda"]
    assert np.array_equal(cpu[0], gpu[0])  # identical noise, forward pass and counts
    assert np.array_equal(cpu[3], gpu[3])
    assert gpu[1][1] == cpu[1][1]
    # vector EI: identical counts, and the entropies are summed on the CPU on both devices
    assert gpu[1][0] == cpu[1][0]
    assert gpu[2] == cpu[2]
    assert cpu[0].sum() > 0.1


@needs_cuda
def test_philox_end_to_end_memory_tiles(dei):
    # counters tiled under a small memory_bound (2 tiles of pairs; the codes exceed the cache,
    # so each tile re-counts replayed samples) on the GPU as on the CPU
    kw = dict(samples=20000, in_bins=8, out_bins=8, seed=3, progress=False, memory_bound=2**18)
    out = {}
    for device in ("cpu", "cuda"):
        net, lin = _net_on(device, 40, 30, "sigmoid", seed=5)
        top = dei.topology_of(net, torch.zeros((1, 40), device=device))
        out[device] = dei.ei_parts_matrix(lin, top, device=device, **kw)
    assert np.array_equal(out["cpu"], out["cuda"])


@needs_cuda
def test_philox_end_to_end_non_fused_forward(dei):
    """A multi-module path runs the forward pass through torch (cuBLAS on the GPU, TF32 off).
    Bound (OPS.md): outputs differ from the CPU's by float32 rounding only; a sample changes bin
    only within that distance of a bin edge, so the results agree to a small tolerance."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(10, 8), nn.Tanh(), nn.Linear(8, 6), nn.Sigmoid())
    kw = dict(samples=40000, in_bins=8, out_bins=8, in_range=(0, 1), seed=2, progress=False)
    out = {}
    for device in ("cpu", "cuda"):
        net = net.to(device)
        top = dei.topology_of(net, torch.zeros((1, 10), device=device))
        out[device] = (dei.ei_parts_matrix(net[2], top, in_layer=net[0], device=device, **kw),
                       dei.ei(net[2], top, in_layer=net[0], device=device, **kw))
    np.testing.assert_allclose(out["cuda"][0], out["cpu"][0], rtol=1e-2, atol=1e-3)
    assert out["cuda"][1] == pytest.approx(out["cpu"][1], rel=1e-2)
    # the forward pass itself: float32 rounding apart
    x = torch.rand((4096, 10))
    with torch.no_grad():
        ref = net.cpu()(x)
        got = net.to(CUDA)(x.to(CUDA)).cpu()
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-6)


@needs_cuda
@pytest.mark.parametrize("name", ["sensitivity", "sensitivity_matrix"])
def test_philox_sensitivity(dei, name):
    out = {}
    for device in ("cpu", "cuda"):
        net, lin = _net_on(device, 5, 4, "sigmoid", seed=6)
        top = dei.topology_of(net, torch.zeros((1, 5), device=device))
        out[device] = getattr(dei, name)(lin, top, samples=3000, in_bins=8, out_bins=8, seed=1,
                                         out_range="dynamic", device=device, progress=False)
    # the one-hot batches go through torch's Linear (cuBLAS): rounding-level differences only
    np.testing.assert_allclose(out["cuda"], out["cpu"], rtol=1e-2, atol=1e-3)


# ------------------------------------------------------------------------------------------
# rng="torch" on CUDA against deep-ei 0.7.0 with device='cuda'
# ------------------------------------------------------------------------------------------
@needs_cuda
@pytest.mark.parametrize("name", ["ei", "ei_parts", "ei_parts_matrix", "vector_and_pairwise_ei",
                                  "sensitivity", "sensitivity_matrix"])
@pytest.mark.parametrize("act", ["sigmoid", "relu"])
def test_torch_rng_matches_deep_ei_on_cuda(dei, name, act):
    deep_ei = pytest.importorskip("deep_ei")
    net, lin = _net_on("cuda", 4, 3, act, seed=8)
    top = dei.topology_of(net, torch.zeros((1, 4), device=CUDA))
    samples = 500 if name.startswith("sensitivity") else 2000
    kw = dict(samples=samples, batch_size=20, in_bins=8, out_bins=8, device="cuda")
    torch.manual_seed(12)
    ref = getattr(deep_ei, name)(lin, top, **kw)
    torch.manual_seed(12)
    got = getattr(dei, name)(lin, top, rng="torch", progress=False, **kw)
    got, ref = np.atleast_1d(np.asarray(got, dtype=np.float64)), np.atleast_1d(np.asarray(ref, dtype=np.float64))
    assert np.all(np.isfinite(got)) and got.shape == ref.shape
    if name in ("ei", "vector_and_pairwise_ei"):
        # Vector EI (the first value): deep-ei codes its vectors on the GPU, where torch divides
        # by the scalar width as a multiplication by its float32 reciprocal; the engine divides
        # (as deep-ei does on the CPU). A value within an ulp of a vector bin edge can then fall
        # in the neighbouring bin: one such sample moves EI by ~1/samples (OPS.md, CUDA).
        assert got[0] == pytest.approx(ref[0], rel=5e-3)
        got, ref = got[1:], ref[1:]
    # pairwise: deep-ei bins on the CPU (fast_histogram) the same GPU outputs
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12)
