"""Bad arguments raise ValueError or TypeError naming the argument and the offending value,
before any heavy work (the calls below would take hours with samples=10**12 if they started)."""
import re
import time

import numpy as np
import pytest
import torch
import torch.nn as nn

from helpers import make_net

HUGE = 10**12  # any sampling with this many samples would not finish; errors must come first

ALL = ["ei", "ei_parts", "ei_parts_matrix", "sensitivity", "sensitivity_matrix", "vector_and_pairwise_ei",
       "eis_between_groups"]


@pytest.fixture(scope="module")
def setup(dei):
    net, lin = make_net(3, 2, "sigmoid", seed=0)
    top = dei.topology_of(net, torch.zeros((1, 3)))
    return lin, top


def call(dei, name, lin, top, **kw):
    args = (lin, top)
    if name == "eis_between_groups":
        args = args + (kw.pop("groups", [((0, 1), (0,))]),)
    kw.setdefault("samples", HUGE)
    kw.setdefault("progress", False)
    return getattr(dei, name)(*args, **kw)


def assert_mentions(exc, name, value):
    msg = str(exc.value)
    assert name in msg, msg
    forms = {repr(value), str(value)}
    if isinstance(value, (tuple, list)):
        forms.add(", ".join(repr(v) for v in value))
    assert any(f in msg for f in forms), f"{msg!r} does not show {value!r}"


def check(dei, setup, name, arg, value, types=(ValueError, TypeError), **kw):
    lin, top = setup
    t0 = time.time()
    with pytest.raises(types) as exc:
        call(dei, name, lin, top, **{arg: value}, **kw)
    assert time.time() - t0 < 5.0  # raised before the (impossible) work began
    assert_mentions(exc, arg, value)
    return exc


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("value", [(1, 0), (0.5, 0.5), (3.0, -3.0)])
def test_in_range_lo_ge_hi(dei, setup, name, value):
    check(dei, setup, name, "in_range", value)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("value", [(1, 0), (2.0, 2.0)])
def test_out_range_lo_ge_hi(dei, setup, name, value):
    check(dei, setup, name, "out_range", value)


@pytest.mark.parametrize("name", ALL)
def test_in_range_dynamic(dei, setup, name):
    exc = check(dei, setup, name, "in_range", "dynamic", types=ValueError)
    assert "dynamic" in str(exc.value)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("arg", ["in_bins", "out_bins"])
@pytest.mark.parametrize("value", [0, -3, 65536, 10**6])
def test_bins_out_of_bounds(dei, setup, name, arg, value):
    check(dei, setup, name, arg, value)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("arg", ["in_bins", "out_bins"])
@pytest.mark.parametrize("value", [8.5, "eight", None])
def test_bins_not_integer(dei, setup, name, arg, value):
    check(dei, setup, name, arg, value)


def test_in_bins_dynamic_rejected(dei, setup):
    check(dei, setup, "ei_parts", "in_bins", "dynamic")


def test_bins_limits_accepted(dei, setup):
    lin, top = setup
    # 1 and 65535 are valid; one bin carries no information
    assert dei.ei_parts_matrix(lin, top, samples=50, in_bins=1, out_bins=1, seed=0, progress=False).sum() == 0.0
    m = dei.ei_parts_matrix(lin, top, samples=50, in_bins=65535, out_bins=3, seed=0, progress=False,
                            memory_bound=64 * 2**20)
    assert m.shape == (3, 2) and np.all(m >= 0)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("value", [0, -1])
def test_samples_below_one(dei, setup, name, value):
    check(dei, setup, name, "samples", value)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("value", [0, -20])
def test_batch_size_below_one(dei, setup, name, value):
    check(dei, setup, name, "batch_size", value)


@pytest.mark.parametrize("name", ["ei", "ei_parts"])
@pytest.mark.parametrize("value", [0, 0.0, -0.05])
def test_threshold_not_positive(dei, setup, name, value):
    check(dei, setup, name, "threshold", value, samples=None)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("value", ["mt19937", "Philox", ""])
def test_unknown_rng(dei, setup, name, value):
    check(dei, setup, name, "rng", value)


@pytest.mark.parametrize("name", ALL)
def test_cuda_without_gpu(dei, setup, name, monkeypatch):
    # pretend there is no GPU, so the test means the same on every machine
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    check(dei, setup, name, "device", "cuda")


@pytest.mark.parametrize("name", ALL)
def test_layer_not_in_topology(dei, setup, name):
    lin, top = setup
    stranger = nn.Linear(3, 2)
    with pytest.raises((ValueError, TypeError)) as exc:
        call(dei, name, stranger, top)
    assert "layer" in str(exc.value)
    assert repr(stranger) in str(exc.value) or "Linear" in str(exc.value)


