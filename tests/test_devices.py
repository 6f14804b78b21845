"""Devices: parameters must be on the measurement's device, memory_bound=None resolves per
device, the engine's per-device block and batch sizes, its trusted (unchecked) op calls, and
the index vectors and entropies that make CUDA results the CPU's. CUDA-only cases skip here."""
import numpy as np
import pytest
import torch
from torch import nn

from deep_ei_fast.api.arguments import check_settings
from deep_ei_fast.apps.cli import EXIT_USAGE, main
from deep_ei_fast.apps.networks import paper_network
from deep_ei_fast.engine import histogram_choice, ops
from deep_ei_fast.engine.noise_streams import block_samples
from deep_ei_fast.engine.pair_counts import PairBinning, PairCounts
from deep_ei_fast.engine.settings import (
    DEFAULT_MEMORY_BOUND,
    MeasurementSettings,
    default_memory_bound,
)
from deep_ei_fast.engine.vector_counts import VectorCounts

from helpers import make_net

HAS_CUDA = torch.cuda.is_available() and ops.build_info().cuda
needs_cuda = pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA GPU and the CUDA kernels")

KW = {"samples": 500, "in_bins": 8, "out_bins": 8, "in_range": (0, 1), "out_range": (0, 1),
      "progress": False}
PAIRWISE = ("ei_parts", "ei_parts_matrix", "vector_and_pairwise_ei", "sensitivity", "sensitivity_matrix")
FUNCTIONS = ("ei",) + PAIRWISE


# ------------------------------------------------------------------------------------------
# parameters on another device than `device`: ValueError before any work
# ------------------------------------------------------------------------------------------
def _net_with_topology(dei):
    net, lin = make_net(4, 3, "sigmoid", seed=1)
    return net, lin, dei.topology_of(net, torch.zeros((1, 4)))


@pytest.mark.parametrize("name", FUNCTIONS)
@pytest.mark.parametrize("rng", ["philox", "torch"])
def test_parameters_on_meta_are_refused(dei, name, rng):
    # The topology is built on the CPU, then the model moved to 'meta' (the same module
    # objects): any forward pass would fail otherwise, so the message shows the check ran first.
    net, lin, top = _net_with_topology(dei)
    net.to("meta")
    with pytest.raises(ValueError, match=r"parameters are on meta, device='cpu': move the model "
                                         r"with model.to\('cpu'\)"):
        getattr(dei, name)(lin, top, rng=rng, **KW)


def test_every_module_of_the_path_is_checked(dei):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 3), nn.Sigmoid())
    top = dei.topology_of(net, torch.zeros((1, 5)))
    net[0].to("meta")  # only the first module of in_layer..layer
    with pytest.raises(ValueError, match="parameters are on meta"):
        dei.ei_parts(net[2], top, in_layer=net[0], **KW)
    # the layer alone (net[2], on the CPU) is fine
    assert dei.ei_parts(net[2], top, **KW) >= 0.0


def test_a_parametrized_activation_is_checked(dei):
    _, lin, top = _net_with_topology(dei)
    prelu = nn.PReLU().to("meta")
    with pytest.raises(ValueError, match="parameters are on meta"):
        dei.ei_parts(lin, top, activation=prelu, **KW)


def test_causal_plane_checks_the_model_and_the_input(dei):
    net, _ = make_net(4, 3, "sigmoid", seed=1)
    with pytest.raises(ValueError, match=r"model: parameters are on meta, device='cpu'"):
        dei.causal_plane(net.to("meta"), torch.zeros((1, 4)), device="cpu", samples=200,
                         sensitivity_samples=10, progress=False)
    net, _ = make_net(4, 3, "sigmoid", seed=1)
    with pytest.raises(ValueError, match=r"input is on meta, device='cpu': move it with input.to"):
        dei.causal_plane(net, torch.zeros((1, 4), device="meta"), samples=200,
                         sensitivity_samples=10, progress=False)


def _saved_mlp(tmp_path):
    path = tmp_path / "model.pt"
    torch.save(paper_network((4, 3), seed=0).state_dict(), path)
    return str(path)


