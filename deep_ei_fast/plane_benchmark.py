"""Benchmark: causal_plane against calling ei, ei_parts and sensitivity layer by layer.

Both measure the same network with the same philox seed, so they see the same noise and must
give the same numbers; the benchmark checks that and reports the medians of the wall times.
causal_plane draws the noise (and runs the forward pass) once for EI and EI_parts; the
layer-by-layer loop draws it twice.
"""
import platform
import statistics
import time

import torch

from . import ei, ei_parts, sensitivity, topology_of
from .causal_plane import causal_plane
from .demo import build_network

NETWORK = (25, 6, 6, 6, 5)  # the paper's digits network, bias-free, sigmoid
SEED = 0
RELATIVE_TOLERANCE = 1e-12  # same noise, same kernels: only summation order may differ


def _settings(samples, sensitivity_samples):
    return dict(in_range=(0, 1), out_range=(0, 1), in_bins=8, out_bins=8, seed=SEED,
                progress=False), samples, sensitivity_samples


def layer_by_layer(net, samples, sensitivity_samples):
    """What a user writes without causal_plane: three calls per layer, rows of 4 values."""
    common, samples, sensitivity_samples = _settings(samples, sensitivity_samples)
    topology = topology_of(net, torch.zeros((1, NETWORK[0])))
    rows = []
    for layer in [m for m in net if isinstance(m, torch.nn.Linear)]:
        e = ei(layer, topology, samples=samples, **common)
        parts = ei_parts(layer, topology, samples=samples, **common)
        sens = sensitivity(layer, topology, samples=sensitivity_samples, **common)
        rows.append((e, parts, sens, sens - e))
    return rows


def with_causal_plane(net, samples, sensitivity_samples):
    common, samples, sensitivity_samples = _settings(samples, sensitivity_samples)
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


def run(samples=1_000_000, sensitivity_samples=5000, repeats=3, log=print):
    """Times both ways on the untrained paper network; returns the markdown report."""
    net = build_network(NETWORK, SEED)
    log(f"causal_plane vs layer by layer: {'-'.join(map(str, NETWORK))} sigmoid, 8 bins, "
        f"{samples:,} samples, sensitivity {sensitivity_samples:,}, {repeats} repeats")
    loop_median, loop_times, loop_rows = _time(layer_by_layer, repeats, net, samples, sensitivity_samples)
    log(f"  layer by layer (ei + ei_parts + sensitivity): median {loop_median:.3f} s")
    plane_median, plane_times, plane_rows = _time(with_causal_plane, repeats, net, samples, sensitivity_samples)
    log(f"  causal_plane: median {plane_median:.3f} s ({loop_median / plane_median:.2f}x)")
    same = _same(loop_rows, plane_rows)
    log(f"  same values: {same}")
    lines = [
        "# causal_plane vs layer-by-layer calls",
        "",
        f"- machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
        f"{platform.platform()}",
        f"- torch {torch.__version__}; date {time.strftime('%Y-%m-%d %H:%M:%S')}",
        f"- network: {'-'.join(map(str, NETWORK))} bias-free sigmoid (untrained, seed {SEED}); 8 bins; "
        f"ranges (0, 1); rng=philox seed {SEED}",
        f"- EI and EI_parts from {samples:,} samples per layer, sensitivity from {sensitivity_samples:,} "
        "per input neuron",
        "",
        "| way | median (s) | all runs (s) | speed-up |",
        "|---|---|---|---|",
        f"| ei + ei_parts + sensitivity per layer | {loop_median:.3f} | "
        f"{', '.join(f'{t:.3f}' for t in loop_times)} | 1.00x |",
        f"| causal_plane | {plane_median:.3f} | {', '.join(f'{t:.3f}' for t in plane_times)} | "
        f"{loop_median / plane_median:.2f}x |",
        "",
        f"Same EI, EI_parts, sensitivity and degeneracy in both (relative {RELATIVE_TOLERANCE}): {same}.",
        "",
    ]
    return "\n".join(lines), same
