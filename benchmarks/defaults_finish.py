"""Every call finishes: the default-settings cases of issue 8, timed with peak memory.

    python3 benchmarks/defaults_finish.py [--output benchmarks/results/defaults_finish.md]

Runs each case in its own process under /usr/bin/time -v (wall time, peak RSS) with every
default (64 bins, samples=None, so max_samples decides when the rule does not converge):
- plane: causal_plane(Iris 4-5-5-3 sigmoid bias-free network, torch.zeros(1, 4));
- ei: ei(samples=None) of a 4->5 layer, weights [4 * I; ones], bias -2, sigmoid.
Target (issue 8): each within 5 minutes, peak RSS under 3 GiB, on a 2-core machine.
"""
import argparse
import datetime
import os
import platform
import re
import subprocess
import sys
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_case(name):
    import torch
    from torch import nn

    sys.path.insert(0, ROOT)
    import deep_ei_fast as deep_ei
    from deep_ei_fast.apps.networks import paper_network

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", deep_ei.ConvergenceWarning)
        if name == "plane":
            plane = deep_ei.causal_plane(paper_network((4, 5, 5, 3), 0), torch.zeros(1, 4))
            result = "; ".join(f"{r.module}: EI {r.ei:.4f}, samples {r.samples:,}, converged "
                               f"{r.converged}" for r in plane)
        else:
            layer = nn.Linear(4, 5)
            with torch.no_grad():
                layer.weight.copy_(torch.cat([4 * torch.eye(4), torch.ones(1, 4)]))
                layer.bias.fill_(-2.0)
            topology = deep_ei.topology_of(nn.Sequential(layer, nn.Sigmoid()), torch.zeros(1, 4))
            result = f"EI {deep_ei.ei(layer, topology):.4f}"
    warned = sum(issubclass(w.category, deep_ei.ConvergenceWarning) for w in caught)
    print(f"RESULT {result}; {warned} ConvergenceWarning(s)")


def measure(name):
    completed = subprocess.run(["/usr/bin/time", "-v", sys.executable, __file__, "--case", name],
                               capture_output=True, text=True, cwd=ROOT, check=False)
    wall = re.search(r"Elapsed \(wall clock\) time.*: (\S+)", completed.stderr).group(1)
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", completed.stderr).group(1))
    result = next((line[7:] for line in completed.stdout.splitlines() if line.startswith("RESULT ")),
                  f"failed (exit {completed.returncode}): {completed.stderr[-300:]}")
    return wall, rss_kb / 2**20, result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=("plane", "ei"), help="run one case in this process")
    parser.add_argument("--output", help="also write the markdown report here")
    args = parser.parse_args()
    if args.case:
        run_case(args.case)
        return
    machine = (f"Machine: {platform.node()}, {os.cpu_count()} cores, {platform.processor() or platform.machine()}"
               f"; load average before: {os.getloadavg()[0]:.1f} (a shared machine)")
    lines = [f"# Default settings finish ({datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC)",
             "", machine,
             f"Command: python3 benchmarks/defaults_finish.py{' --output ' + args.output if args.output else ''}",
             "", "| case | wall (h:mm:ss) | peak RSS (GiB) | result |", "|---|---|---|---|"]
    for name in ("plane", "ei"):
        wall, rss, result = measure(name)
        lines.append(f"| {name} | {wall} | {rss:.2f} | {result} |")
        print(lines[-1], flush=True)
    report = "\n".join(lines) + "\n"
    print(report)
    if args.output:
        with open(args.output, "w") as handle:
            handle.write(report)


if __name__ == "__main__":
    main()