def test_cli_refuses_an_unusable_device_without_a_traceback(capsys, tmp_path):
    if HAS_CUDA:
        pytest.skip("CUDA is usable here")
    code = main(["measure", _saved_mlp(tmp_path), "--arch", "4,3", "--device", "cuda",
                 "--samples", "200", "--sensitivity-samples", "10"])
    err = capsys.readouterr().err
    assert code == EXIT_USAGE and "--device: device='cuda'" in err and "Traceback" not in err


def test_cli_help_says_the_model_moves_to_the_device(capsys):
    with pytest.raises(SystemExit):
        main(["measure", "--help"])
    assert "moved there" in capsys.readouterr().out


@needs_cuda
@pytest.mark.parametrize("name", FUNCTIONS)
@pytest.mark.parametrize("rng", ["philox", "torch"])
def test_cpu_model_with_device_cuda_is_refused(dei, name, rng):
    _, lin, top = _net_with_topology(dei)
    with pytest.raises(ValueError, match=r"parameters are on cpu, device='cuda': pass device='cpu'"):
        getattr(dei, name)(lin, top, rng=rng, device="cuda", **KW)


@needs_cuda
@pytest.mark.parametrize("name", FUNCTIONS)
def test_cuda_model_with_the_default_device_names_the_device_to_pass(dei, name):
    _, lin, top = _net_with_topology(dei)
    lin.to("cuda")
    with pytest.raises(ValueError, match=r"parameters are on cuda:0, device='cpu': pass device='cuda:0'"):
        getattr(dei, name)(lin, top, **KW)


@needs_cuda
def test_causal_plane_refuses_a_cpu_model_on_cuda(dei):
    net, _ = make_net(4, 3, "sigmoid", seed=1)
    with pytest.raises(ValueError, match=r"parameters are on cpu, device='cuda'"):
        dei.causal_plane(net, torch.zeros((1, 4), device="cuda"), device="cuda", samples=200,
                         sensitivity_samples=10, progress=False)


@needs_cuda
def test_cli_measures_on_cuda(capsys, tmp_path):
    code = main(["measure", _saved_mlp(tmp_path), "--arch", "4,3", "--device", "cuda",
                 "--samples", "2000", "--sensitivity-samples", "20"])
    assert code == 0 and "Linear 4->3" in capsys.readouterr().out


# ------------------------------------------------------------------------------------------
# device=None (this library's own functions): the device of the measured modules' parameters
# ------------------------------------------------------------------------------------------
def test_own_functions_default_to_the_parameters_device_and_deep_ei_to_cpu(dei):
    import inspect

    from deep_ei_fast.plane.recorder import CausalPlaneRecorder

    for name in ("pairwise_stats", "vector_stats", "sensitivity_stats", "causal_plane"):
        assert inspect.signature(getattr(dei, name)).parameters["device"].default is None, name
    for name in FUNCTIONS:
        assert inspect.signature(getattr(dei, name)).parameters["device"].default == "cpu", name
    net, lin, top = _net_with_topology(dei)
    # The recorder hands its keywords to causal_plane: no device, causal_plane's default.
    assert "device" not in CausalPlaneRecorder(net, torch.zeros((1, 4))).measure


@pytest.mark.parametrize("name", ["pairwise_stats", "vector_stats", "sensitivity_stats"])
def test_device_none_measures_on_the_parameters_device(dei, name, monkeypatch):
    # meta parameters: device=None resolves to 'meta', which check_device refuses, naming it;
    # a CPU layer with device=None gives the device='cpu' numbers.
    net, lin, top = _net_with_topology(dei)
    kw = dict(KW, seed=3)
    assert _same_stats(getattr(dei, name)(lin, top, **kw), getattr(dei, name)(lin, top, device="cpu", **kw))
    net.to("meta")
    with pytest.raises(ValueError, match=r"device=None measures where layer Linear 4->3's parameters are: "
                                         r"device=device\(type='meta'\) is not supported"):
        getattr(dei, name)(lin, top, **kw)


def _same_stats(a, b):
    fields = ("plugin_mi", "mi", "standard_error") if hasattr(a, "mi") else ("value", "standard_error")
    return all(np.array_equal(getattr(a, f), getattr(b, f)) for f in fields)


