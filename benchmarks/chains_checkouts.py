"""Chains of modules, before and after a change, side by side: the same calls timed in
alternating fresh processes for each checkout, and their values compared (chains must give the
same bits).

    python3 benchmarks/chains_checkouts.py --checkout /work/main --checkout . [--rounds 3] [--repeats 3]

Cases (philox, seed 0, progress off; the paper's digits network 25-6-6-6-5, sigmoid after each
layer, bias-free, seed 3, weights times 12): ``ei_parts`` of its first layer (1e6 samples, 8 bins: the fused
kernel), ``vector_and_pairwise_ei`` of it (1e6, 8 bins), ``ei_parts`` from the first to the
third layer (``in_layer``: torch's forward pass, 2e5 samples, 8 bins), ``causal_plane`` of the
whole network (1e5 samples, 1000 sensitivity samples, 8 bins, ranges (0, 1)) and 100 calls of
``topology_of``. Each process times --repeats calls after one warm-up call (median); with
--rounds R the checkouts alternate R times and each cell is the median of the R process
medians, with their range. Prints a markdown table (with the machine, command, date and
``uptime`` before and after); --output writes it.
"""
import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys

CASES = ["ei_parts 25->6", "vector_and_pairwise_ei 25->6", "ei_parts in_layer 25->6->6->6",
         "causal_plane 25-6-6-6-5", "topology_of x100"]

TIMER = r"""
import statistics, sys, time, torch
import deep_ei_fast as dei
from deep_ei_fast.apps.networks import paper_network
case, repeats = sys.argv[1], int(sys.argv[2])
net = paper_network((25, 6, 6, 6, 5), seed=3)
with torch.no_grad():  # weights large enough that every measure is non-zero
    for module in net:
        if isinstance(module, torch.nn.Linear):
            module.weight.mul_(12.0)
x = torch.zeros(1, 25)
top = dei.topology_of(net, x)
linears = [m for m in net if isinstance(m, torch.nn.Linear)]
kw = dict(in_range=(0, 1), out_range=(0, 1), in_bins=8, out_bins=8, seed=0, progress=False)
calls = {
    "ei_parts 25->6": lambda: dei.ei_parts(linears[0], top, samples=10**6, **kw),
    "vector_and_pairwise_ei 25->6": lambda: dei.vector_and_pairwise_ei(linears[0], top, samples=10**6, **kw),
    "ei_parts in_layer 25->6->6->6": lambda: dei.ei_parts(linears[2], top, in_layer=linears[0], samples=200000,
                                                          **kw),
    "causal_plane 25-6-6-6-5": lambda: [(r.ei, r.ei_parts, r.sensitivity) for r in
                                        dei.causal_plane(net, x, samples=10**5, sensitivity_samples=1000, **kw)],
    "topology_of x100": lambda: [len(dei.topology_of(net, x)) for _ in range(100)][0],
}
call = calls[case]
value = call()
times = []
for _ in range(repeats):
    start = time.perf_counter(); call(); times.append(time.perf_counter() - start)
print(statistics.median(times), repr(value))
"""


def uptime():
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def time_case(checkout, case, repeats):
    env = dict(os.environ, PYTHONPATH=os.path.abspath(checkout))
    out = subprocess.run([sys.executable, "-c", TIMER, case, str(repeats)], env=env, capture_output=True,
                         text=True, check=True, cwd="/")
    seconds, value = out.stdout.strip().split(" ", 1)
    return float(seconds), value


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkout", action="append", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output")
    args = parser.parse_args()
    load_before = uptime()
    timings = {(c, k): [] for c in args.checkout for k in CASES}
    values = {}
    for _ in range(args.rounds):
        for case in CASES:
            for checkout in args.checkout:
                seconds, value = time_case(checkout, case, args.repeats)
                timings[(checkout, case)].append(seconds)
                values.setdefault(case, {})[checkout] = value
    lines = [f"# Chains before and after, {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC", "",
             f"- machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}",
             f"- command: `python3 {' '.join(sys.argv)}`", f"- load before: `{load_before}`", ""]
    header = " | ".join(f"{c} (s)" for c in args.checkout)
    lines += [f"| case | {header} | same values |", "|---|" + "---|" * len(args.checkout) + "---|"]
    for case in CASES:
        cells = []
        for checkout in args.checkout:
            t = timings[(checkout, case)]
            cells.append(f"{statistics.median(t):.3f} ({min(t):.3f}-{max(t):.3f})")
        same = len(set(values[case].values())) == 1
        lines.append(f"| {case} | {' | '.join(cells)} | {'yes' if same else 'NO'} |")
    lines += ["", f"- load after: `{uptime()}`", ""]
    lines += [f"- {case}: {values[case][args.checkout[0]][:100]}" for case in CASES]
    report = "\n".join(lines) + "\n"
    print(report)
    if args.output:
        with open(args.output, "w") as handle:
            handle.write(report)


if __name__ == "__main__":
    main()
