"""End to end on an accelerator (CUDA) against the CPU (the op-level device cases are in
tests/test_kernels.py, one case list per op run on every device).

Each test takes an `accelerator` from helpers.accelerators() ("cuda"; skipped, with the reason,
unless a GPU is present and deep_ei_fast was built with its CUDA kernels) and checks:
- with rng="philox" and the same seed: identical EI_parts matrices for fused layers (the
  counts are identical); identical vector EI (its entropies are summed on the CPU from the
  same counts); non-fused layers, whose forward pass runs through cuBLAS
  (TF32 off), within the float32-rounding bound stated in OPS.md;
- rng="torch" on the device against deep-ei 0.7.0 run with the same device (relative 1e-9, as
  on CPU).
"""
import numpy as np
import pytest
import torch
import torch.nn as nn

from helpers import accelerators, make_net

on_each_accelerator = pytest.mark.parametrize("accelerator", accelerators())


# ------------------------------------------------------------------------------------------
# end to end
# ------------------------------------------------------------------------------------------
def _net_on(device, n_in, n_out, act, seed):
    net, lin = make_net(n_in, n_out, act, seed=seed)
    return net.to(device), lin


@on_each_accelerator
@pytest.mark.parametrize("act", ["sigmoid", "tanh", "relu", "none"])
def test_philox_end_to_end_fused_layers(dei, accelerator, act):
    kw = dict(samples=30000, in_range=(0, 1), in_bins=16, out_bins=16, seed=7, progress=False)
    results = {}
    for device in ("cpu", accelerator):
        net, lin = _net_on(device, 12, 9, act, seed=4)
        top = dei.topology_of(net, torch.zeros((1, 12), device=device))
        results[device] = (dei.ei_parts_matrix(lin, top, device=device, **kw),
                           dei.vector_and_pairwise_ei(lin, top, device=device, **kw),
                           dei.ei(lin, top, device=device, **kw),
                           dei.ei_parts_matrix(lin, top, device=device,
                                               **dict(kw, out_range="dynamic", out_bins="dynamic")))
    cpu, gpu = results["cpu"], results[accelerator]
    assert np.array_equal(cpu[0], gpu[0])  # identical noise, forward pass and counts
    assert np.array_equal(cpu[3], gpu[3])
    assert gpu[1][1] == cpu[1][1]
    # vector EI: identical counts, and the entropies are summed on the CPU on both devices
    assert gpu[1][0] == cpu[1][0]
    assert gpu[2] == cpu[2]
    assert cpu[0].sum() > 0.1


@on_each_accelerator
def test_philox_end_to_end_memory_tiles(dei, accelerator):
    # counters tiled under a small memory_bound (2 tiles of pairs; the codes exceed the cache,
    # so each tile re-counts replayed samples) on the GPU as on the CPU
    kw = dict(samples=20000, in_bins=8, out_bins=8, seed=3, progress=False, memory_bound=2**18)
    out = {}
    for device in ("cpu", accelerator):
        net, lin = _net_on(device, 40, 30, "sigmoid", seed=5)
        top = dei.topology_of(net, torch.zeros((1, 40), device=device))
        out[device] = dei.ei_parts_matrix(lin, top, device=device, **kw)
    assert np.array_equal(out["cpu"], out[accelerator])


@on_each_accelerator
def test_philox_end_to_end_non_fused_forward(dei, accelerator):
    """A multi-module path runs the forward pass through torch (cuBLAS on the GPU, TF32 off).
    Bound (OPS.md): outputs differ from the CPU's by float32 rounding only; a sample changes bin
    only within that distance of a bin edge, so the results agree to a small tolerance."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(10, 8), nn.Tanh(), nn.Linear(8, 6), nn.Sigmoid())
    kw = dict(samples=40000, in_bins=8, out_bins=8, in_range=(0, 1), seed=2, progress=False)
    out = {}
    for device in ("cpu", accelerator):
        net = net.to(device)
        top = dei.topology_of(net, torch.zeros((1, 10), device=device))
        out[device] = (dei.ei_parts_matrix(net[2], top, in_layer=net[0], device=device, **kw),
                       dei.ei(net[2], top, in_layer=net[0], device=device, **kw))
    np.testing.assert_allclose(out[accelerator][0], out["cpu"][0], rtol=1e-2, atol=1e-3)
    assert out[accelerator][1] == pytest.approx(out["cpu"][1], rel=1e-2)
    # the forward pass itself: float32 rounding apart
    x = torch.rand((4096, 10))
    with torch.no_grad():
        ref = net.cpu()(x)
        got = net.to(accelerator)(x.to(accelerator)).cpu()
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-6)


@on_each_accelerator
@pytest.mark.parametrize("name", ["sensitivity", "sensitivity_matrix"])
def test_philox_sensitivity(dei, accelerator, name):
    out = {}
    for device in ("cpu", accelerator):
        net, lin = _net_on(device, 5, 4, "sigmoid", seed=6)
        top = dei.topology_of(net, torch.zeros((1, 5), device=device))
        out[device] = getattr(dei, name)(lin, top, samples=3000, in_bins=8, out_bins=8, seed=1,
                                         out_range="dynamic", device=device, progress=False)
    # the one-hot batches go through torch's Linear (cuBLAS): rounding-level differences only
    np.testing.assert_allclose(out[accelerator], out["cpu"], rtol=1e-2, atol=1e-3)


# ------------------------------------------------------------------------------------------
# rng="torch" on the accelerator against deep-ei 0.7.0 on the same device
# ------------------------------------------------------------------------------------------
@on_each_accelerator
@pytest.mark.parametrize("name", ["ei", "ei_parts", "ei_parts_matrix", "vector_and_pairwise_ei",
                                  "sensitivity", "sensitivity_matrix"])
@pytest.mark.parametrize("act", ["sigmoid", "relu"])
def test_torch_rng_matches_deep_ei_on_device(dei, accelerator, name, act):
    deep_ei = pytest.importorskip("deep_ei")
    net, lin = _net_on(accelerator, 4, 3, act, seed=8)
    top = dei.topology_of(net, torch.zeros((1, 4), device=accelerator))
    samples = 500 if name.startswith("sensitivity") else 2000
    kw = dict(samples=samples, batch_size=20, in_bins=8, out_bins=8, device=accelerator)
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