def test_device_none_without_parameters_is_the_cpu(dei):
    from deep_ei_fast.api.layer_resolution import modules_device

    assert modules_device([nn.Sigmoid(), torch.tanh], "cpu") == torch.device("cpu")
    assert modules_device([nn.Sigmoid(), nn.Linear(2, 2).to("meta")], "cpu") == torch.device("meta")
    # A layer without parameters (a pooling node) is measured on the CPU.
    net = nn.Sequential(nn.Conv2d(1, 1, 1), nn.Sigmoid(), nn.AvgPool2d(2))
    top = dei.topology_of(net, torch.zeros((1, 1, 2, 2)))
    got = dei.pairwise_stats(net[2], top, samples=500, seed=1, in_range=(0, 1), out_range=(0, 1),
                             in_bins=4, out_bins=4, progress=False)
    assert got.mi.shape == (4, 1)


def test_causal_plane_device_none_is_the_models_then_the_inputs(dei):
    net, _ = make_net(4, 3, "sigmoid", seed=1)
    kw = dict(samples=200, sensitivity_samples=10, seed=2, progress=False)
    assert dei.causal_plane(net, torch.zeros((1, 4)), **kw)[0].ei == \
        dei.causal_plane(net, torch.zeros((1, 4)), device="cpu", **kw)[0].ei
    with pytest.raises(ValueError, match=r"device=None measures where the model's parameters are: "
                                         r"device=device\(type='meta'\) is not supported"):
        dei.causal_plane(net.to("meta"), torch.zeros((1, 4)), **kw)  # the model's device, not the CPU
    with pytest.raises(ValueError, match=r"model: parameters are on meta, device='cpu': move the model"):
        dei.causal_plane(net, torch.zeros((1, 4)), device="cpu", **kw)


@needs_cuda
def test_causal_plane_and_stats_of_a_cuda_model_run_on_cuda_by_default(dei):
    net, lin = make_net(4, 3, "sigmoid", seed=1)
    net.to("cuda")
    x = torch.zeros((1, 4), device="cuda")
    kw = dict(samples=2000, seed=2, progress=False)
    plane = dei.causal_plane(net, x, sensitivity_samples=20, **kw)
    assert plane[0].ei == dei.causal_plane(net, x, sensitivity_samples=20, device="cuda", **kw)[0].ei
    top = dei.topology_of(net, x)
    assert _same_stats(dei.pairwise_stats(lin, top, **kw), dei.pairwise_stats(lin, top, device="cuda", **kw))


# ------------------------------------------------------------------------------------------
# memory_bound=None: the device's default, resolved once in check_settings
# ------------------------------------------------------------------------------------------
def test_memory_bound_none_resolves_to_the_cpu_default():
    resolved = check_settings(MeasurementSettings(memory_bound=None))
    assert resolved.memory_bound == DEFAULT_MEMORY_BOUND == 2 * 2**30
    assert check_settings(MeasurementSettings(memory_bound=12345)).memory_bound == 12345
    assert default_memory_bound("cpu") == DEFAULT_MEMORY_BOUND


def test_cuda_default_is_three_quarters_of_the_free_memory():
    # a fake free-bytes figure: no GPU needed (the rule, not torch.cuda.mem_get_info)
    assert default_memory_bound("cuda", free_bytes=140 * 10**9) == 105 * 10**9
    assert default_memory_bound(torch.device("cuda:0"), free_bytes=7) == 5  # rounded down
    # 1024 x 1024 pairs of 64 bins (17.7 GB of counters) fit in one tile on a 140 GB GPU
    from deep_ei_fast.engine.pair_counts import plan_tiles
    tiles = plan_tiles(1024, 1024, 65 * 65 * 4, default_memory_bound("cuda", free_bytes=140 * 10**9))
    assert len(tiles) == 1


@pytest.mark.parametrize("name", PAIRWISE)
def test_memory_bound_none_is_accepted_and_is_the_default(dei, name):
    _, lin, top = _net_with_topology(dei)
    fn = getattr(dei, name)
    a = fn(lin, top, seed=3, memory_bound=None, **KW)
    b = fn(lin, top, seed=3, memory_bound=DEFAULT_MEMORY_BOUND, **KW)
    c = fn(lin, top, seed=3, **KW)
    assert np.array_equal(np.asarray(a), np.asarray(b)) and np.array_equal(np.asarray(a), np.asarray(c))


