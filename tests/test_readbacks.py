"""The per-block path reads no device value back on the host (issue 18, item 4): on CUDA every
such read (.item(), int(t), bool(t): aten::_local_scalar_dense; nonzero) is a synchronization,
so those left are per call, not per block. Counted with torch's profiler on the CPU, where the
same calls appear: a call over more blocks must make no more of them."""
import pytest
import torch

from helpers import make_net

READBACKS = ("aten::_local_scalar_dense", "aten::nonzero")


def readbacks(fn):
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        fn()
    return sum(1 for e in prof.events() if e.name in READBACKS)


@pytest.mark.parametrize("name,samples", [("ei_parts_matrix", (70_000, 300_000)),  # 2 and 5 blocks
                                          ("sensitivity", (5000, 20_000))])  # 2 and 5 per input
def test_readbacks_do_not_grow_with_blocks(dei, name, samples):
    net, lin = make_net(5, 4, "sigmoid", seed=2)
    top = dei.topology_of(net, torch.zeros((1, 5)))
    kw = dict(in_range=(0, 1), out_range=(0, 1), in_bins=8, out_bins=8, seed=0, progress=False)
    call = getattr(dei, name)
    few, many = (readbacks(lambda s=s: call(lin, top, samples=s, **kw)) for s in samples)
    assert many == few


def test_sensitivity_still_scans_what_may_be_nan(dei, monkeypatch):
    """The NaN scan is skipped only where the stream proved the layer finite: rng='torch' (no
    such proof) scans every block."""
    from deep_ei_fast.api import sensitivity as module
    scanned = []
    real = module.check_no_nan
    monkeypatch.setattr(module, "check_no_nan", lambda y, spec: scanned.append(y.shape[1]) or real(y, spec))
    net, lin = make_net(3, 2, "sigmoid", seed=1)
    top = dei.topology_of(net, torch.zeros((1, 3)))
    kw = dict(samples=600, batch_size=200, in_range=(0, 1), out_range=(0, 1), in_bins=8, out_bins=8,
              progress=False)
    philox = dei.sensitivity(lin, top, rng="philox", seed=0, **kw)
    assert scanned == []
    dei.sensitivity(lin, top, rng="torch", **kw)
    assert sum(scanned) == 3 * 600  # every block of every input neuron
    assert philox == dei.sensitivity(lin, top, rng="philox", seed=0, **kw)
