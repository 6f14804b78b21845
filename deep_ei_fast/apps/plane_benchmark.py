"""Benchmark: causal_plane against calling ei, ei_parts and sensitivity layer by layer.

causal_plane draws the noise and runs the forward pass once for EI and EI_parts; the
layer-by-layer loop does both twice. With rng="philox" both ways see the same noise (same seed)
and must give the same numbers: the benchmark checks that. With rng="torch" (deep-ei's draws,
whose forward pass runs in deep-ei's batches of batch_size=20) each call draws fresh noise, so
only the times compare. Reported: the median of the wall times, and every run.
"""
import platform
import statistics
import time

import torch

from ..api.ei_functions import ei, ei_parts
from ..api.sensitivity import sensitivity
from ..api.topology import topology_of
from ..plane.measure import causal_plane
from .networks import paper_network

NETWORK = (25, 6, 6, 6, 5)  # the paper's digits network, bias-free, sigmoid
SEED = 0
RELATIVE_TOLERANCE = 1e-12  # same noise, same kernels: only summation order may differ
# The values' comparison: philox (True / False) or rng="torch" (None: nothing to compare).
VERDICT = {True: "same values", False: "VALUES DIFFER", None: "not compared: fresh noise per call"}


def _settings(rng):
    seed = SEED if rng == "philox" else None
    return dict(in_range=(0, 1), out_range=(0, 1), in_bins=8, out_bins=8, seed=seed, rng=rng,
                progress=False)


def layer_by_layer(net, samples, sensitivity_samples, rng):
    """What a user writes without causal_plane: three calls per layer, rows of 4 values."""
    common = _settings(rng)
    topology = topology_of(net, torch.zeros((1, NETWORK[0])))
    rows = []
    for layer in [m for m in net if isinstance(m, torch.nn.Linear)]:
        e = ei(layer, topology, samples=samples, **common)
        parts = ei_parts(layer, topology, samples=samples, **common)
        sens = sensitivity(layer, topology, samples=sensitivity_samples, **common)
        rows.append((e, parts, sens, sens - e))
    return rows


def with_causal_plane(net, samples, sensitivity_samples, rng):
    common = _settings(rng)
    plane = causal_plane(net, torch.zeros((1, NETWORK[0])), samples=samples,
                         sensitivity_samples=sensitivity_samples, **common)
    return [(r.ei, r.ei_parts, r.sensitivity, r.degeneracy) for r in plane]


def _time(function, repeats, *args):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, result


def _same(a, b):
    """EI_parts below 0.01 is reported as 0 by ei_parts (deep-ei's rule), not by causal_plane."""
    for row_a, row_b in zip(a, b):
        for x, y in zip(row_a, row_b):
            if abs(x - y) > RELATIVE_TOLERANCE * max(abs(x), abs(y)) and not (min(x, y) == 0 and max(x, y) < 0.01):
                return False
    return len(a) == len(b)


def _compare(net, samples, sensitivity_samples, repeats, rng, log):
    loop = _time(layer_by_layer, repeats, net, samples, sensitivity_samples, rng)
    plane = _time(with_causal_plane, repeats, net, samples, sensitivity_samples, rng)
    same = _same(loop[2], plane[2]) if rng == "philox" else None
    log(f"  rng={rng}, {samples:,} samples: layer by layer {_median_of(loop[1])}, causal_plane "
        f"{_median_of(plane[1])} ({loop[0] / plane[0]:.2f}x faster); {VERDICT[same]}")
    return loop, plane, same


def _median_of(times):
    return f"{times[0]:.3f} s" if len(times) == 1 else f"median {statistics.median(times):.3f} s of {len(times)} runs"


def _table_rows(rng, samples, loop, plane, same):
    runs = lambda times: ", ".join(f"{t:.3f}" for t in times)  # noqa: E731
    check = VERDICT[same]
    return [
        f"| {rng} | {samples:,} | ei + ei_parts + sensitivity per layer | {loop[0]:.3f} | {runs(loop[1])} "
        f"| 1.00x | {check} |",
        f"| {rng} | {samples:,} | causal_plane | {plane[0]:.3f} | {runs(plane[1])} | {loop[0] / plane[0]:.2f}x | |",
    ]


def run(samples=1_000_000, sensitivity_samples=5000, repeats=3, torch_samples=None, log=print):
    """Times both ways on the untrained paper network, with rng="philox" at ``samples`` and, if
    ``torch_samples``, with rng="torch" (batch_size 20) at that many; returns (markdown, same)."""
    net = paper_network(NETWORK, SEED)
    log(f"causal_plane vs layer by layer: {'-'.join(map(str, NETWORK))} sigmoid, 8 bins, "
        f"sensitivity {sensitivity_samples:,}, {repeats} {'timing' if repeats == 1 else 'timings'} of each way")
    philox = _compare(net, samples, sensitivity_samples, repeats, "philox", log)
    rows = _table_rows("philox", samples, *philox)
    if torch_samples:
        rows += _table_rows("torch", torch_samples,
                            *_compare(net, torch_samples, sensitivity_samples, repeats, "torch", log))
    same = philox[2]
    lines = [
        "# causal_plane vs layer-by-layer calls",
        "",
        f"- machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
        f"{platform.platform()}",
        f"- torch {torch.__version__}; date {time.strftime('%Y-%m-%d %H:%M:%S')}",
        f"- network: {'-'.join(map(str, NETWORK))} bias-free sigmoid (untrained, seed {SEED}); 8 bins; "
        f"ranges (0, 1); philox seed {SEED}; rng=torch with deep-ei's default batch_size=20",
        f"- EI and EI_parts from the samples below per layer, sensitivity from {sensitivity_samples:,} "
        "per input neuron",
        "",
        "| rng | samples | way | median (s) | all runs (s) | speed-up | values |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"rng=philox: same EI, EI_parts, sensitivity and degeneracy in both (relative "
        f"{RELATIVE_TOLERANCE}): {same}.",
        "",
    ]
    return "\n".join(lines), same