def test_causal_plane_accepts_memory_bound_none(dei):
    net, _ = make_net(4, 3, "sigmoid", seed=1)
    kw = {"samples": 500, "sensitivity_samples": 20, "seed": 2, "progress": False}
    a = dei.causal_plane(net, torch.zeros((1, 4)), memory_bound=None, **kw)
    b = dei.causal_plane(net, torch.zeros((1, 4)), memory_bound=DEFAULT_MEMORY_BOUND, **kw)
    assert [(r.ei, r.ei_parts, r.sensitivity) for r in a] == [(r.ei, r.ei_parts, r.sensitivity) for r in b]


@pytest.mark.parametrize("bad", ["2GiB", 1.5, 0])
def test_bad_memory_bound_still_fails(dei, bad):
    _, lin, top = _net_with_topology(dei)
    with pytest.raises((TypeError, ValueError), match="memory_bound"):
        dei.ei_parts(lin, top, memory_bound=bad, **KW)


# ------------------------------------------------------------------------------------------
# pending codes: flushed at the byte limit as well as at the sample limit
# ------------------------------------------------------------------------------------------
def _counting_histogram(monkeypatch):
    """Replaces the chosen histogram op by one that records its calls."""
    calls = []
    real = histogram_choice.histogram_op

    def chosen(*args):
        op = real(*args)

        def counted(counts, x, y, **kwargs):
            calls.append((x.shape[1], kwargs))
            op(counts, x, y, **kwargs)
        return counted
    monkeypatch.setattr(histogram_choice, "histogram_op", chosen)
    return calls


def _blocks(n_blocks, n_in=3, n_out=2, size=100):
    g = torch.Generator().manual_seed(5)
    return [(torch.rand((n_in, size), generator=g), torch.rand((n_out, size), generator=g))
            for _ in range(n_blocks)]


def _pair_counts():
    binning = PairBinning((0.0, 1.0), 8, [(0.0, 1.0)] * 2, [8, 8], torch.device("cpu"))
    return PairCounts(binning, 3, 2, DEFAULT_MEMORY_BOUND)


def test_pending_codes_flush_at_the_byte_limit(monkeypatch):
    blocks = _blocks(7)
    reference = _pair_counts()
    for x, y in blocks:
        reference.add(x, y)
    reference.per_pair(lambda counts, *_: counts.clone())
    expected = reference.counts.totals().clone()

    # a block is 100 samples x (3 + 2) uint8 codes = 500 bytes; flush at 1200 bytes: after
    # every third block, never at the (huge) sample limit
    monkeypatch.setitem(histogram_choice.BATCH_LIMITS, "cpu", (10**9, 1200))
    calls = _counting_histogram(monkeypatch)
    counts = _pair_counts()
    seen = []
    for x, y in blocks:
        counts.add(x, y)
        seen.append(len(calls))
    assert seen == [0, 0, 1, 1, 1, 2, 2]
    assert counts.unbinned_bytes == 500  # the seventh block waits for per_pair
    counts.per_pair(lambda c, *_: c.clone())
    assert [s for s, _ in calls] == [300, 300, 100]
    assert all(kwargs == {"check_codes": False} for _, kwargs in calls)  # the engine's own codes
    assert torch.equal(counts.counts.totals(), expected)


def test_pending_codes_still_flush_at_the_sample_limit(monkeypatch):
    monkeypatch.setitem(histogram_choice.BATCH_LIMITS, "cpu", (250, 10**12))
    calls = _counting_histogram(monkeypatch)
    counts = _pair_counts()
    for x, y in _blocks(5):
        counts.add(x, y)
    assert [s for s, _ in calls] == [300]  # 300 >= 250 after three blocks; 200 pending


