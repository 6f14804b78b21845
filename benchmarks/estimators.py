"""Accuracy and cost of the MI estimators on the issue's 128 -> 128 sigmoid layer.

    python benchmarks/estimators.py [--samples 100000] [--reference 1e6 2e6 4e6 1.6e7]
        [--reference-values P1 P2 ...] [--output FILE]

Layer: nn.Linear(128, 128) (torch.manual_seed(0) init) with its weights scaled 4x, sigmoid,
64 bins, ranges (0, 1), rng="philox". Every estimator's EI_parts at --samples is compared with
a high-sample reference: the plug-in at the --reference sample counts, extrapolated on the
plug-in's 1/N bias law P(N) = ref + c / N through the two largest counts; the report gives
every point's residual from that law, which shows whether it holds over the range. Costs: each estimator's ei_parts time
against the plug-in's, pairwise_stats (error bars) against its estimator's ei_parts, and the
shuffle under a memory_bound smaller than its counters (tiled). Writes a markdown report.
"""
import argparse
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # this checkout's package

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

import deep_ei_fast as dei  # noqa: E402
from deep_ei_fast.estimators.registry import ESTIMATORS  # noqa: E402

SETTINGS = dict(in_range=(0, 1), out_range=(0, 1), in_bins=64, out_bins=64, progress=False)
SEED = 1


def layer_and_topology():
    torch.manual_seed(0)
    layer = nn.Linear(128, 128)
    with torch.no_grad():
        layer.weight.mul_(4)
    return layer, dei.topology_of(nn.Sequential(layer, nn.Sigmoid()), torch.zeros(1, 128))


def timed(fn):
    """(value, CPU seconds of the process): on a shared machine the wall time swings with the
    other users' load, CPU time far less (it still counts contention stalls)."""
    start = time.process_time()
    value = fn()
    return value, time.process_time() - start


def one_over_n_law(points):
    """(ref, c) of P(N) = ref + c / N through two (samples, value, ...) points."""
    (n1, p1, *_), (n2, p2, *_) = points
    slope = (p1 - p2) / (1.0 / n1 - 1.0 / n2)
    return p2 - slope / n2, slope


def second_order_fit(points):
    """(a, b, d): least squares of P(N) = a + b / N + d / N^2 over (samples, value, ...) points
    (the plug-in bias's next term; with three points, exact)."""
    inverse = np.array([1.0 / p[0] for p in points])
    design = np.stack([np.ones_like(inverse), inverse, inverse**2], axis=1)
    return np.linalg.lstsq(design, np.array([p[1] for p in points]), rcond=None)[0]


