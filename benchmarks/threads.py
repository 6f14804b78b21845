"""Thread behaviour of the CPU engine: ei_parts (5->5 sigmoid, 1e7 samples, 64 bins) and
vector_and_pairwise_ei (25->6 sigmoid, 1e6 samples, 8 bins), idle and with one competing
CPU-bound process (a spinning subprocess started and stopped here), with 1 thread and with the
default, for one or more checkouts side by side ("before": e.g. /work/main's build).

    python3 benchmarks/threads.py [--checkout . --checkout /work/main] [--repeats 3] [--rounds 1]

Each timing runs in a fresh subprocess with PYTHONPATH=<checkout> (philox, seed 0, progress
off; the median of --repeats calls after one warm-up call). With --rounds R the 1-thread and
default processes alternate R times, and each cell is the median of the R timings with their
range: on a shared virtual machine one process's figure swings by 20-40%. Writes
benchmarks/results/threads_cpu_<cores>core_<date>.md with the machine, the command and the
`uptime` load before and after: on a shared machine other sessions' load enters every figure.
"""
import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")

CASES = {
    "ei_parts 5->5 sigmoid, 1e7 samples, 64 bins":
        ("ei_parts", 5, 5, 10**7, 64),
    "vector_and_pairwise_ei 25->6 sigmoid, 1e6 samples, 8 bins":
        ("vector_and_pairwise_ei", 25, 6, 10**6, 8),
}

TIMER = r"""
import statistics, sys, time, torch
import deep_ei_fast as dei
name, n_in, n_out, samples, bins, threads, repeats = sys.argv[1:]
if threads != "default":
    torch.set_num_threads(int(threads))
torch.manual_seed(0)
lin = torch.nn.Linear(int(n_in), int(n_out))
top = dei.topology_of(torch.nn.Sequential(lin, torch.nn.Sigmoid()), input=torch.zeros(1, int(n_in)))
def call():
    return getattr(dei, name)(lin, top, samples=int(samples), in_bins=int(bins), out_bins=int(bins),
                              seed=0, progress=False)
value = call()
times = []
for _ in range(int(repeats)):
    start = time.perf_counter(); call(); times.append(time.perf_counter() - start)
print(statistics.median(times), repr(value))
"""


def uptime():
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def time_case(checkout, case, threads, repeats):
    env = dict(os.environ, PYTHONPATH=os.path.abspath(checkout))
    for var in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT"):
        env.pop(var, None)  # the library's own behaviour, not the environment's
    out = subprocess.run([sys.executable, "-c", TIMER, *map(str, case), threads, str(repeats)],
                         env=env, capture_output=True, text=True, check=True).stdout.split(maxsplit=1)
    return float(out[0]), out[1].strip()


def _cell(timings, digits=2):
    """'median' of one timing, 'median (low-high)' of several, with `digits` decimals."""
    middle = statistics.median(timings)
    if len(timings) == 1:
        return f"{middle:.{digits}f}"
    return f"{middle:.{digits}f} ({min(timings):.{digits}f}-{max(timings):.{digits}f})"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkout", action="append", help="repository roots to compare (default: .)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--output")
    args = parser.parse_args()
    checkouts = args.checkout or ["."]
    cores = len(os.sched_getaffinity(0))
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    output = args.output or os.path.join(RESULTS, f"threads_cpu_{cores}core_{date}.md")
    lines = [
        f"# Threads: idle vs one competing CPU-bound process ({date})", "",
        f"- machine: {platform.node()}, {platform.processor() or platform.machine()}, "
        f"{cores} cores in the affinity mask",
        f"- command: `python3 {' '.join(sys.argv)}`",
        f"- uptime before: `{uptime()}`",
        "- NOTE: the machine is shared with other sessions; their load (uptime above/below) is in",
        "  every figure, so 'idle' means 'no spinner of ours', not an idle machine.",
        f"- seconds, median of {args.repeats} calls after a warm-up, each configuration in a fresh process"
        + (f"; median (range) of {args.rounds} alternating rounds" if args.rounds > 1 else ""),
        "", "| case | checkout | load | 1 thread | default threads | value |", "|---|---|---|---|---|---|",
    ]
    for load in ("idle", "1 spinner"):
        spinner = None
        if load != "idle":
            spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            for label, case in CASES.items():
                for checkout in checkouts:
                    timings = {"1": [], "default": []}
                    values = set()
                    for _ in range(args.rounds):
                        for threads in timings:
                            seconds, value = time_case(checkout, case, threads, args.repeats)
                            timings[threads].append(seconds)
                            values.add(value)
                    value = " / ".join(sorted(values))  # one value unless threads changed it
                    one, default = (_cell(timings[t]) for t in ("1", "default"))
                    lines.append(f"| {label} | {checkout} | {load} | {one} | {default} | {value} |")
                    print(lines[-1], flush=True)
        finally:
            if spinner is not None:
                spinner.kill()
                spinner.wait()
    lines += ["", f"- uptime after: `{uptime()}`", ""]
    os.makedirs(os.path.dirname(output), exist_ok=True)
    with open(output, "w") as f:
        f.write("\n".join(lines))
    print("wrote", output)


if __name__ == "__main__":
    main()