# ------------------------------------------------------------------------------------------
# per-device block sizes, trusted op calls, index vectors, entropies on the CPU
# ------------------------------------------------------------------------------------------
def test_noise_blocks_are_larger_on_cuda():
    assert block_samples(1024, 1024, "cpu") == 2048  # unchanged: CPU results stay the same
    assert block_samples(6, 6, "cpu") == 65536
    assert block_samples(1024, 1024, "cuda") == 32768
    assert block_samples(6, 6, torch.device("cuda")) == 2**20
    assert block_samples(100000, 100000, "cuda") == 256  # the floor


def test_unchecked_op_calls_give_the_same_results():
    g = torch.Generator().manual_seed(2)
    values = torch.rand((3, 1000), generator=g) * 1.2 - 0.1
    low = torch.full((3,), -1e-6, dtype=torch.float64)
    high = torch.full((3,), 1 + 1e-6, dtype=torch.float64)
    bins = torch.tensor([4, 7, 9], dtype=torch.int32)
    checked, unchecked = (torch.empty((3, 1000), dtype=torch.uint8) for _ in range(2))
    ops.pairwise_codes_(checked, values, low, high, bins, 9)
    ops.pairwise_codes_(unchecked, values, low, high, bins, 9, check_bins=False)
    assert torch.equal(checked, unchecked)
    with pytest.raises(RuntimeError, match="bins must be >= 1"):  # users still get the check
        ops.pairwise_codes_(checked, values, low, high, torch.tensor([4, 0, 9], dtype=torch.int32), 9)
    for op in (ops.pair_histogram_accumulate_, ops.pair_histogram_onehot_accumulate_):
        a, b = (torch.zeros((3, 3, 10, 10), dtype=torch.int32) for _ in range(2))
        op(a, checked, checked)
        op(b, checked, checked, check_codes=False)
        assert torch.equal(a, b) and int(a.sum()) == 9 * 1000
        with pytest.raises(RuntimeError, match="out of range"):
            op(a, checked, checked + 1)


def test_vector_index_vectors_are_made_once_on_the_device():
    vc = VectorCounts((0, 1), 8, (0, 1), 8, 4, 3, True, groups=[([0, 2], [1]), ([3], [0, 2])],
                      device=torch.device("cpu"))
    assert [t.in_index.tolist() for t in vc.tables] == [[0, 2], [3]]
    assert all(t.in_index.device.type == "cpu" and t.out_index.dtype == torch.int64 for t in vc.tables)


@needs_cuda
def test_vector_keys_with_device_index_vectors():
    g = torch.Generator().manual_seed(3)
    x, y = torch.rand((5, 3000), generator=g), torch.rand((4, 3000), generator=g)
    args = (0.0, 1.0, 8, 0.0, 1.0, 8, 3, 3, 0)
    index = (torch.tensor([4, 0, 2]), torch.tensor([3, 1]))
    cpu = ops.vector_keys(x, y, *args, *index)
    gpu = ops.vector_keys(x.cuda(), y.cuda(), *args, *(i.cuda() for i in index))
    assert torch.equal(cpu, gpu.cpu())
    with pytest.raises(RuntimeError, match=r"out_index\[1\] = 4 out of range for 4 neurons"):
        ops.vector_keys(x.cuda(), y.cuda(), *args, index[0].cuda(), torch.tensor([3, 4]).cuda())
    vc = VectorCounts((0, 1), 8, (0, 1), 8, 5, 4, True, device=torch.device("cuda"))
    assert vc.tables[0].in_index.is_cuda and vc.tables[0].out_index.is_cuda


@needs_cuda
@pytest.mark.parametrize("name", ["ei", "eis_between_groups", "vector_and_pairwise_ei"])
def test_vector_ei_on_cuda_is_the_cpus_exactly(dei, name):
    out = {}
    for device in ("cpu", "cuda"):
        net, lin = make_net(6, 5, "tanh", seed=4)
        net.to(device)
        top = dei.topology_of(net, torch.zeros((1, 6), device=device))
        extra = {"groups": [([0, 1], [2]), ([3, 4, 5], [0, 4])]} if name == "eis_between_groups" else {}
        out[device] = getattr(dei, name)(lin, top, samples=20000, in_bins=4, out_bins=4, seed=6,
                                         device=device, progress=False, **extra)
    assert out["cuda"] == out["cpu"]  # identical counts, entropies summed on the CPU