def estimate_step_times(layer, top, n, rounds):
    """{step: (best, median) CPU s} of each estimate from one set of pair counts at n samples:
    the part of ei_parts / pairwise_stats that differs between estimators (whole-call times
    swing by +-20% on a shared machine, more than the differences measured here)."""
    from deep_ei_fast.api.prepare import open_measurement
    from deep_ei_fast.engine.pair_results import estimate
    from deep_ei_fast.engine.settings import MeasurementSettings
    from deep_ei_fast.estimators.miller_madow import MillerMadow
    from deep_ei_fast.estimators.plugin import Plugin
    from deep_ei_fast.estimators.standard_errors import WithStandardErrors

    settings = MeasurementSettings(samples=n, batch_size=20, in_range=(0, 1), in_bins=64, out_range=(0, 1),
                                   out_bins=64, device="cpu", rng="philox", seed=SEED, progress=False)
    with open_measurement(layer, top, settings, description="benchmark", dynamic_out=True,
                          standard_errors=True) as m:  # the first samples' codes kept for the error bars
        pairs = m.pair_counts(m.pair_binning(n))
        with m.bar(n) as bar:
            m.feed(n, [pairs], bar)
    steps = {"plug-in MI (pairwise_mi)": lambda: estimate(pairs, Plugin()),
             "Miller-Madow MI (pair_table_summary)": lambda: estimate(pairs, MillerMadow()),
             "error bars (pair_table_summary + L, and their statistics)": lambda: estimate(
                 pairs, WithStandardErrors(Plugin()))}
    times = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            times[name].append(timed(step)[1])
    return {name: (min(t), statistics.median(t)) for name, t in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--reference", type=float, nargs="+", default=[1e6, 2e6, 4e6, 1.6e7],
                        help="sample counts of the plug-in reference points (at least two)")
    parser.add_argument("--reference-values", type=float, nargs="+", metavar="P",
                        help="reuse plug-in values measured at those counts (skips those runs)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds at --samples (best time kept)")
    parser.add_argument("--output", help="also write the markdown report here")
    args = parser.parse_args()
    layer, top = layer_and_topology()
    n = args.samples
    lines = ["# Estimators on a 128 -> 128 sigmoid layer (weights x4, 64 bins, ranges (0, 1))", "",
             f"- machine: {platform.machine()} {platform.processor()}, {os.cpu_count()} cores, "
             f"{torch.get_num_threads()} torch threads; torch {torch.__version__}",
             f"- date {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}; "
             f"uptime at start: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}",
             f"- command: python benchmarks/estimators.py --samples {n} --reference "
             + " ".join(f"{r:g}" for r in args.reference)
             + (" --reference-values " + " ".join(str(v) for v in args.reference_values)
                if args.reference_values else "")
             + f" --repeats {args.repeats} (times: best of {args.repeats} interleaved rounds)",
             f"- rng='philox', seed {SEED}; reference seed {SEED + 1}", ""]

    counts = sorted(int(r) for r in args.reference)
    if len(counts) < 2 or (args.reference_values and len(args.reference_values) != len(counts)):
        parser.error("--reference needs at least two counts, and --reference-values one value each")
    reference_points = []
    for k, samples in enumerate(counts):
        if args.reference_values:
            reference_points.append((samples, args.reference_values[k], float("nan")))
            continue
        value, seconds = timed(lambda s=samples: dei.ei_parts(layer, top, samples=s, seed=SEED + 1, **SETTINGS))
        reference_points.append((samples, value, seconds))
        print(f"reference plug-in at {samples:,}: {value:.3f} bits ({seconds:.0f} s)", flush=True)
    reference, slope = one_over_n_law(reference_points[-2:])

    # Rounds of every estimator in turn, best time of each kept: on a shared machine the load
    # changes between runs, and interleaving gives each estimator the same quiet moments.
    best = {}
    for _ in range(args.repeats):
        for estimator in ESTIMATORS:
            value, seconds = timed(lambda e=estimator: dei.ei_parts(layer, top, samples=n, seed=SEED,
                                                                    estimator=e, **SETTINGS))
            stats, stats_seconds = timed(lambda e=estimator: dei.pairwise_stats(
                layer, top, samples=n, seed=SEED, estimator=e, **SETTINGS))
            previous = best.get(estimator, (None, None, float("inf"), float("inf")))
            best[estimator] = (value, stats, min(seconds, previous[2]), min(stats_seconds, previous[3]))
            print(f"{estimator}: {value:.3f} bits ({seconds:.1f} s); stats {stats_seconds:.1f} s", flush=True)
    rows = [(e, *best[e]) for e in ESTIMATORS]
    times = {e: best[e][2] for e in ESTIMATORS}

    curve = second_order_fit(reference_points)
    lines += [f"Reference: the plug-in at {len(counts)} sample counts (seed {SEED + 1}); the 1/N law "
              f"P(N) = ref + c / N through the two largest gives **{reference:.3f} bits** "
              f"(c = {slope:.4g} bit samples). Check: the least-squares fit of a + b / N + d / N^2 "
              f"to all the points gives a = {curve[0]:.3f} bits. Residuals: P(N) minus each law:", "",
              "| samples | plug-in EI_parts | 1/N law | residual | a + b/N + d/N^2 | residual | CPU s |",
              "|---|---|---|---|---|---|---|"]
    for samples, value, seconds in reference_points:
        law, fit = reference + slope / samples, curve[0] + curve[1] / samples + curve[2] / samples**2
        lines.append(f"| {samples:,} | {value:.3f} | {law:.3f} | {value - law:+.3f} | {fit:.3f} | "
                     f"{value - fit:+.3f} | {'given' if math.isnan(seconds) else f'{seconds:.0f}'} |")
    lines += ["",
              f"| estimator | EI_parts at {n:,} | error | 95% interval | covers ref | significant pairs (BH q=0.05) "
              "| ei_parts CPU s | vs plug-in | pairwise_stats CPU s | vs its ei_parts |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for estimator, value, stats, seconds, stats_seconds in rows:
        low, high = stats.interval()
        lines.append(f"| {estimator} | {value:.2f} | {value - reference:+.2f} ({(value - reference) / reference:+.1%}) "
                     f"| [{low:.2f}, {high:.2f}] | {'yes' if low <= reference <= high else 'no'} "
                     f"| {stats.significant_pairs} of {stats.mi.size} | {seconds:.1f} | "
                     f"{seconds / times['plugin']:.2f}x "
                     f"| {stats_seconds:.1f} | {stats_seconds / seconds:.2f}x |")

    steps = estimate_step_times(layer, top, n, 2 * args.repeats + 1)
    plain = steps["plug-in MI (pairwise_mi)"]
    lines += ["", f"The estimate steps alone, on one set of counts at {n:,} samples (CPU s, best and median "
              f"of {2 * args.repeats + 1} interleaved rounds; plug-in and Miller-Madow count the same):", "",
              "| step | best | median | median vs plug-in MI |", "|---|---|---|---|"]
    lines += [f"| {name} | {best:.3f} | {median:.3f} | {median / plain[1]:.2f}x |"
              for name, (best, median) in steps.items()]

    # The shuffle with its two counter sets (2 x 277 MB) under a 400 MB bound: tiled.
    bound = 400 * 2**20
    tiled, tiled_seconds = timed(lambda: dei.ei_parts(layer, top, samples=n, seed=SEED, estimator="shuffle",
                                                      memory_bound=bound, **SETTINGS))
    pair_bytes = 65 * 65 * 4
    lines += ["", f"Shuffle under memory_bound = {bound:,} bytes (its counters need 2 x {128 * 128 * pair_bytes:,}): "
              f"EI_parts {tiled:.4f} (whole: {rows[2][1]:.4f}), {tiled_seconds:.1f} CPU s. Each of the two counter "
              f"sets is planned within half the bound's 3/4 (tests/test_estimators.py checks the plan).",
              "Peak resident memory of the process: "
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB.", ""]
    report = "\n".join(lines)
    print(report)
    if args.output:
        with open(args.output, "w") as handle:
            handle.write(report + "\n")


if __name__ == "__main__":
    main()