@pytest.mark.parametrize("name", ALL)
def test_in_layer_not_in_topology(dei, setup, name):
    lin, top = setup
    stranger = nn.Linear(3, 3)
    with pytest.raises((ValueError, TypeError)) as exc:
        call(dei, name, lin, top, in_layer=stranger)
    assert "in_layer" in str(exc.value)
    assert "Linear" in str(exc.value)


@pytest.mark.parametrize("name", ALL)
def test_in_layer_not_upstream(dei, name):
    net = nn.Sequential(nn.Linear(3, 4), nn.Sigmoid(), nn.Linear(4, 2), nn.Sigmoid())
    top = dei.topology_of(net, torch.zeros((1, 3)))
    first, last = net[0], net[2]
    with pytest.raises((ValueError, TypeError)) as exc:
        call(dei, name, first, top, in_layer=last,
             **({"groups": [((0,), (0,))]} if name == "eis_between_groups" else {}))
    assert "in_layer" in str(exc.value)
    assert "Linear" in str(exc.value)


@pytest.mark.parametrize(
    "groups,bad",
    [([((0, 3), (0,))], 3), ([((0,), (2,))], 2), ([((0, 1), (0,)), ((-5,), (1,))], -5), ([((0,), (0, 1, 7))], 7)],
)
def test_group_indices_out_of_range(dei, setup, groups, bad):
    lin, top = setup  # 3 inputs, 2 outputs
    with pytest.raises((ValueError, TypeError, IndexError)) as exc:
        dei.eis_between_groups(lin, top, groups, samples=HUGE, progress=False)
    assert isinstance(exc.value, (ValueError, TypeError)), "must be ValueError/TypeError, not a bare IndexError"
    assert "groups" in str(exc.value)
    assert str(bad) in str(exc.value)


