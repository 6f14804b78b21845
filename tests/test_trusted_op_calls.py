"""No public path reaches the unchecked ops with values the engine did not make (issue 22).

``check_codes=False`` (pair histograms) and ``check_bins=False`` (pairwise_codes_) skip range
checks that cost a synchronization on CUDA; out-of-range codes then write outside the counters.
Two properties:

1. where: only the engine passes either flag as False (an AST scan of the package):
   engine/pair_counts.py's PairBinning makes its codes with the drop code of the last row /
   column (check_bins=False), and engine/histogram_choice.accumulator hands PairCounts the
   chosen kernel for them (check_codes=False);
2. what: through the public functions, over the arguments that stress the codes (1, 255, 256
   and 257 bins: uint8 and int32 codes; values out of range, infinite; dynamic ranges and bins;
   tiled counters, nulls, sensitivity, MI, the causal plane), every unchecked call gets codes
   below its counters' rows and columns, and bins in 1..max that its code dtype holds.
"""
import ast
import os

import pytest
import torch

import deep_ei_fast as dei
from deep_ei_fast.engine import histogram_choice, ops

from helpers import make_net

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "deep_ei_fast")
UNCHECKED_FLAGS = ("check_codes", "check_bins")


def unchecked_calls():
    """(file relative to the package, line, flag) of every call passing a check flag as False."""
    found = []
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            with open(path) as stream:
                tree = ast.parse(stream.read(), path)
            for node in ast.walk(tree):
                if isinstance(node, ast.Call):
                    for keyword in node.keywords:
                        if keyword.arg in UNCHECKED_FLAGS and not (
                                isinstance(keyword.value, ast.Constant) and keyword.value.value is True):
                            found.append((os.path.relpath(path, PACKAGE), node.lineno, keyword.arg))
    return found


def test_only_the_engines_counting_passes_unchecked_flags():
    calls = sorted((path, flag) for path, _, flag in unchecked_calls())
    assert calls == [(os.path.join("engine", "histogram_choice.py"), "check_codes"),
                     (os.path.join("engine", "pair_counts.py"), "check_bins"),
                     (os.path.join("engine", "pair_counts.py"), "check_bins")], calls


@pytest.fixture
def unchecked(monkeypatch):
    """Wraps the ops: every call made with a check flag False is verified here (as the check
    it skips would) and counted."""
    seen = {"codes": 0, "bins": 0}
    for name, real in list(histogram_choice.KERNELS.items()):  # every kernel the engine may choose

        def histogram(counts, x_codes, y_codes, check_codes=True, real=real, **options):
            if not check_codes:
                rows, cols = counts.shape[2:]
                for codes, limit in ((x_codes, rows), (y_codes, cols)):
                    if codes.numel():
                        wide = codes.to(torch.int64)
                        assert int(wide.min()) >= 0 and int(wide.max()) < limit, (int(wide.max()), limit)
                seen["codes"] += 1
            real(counts, x_codes, y_codes, check_codes, **options)
        monkeypatch.setitem(histogram_choice.KERNELS, name, histogram)
    real_codes = ops.pairwise_codes_

    def pairwise_codes(codes, values, low, high, bins, drop_code, check_bins=True):
        if not check_bins:
            top = 256 if codes.dtype == torch.uint8 else 2**31 - 1
            assert int(bins.min()) >= 1 and int(bins.max()) <= top and drop_code >= int(bins.max())
            seen["bins"] += 1
        real_codes(codes, values, low, high, bins, drop_code, check_bins)
    monkeypatch.setattr(ops, "pairwise_codes_", pairwise_codes)
    return seen


def _layer(n_in=5, n_out=4, act="tanh", scale=1.0):
    net, lin = make_net(n_in, n_out, act, seed=3)
    with torch.no_grad():
        lin.weight.mul_(scale)
    return net, lin, dei.topology_of(net, torch.zeros(1, n_in))


CASES = [
    ("ei_parts_matrix", dict(in_bins=1, out_bins=1)),
    ("ei_parts_matrix", dict(in_bins=255, out_bins=255)),
    ("ei_parts_matrix", dict(in_bins=256, out_bins=3)),  # 257 rows: int32 codes
    ("ei_parts_matrix", dict(in_bins=4, out_bins=257)),
    ("ei_parts_matrix", dict(out_range=(-0.2, 0.2))),  # most outputs out of range: drop codes
    ("ei_parts_matrix", dict(out_range="dynamic", out_bins="dynamic")),
    ("ei_parts_matrix", dict(memory_bound=20_000, in_bins=8, out_bins=8)),  # tiled, codes cached
    ("ei_parts_matrix", dict(memory_bound=20_000, in_bins=8, out_bins=8, rng="torch", seed=None)),
    ("ei_parts_matrix", dict(estimator="shuffle", shuffles=3, in_bins=8, out_bins=8)),
    ("pairwise_stats", dict(in_bins=300, out_bins=2)),
    ("sensitivity_matrix", dict(samples=300, in_bins=8, out_bins="dynamic", out_range="dynamic")),
    ("vector_and_pairwise_ei", dict(in_bins=8, out_bins=8)),
]


@pytest.mark.parametrize("function, kwargs", CASES, ids=[f"{f}-{i}" for i, (f, _) in enumerate(CASES)])
def test_public_calls_give_the_unchecked_ops_only_their_own_codes(unchecked, function, kwargs):
    net, lin, top = _layer(scale=40.0)  # saturating: values pile up on the range's ends
    kwargs = {"samples": 2000, "seed": 1, "progress": False, **kwargs}
    if kwargs.get("seed", 1) is None:
        kwargs.pop("seed")
        torch.manual_seed(1)
    getattr(dei, function)(lin, top, **kwargs)
    assert unchecked["codes"] > 0 and unchecked["bins"] > 0


def test_mi_and_the_causal_plane_too(unchecked):
    x = torch.tensor([0.0, 0.5, 1.0, 2.0, -1.0, float("inf"), float("-inf"), 0.999999])
    dei.MI(x, x.flip(0), bins=(1, 300))
    dei.MI(x, x, bins=255, range=((0, 0.5), (0.5, 1)))
    net, _, _ = _layer()
    dei.causal_plane(net, torch.zeros(1, 5), samples=1000, sensitivity_samples=100, in_bins=3,
                     out_bins=3, seed=2, progress=False)
    assert unchecked["codes"] > 0 and unchecked["bins"] > 0
