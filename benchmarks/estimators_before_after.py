"""Two checkouts side by side on benchmarks/estimators.py's calls: the same values, and the CPU
time of each call in the two, interleaved round by round.

    python benchmarks/estimators_before_after.py --before DIR --after DIR [--rounds 5]
        [--samples 100000] [--output FILE]

Each timing is one fresh process (one checkout's package first on its path) that builds the
128 -> 128 sigmoid layer of benchmarks/estimators.py, warms up with a 20000-sample call, then
times one call by its CPU time (time.process_time; wall time swings more with other users'
load). The calls: ei_parts and pairwise_stats under each estimator both checkouts have, and the
shuffle under a memory_bound smaller than its counters (tiled). Rounds alternate the checkouts'
order (before first, then after first), and every call's values must be the same in both.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

CALLS = {
    "ei_parts plugin": "dei.ei_parts(layer, top, samples=N, seed=1, **S)",
    "ei_parts miller_madow": "dei.ei_parts(layer, top, samples=N, seed=1, estimator='miller_madow', **S)",
    "ei_parts shuffle": "dei.ei_parts(layer, top, samples=N, seed=1, estimator='shuffle', **S)",
    "pairwise_stats plugin": "stats(dei.pairwise_stats(layer, top, samples=N, seed=1, estimator='plugin', **S))",
    "pairwise_stats miller_madow": "stats(dei.pairwise_stats(layer, top, samples=N, seed=1, "
                                   "estimator='miller_madow', **S))",
    "pairwise_stats shuffle": "stats(dei.pairwise_stats(layer, top, samples=N, seed=1, estimator='shuffle', **S))",
    "ei_parts shuffle tiled (400 MiB)": "dei.ei_parts(layer, top, samples=N, seed=1, estimator='shuffle', "
                                        "memory_bound=400 * 2**20, **S)",
}

CHILD = """
import json, sys, time
sys.path.insert(0, {checkout!r})
import torch, torch.nn as nn
import deep_ei_fast as dei
assert dei.__file__.startswith({checkout!r}), dei.__file__
torch.manual_seed(0)
layer = nn.Linear(128, 128)
with torch.no_grad():
    layer.weight.mul_(4)
top = dei.topology_of(nn.Sequential(layer, nn.Sigmoid()), torch.zeros(1, 128))
S = dict(in_range=(0, 1), out_range=(0, 1), in_bins=64, out_bins=64, progress=False)
def stats(s):
    return [s.ei_parts, s.ei_parts_standard_error, s.significant_pairs, s.mi.tolist()[0][:8]]
N = 20000
{call}
N = {samples}
start = time.process_time()
value = {call}
print(json.dumps({{"cpu": time.process_time() - start, "value": value}}))
"""


def timed(checkout, call, samples):
    code = CHILD.format(checkout=os.path.abspath(checkout), call=call, samples=samples)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=checkout)
    if result.returncode:
        raise RuntimeError(f"{checkout}: {call} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def uptime():
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def git_head(checkout):
    return subprocess.run(["git", "-C", checkout, "log", "-1", "--format=%h %s"], capture_output=True,
                          text=True).stdout.strip()[:90]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True)
    parser.add_argument("--after", required=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--output")
    args = parser.parse_args()
    checkouts = {"before": args.before, "after": args.after}
    loads = [uptime()]
    times = {(name, side): [] for name in CALLS for side in checkouts}
    values = {}
    for round_number in range(args.rounds):
        order = list(checkouts) if round_number % 2 == 0 else list(checkouts)[::-1]
        for name, call in CALLS.items():
            for side in order:
                result = timed(checkouts[side], call, args.samples)
                times[name, side].append(result["cpu"])
                values.setdefault(name, {})[side] = result["value"]
                print(f"round {round_number + 1} {name} {side}: {result['cpu']:.2f} s", flush=True)
        loads.append(uptime())
    lines = ["# benchmarks/estimators.py's calls, before and after, side by side", "",
             f"- machine: {platform.machine()}, {os.cpu_count()} cores; {args.rounds} rounds, each call one "
             f"process per checkout, the order alternating; {args.samples:,} samples, rng='philox', seed 1",
             f"- before: `{args.before}` ({git_head(args.before)})",
             f"- after: `{args.after}` ({git_head(args.after)})",
             f"- date {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load (uptime) at the start and after each "
             "round:", *[f"  - {load}" for load in loads],
             f"- command: python benchmarks/estimators_before_after.py --before {args.before} --after {args.after} "
             f"--rounds {args.rounds} --samples {args.samples}", "",
             "| call | same values | before CPU s (median, best) | after CPU s (median, best) "
             "| after / before (median) |",
             "|---|---|---|---|---|"]
    for name in CALLS:
        before, after = times[name, "before"], times[name, "after"]
        same = values[name]["before"] == values[name]["after"]
        lines.append(f"| {name} | {'yes' if same else 'NO'} | {statistics.median(before):.2f}, {min(before):.2f} | "
                     f"{statistics.median(after):.2f}, {min(after):.2f} | "
                     f"{statistics.median(after) / statistics.median(before):.3f} |")
    report = "\n".join(lines)
    print(report)
    if args.output:
        with open(args.output, "w") as stream:
            stream.write(report + "\n")
    sys.exit(0 if all(values[name]["before"] == values[name]["after"] for name in CALLS) else 1)


if __name__ == "__main__":
    main()