def _numbers(msg):
    return [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", msg)]


@pytest.mark.parametrize("name", ["ei", "ei_parts", "ei_parts_matrix", "vector_and_pairwise_ei", "sensitivity"])
def test_nan_layer_all_samples(dei, name):
    # inf * x0 - inf * x1 = NaN for every sample
    net, lin = make_net(2, 2, "none", weight=[[float("inf"), float("-inf")], [1.0, 1.0]], bias=[0.0, 0.0])
    top = dei.topology_of(net, torch.zeros((1, 2)))
    with pytest.raises(ValueError) as exc:
        getattr(dei, name)(lin, top, samples=1000, in_range=(0.1, 1), in_bins=8, out_bins=8, seed=0, progress=False)
    msg = str(exc.value)
    assert "NaN" in msg or "nan" in msg
    assert "Linear" in msg
    assert any(abs(v - 1.0) < 1e-9 or abs(v - 100.0) < 1e-9 for v in _numbers(msg)), msg


@pytest.mark.parametrize("name", ["ei", "ei_parts_matrix"])
def test_nan_layer_half_of_samples(dei, name):
    # relu(x) = 0 for x < 0 (half of the uniform(-1, 1) draws), and 0 * inf = NaN; x > 0 gives
    # inf.  The NaN fraction over a block of 5000 samples is 0.5 +- 0.007 (1 sd), so any block
    # of >= 200 samples reports a fraction in [0.35, 0.65] except with probability < 1e-5.
    torch.manual_seed(0)
    l1, l2 = nn.Linear(1, 1), nn.Linear(1, 1)
    with torch.no_grad():
        l1.weight.fill_(1.0)
        l1.bias.fill_(0.0)
        l2.weight.fill_(float("inf"))
        l2.bias.fill_(0.0)
    net = nn.Sequential(l1, nn.ReLU(), l2)
    top = dei.topology_of(net, torch.zeros((1, 1)))
    with pytest.raises(ValueError) as exc:
        getattr(dei, name)(l2, top, in_layer=l1, samples=5000, batch_size=5000, in_range=(-1, 1),
                           out_range=(0, 1), in_bins=8, out_bins=8, seed=1, progress=False)
    msg = str(exc.value)
    assert "NaN" in msg or "nan" in msg
    nums = _numbers(msg)
    assert any(0.35 <= v <= 0.65 or 35 <= v <= 65 for v in nums), msg


def test_sensitivity_forward_error_propagates(dei):
    # deep-ei 0.7.0 silently skips batches whose forward raises; deep_ei_fast raises
    lin = nn.Linear(2, 2)
    net = nn.Sequential(lin)
    top = dei.topology_of(net, torch.zeros((1, 2)))
    # replace the forward after the graph is built (topology_of runs the model once)
    lin.forward = lambda x: (_ for _ in ()).throw(RuntimeError("boom"))
    with pytest.raises(RuntimeError, match="boom"):
        dei.sensitivity(lin, top, samples=100, progress=False, rng="torch")
    with pytest.raises(RuntimeError, match="boom"):
        dei.sensitivity_matrix(lin, top, samples=100, progress=False, rng="torch")


@pytest.mark.parametrize("name", ["sensitivity_matrix"])  # sensitivity takes min/max of both
def test_sensitivity_dynamic_range_inverted(dei, name):
    # decreasing layer: the one-hot-at-low outputs (sigmoid(0) = 0.5) exceed the one-hot-at-high
    # outputs (sigmoid(-1) = 0.27), so deep-ei's dynamic sensitivity range is (0.5, 0.27), low > high.
    # deep-ei 0.7.0 raises ValueError("xmax should be greater than xmin") from fast_histogram;
    # returning all-zero sensitivities would silently be wrong, so a ValueError naming out_range
    # is expected (the same rule as an explicit out_range with lo >= hi).
    net, lin = make_net(3, 2, "sigmoid", weight=-torch.ones(2, 3), bias=torch.zeros(2))
    top = dei.topology_of(net, torch.zeros((1, 3)))
    with pytest.raises(ValueError) as exc:
        getattr(dei, name)(lin, top, samples=500, in_range=(0, 1), in_bins=8, out_bins=8, out_range="dynamic",
                           seed=0, progress=False)
    assert "out_range" in str(exc.value)


# -- issue 8: clear errors before heavy work instead of internal ones -------------------------

def _timed_raise(types, fn):
    t0 = time.time()
    with pytest.raises(types) as exc:
        fn()
    assert time.time() - t0 < 5.0  # raised before the (impossible) work began
    return str(exc.value)


@pytest.mark.filterwarnings("ignore:Initializing zero-element tensors")  # nn.Linear(0, 3)'s init
@pytest.mark.parametrize("shape,side", [((0, 3), "input"), ((3, 0), "output")])
@pytest.mark.parametrize("name", ALL + ["causal_plane"])
def test_zero_width_layer(dei, name, shape, side):
    lin = nn.Linear(*shape)
    net = nn.Sequential(lin, nn.Sigmoid())
    if name == "causal_plane":
        msg = _timed_raise(ValueError, lambda: dei.causal_plane(net, torch.zeros(1, shape[0]), samples=HUGE,
                                                                 progress=False))
    else:
        top = dei.topology_of(net, torch.zeros(1, shape[0]))
        msg = _timed_raise(ValueError, lambda: call(dei, name, lin, top))
    assert f"no {side} neurons" in msg and "Linear" in msg, msg


@pytest.mark.parametrize("name", ["sensitivity", "sensitivity_matrix"])
def test_sensitivity_samples_none(dei, setup, name):
    msg = _timed_raise(TypeError, lambda: call(dei, name, *setup, samples=None))
    assert "samples" in msg and "None" in msg


@pytest.mark.parametrize("index", [np.int64(1), np.int32(0), torch.tensor(1)])
def test_group_indices_integer_likes_accepted(dei, setup, index):
    lin, top = setup
    got = dei.eis_between_groups(lin, top, [((index,), (0,))], samples=2000, seed=0, progress=False)
    want = dei.eis_between_groups(lin, top, [((int(index),), (0,))], samples=2000, seed=0, progress=False)
    assert got == want


@pytest.mark.parametrize("index,word", [(1.0, "float"), (True, "bool"), (np.bool_(False), "bool"),
                                        (torch.tensor(0.0), "Tensor")])
def test_group_indices_floats_and_bools_refused(dei, setup, index, word):
    lin, top = setup
    msg = _timed_raise(TypeError, lambda: call(dei, "eis_between_groups", lin, top, groups=[((index,), (0,))]))
    assert "groups" in msg and word in msg, msg


@pytest.mark.parametrize("name", ALL)
def test_activation_changing_width(dei, setup, name):
    msg = _timed_raise(ValueError, lambda: call(dei, name, *setup, activation=lambda x: x[:, :1]))
    assert "activation" in msg and "width" in msg and "1" in msg and "2" in msg, msg


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16])
@pytest.mark.parametrize("name", ALL + ["causal_plane"])
def test_non_float32_layer_refused(dei, name, dtype):
    # Decision: refused, not converted (deep-ei runs float32 noise through the layer, which
    # fails inside torch for these; a silent .float() would measure another layer).
    net, lin = make_net(3, 2, "sigmoid")
    net = net.to(dtype)
    if name == "causal_plane":
        msg = _timed_raise(TypeError, lambda: dei.causal_plane(net, torch.zeros(1, 3, dtype=dtype),
                                                                samples=HUGE, progress=False))
    else:
        top = dei.topology_of(net, torch.zeros(1, 3, dtype=dtype))
        msg = _timed_raise(TypeError, lambda: call(dei, name, lin, top))
    assert str(dtype) in msg and ".float()" in msg, msg


@pytest.mark.parametrize("name", ALL + ["causal_plane"])
def test_nan_weight(dei, name):
    net, lin = make_net(3, 2, "sigmoid")
    with torch.no_grad():
        lin.weight[1, 2] = float("nan")
    if name == "causal_plane":
        msg = _timed_raise(ValueError, lambda: dei.causal_plane(net, torch.zeros(1, 3), samples=HUGE,
                                                                 progress=False))
    else:
        top = dei.topology_of(net, torch.zeros(1, 3))
        msg = _timed_raise(ValueError, lambda: call(dei, name, lin, top))
    assert "NaN" in msg and "weight" in msg and "differs" not in msg, msg


@pytest.mark.parametrize("value", [(-1e39, 1e39), (0.0, 1e39), (-3e38, 3e38)])
@pytest.mark.parametrize("name", ALL)
def test_in_range_beyond_float32(dei, setup, name, value):
    exc = check(dei, setup, name, "in_range", value, types=ValueError)
    assert "float32" in str(exc.value)


@pytest.mark.parametrize("arg", ["out_bins", "out_range"])
@pytest.mark.parametrize("name", ["ei", "eis_between_groups", "vector_and_pairwise_ei"])
def test_dynamic_refused_with_value_error(dei, setup, name, arg):
    # The README promises ValueError for 'dynamic' where it is not supported (TypeError before).
    check(dei, setup, name, arg, "dynamic", types=ValueError)


@pytest.mark.parametrize("value", ["no", 0, 1, None, "False"])
def test_extrapolate_must_be_bool(dei, setup, value):
    lin, top = setup
    msg = _timed_raise(TypeError, lambda: dei.ei_parts(lin, top, extrapolate=value, progress=False))
    assert "extrapolate" in msg and repr(value) in msg


@pytest.mark.parametrize("name", ALL)
def test_torch_rng_with_seed_refused(dei, setup, name):
    # Decision: refused (using it would reset torch's global generator behind the caller's back).
    exc = check(dei, setup, name, "seed", 7, types=ValueError, rng="torch")
    assert "torch.manual_seed" in str(exc.value)


@pytest.mark.parametrize("value", [-1, 2**64, 2**70])
@pytest.mark.parametrize("name", ALL)
def test_seed_outside_64_bits(dei, setup, name, value):
    exc = check(dei, setup, name, "seed", value, types=ValueError)
    assert "2**64" in str(exc.value)


def test_seed_64_bit_limits_accepted(dei, setup):
    lin, top = setup
    for seed in (0, 2**64 - 1):
        assert dei.ei(lin, top, samples=1000, seed=seed, progress=False) >= 0.0


@pytest.mark.parametrize("name", ["sensitivity", "sensitivity_matrix"])
def test_sensitivity_philox_small_memory_bound(dei, name):
    # 40 outputs of 9x9 int32 counters need 10 tiles under 100 kB: philox regenerates the one-hot
    # draws per tile (no code cache, no rng='torch' message), with the untiled result exactly.
    net, lin = make_net(3, 40, "sigmoid", seed=2)
    top = dei.topology_of(net, torch.zeros(1, 3))
    kw = dict(samples=20000, in_bins=8, out_bins=8, seed=0, progress=False)
    tiled = getattr(dei, name)(lin, top, memory_bound=100_000, **kw)
    whole = getattr(dei, name)(lin, top, **kw)
    assert np.array_equal(np.asarray(tiled), np.asarray(whole))
    msg = _timed_raise(ValueError, lambda: getattr(dei, name)(lin, top, memory_bound=100_000, rng="torch",
                                                               samples=HUGE, progress=False))
    assert "memory_bound" in msg and "rng='torch'" in msg


@pytest.mark.parametrize("value", [0, 9999, 1.5e6, "many"])
@pytest.mark.parametrize("name", [n for n in ALL if not n.startswith("sensitivity")])
def test_max_samples_invalid(dei, setup, name, value):
    check(dei, setup, name, "max_samples", value, samples=None)
