"""Vector EI on the CPU, side by side: deep-ei 0.7.0 (torch's default threads, and one thread),
deep_ei_fast before a change (another checkout) and after it (this one), in interleaved rounds.

    python3 benchmarks/vector_cpu.py --before /work/wt/base [--cases vp25,matrix128,ei128,ei512]
                                     [--rounds 3] [--repeats 5] [--output FILE]

Cases (sigmoid layers, nn.Linear's default initialisation after torch.manual_seed(0), in_range
= out_range = (0, 1)):
  vp25       vector_and_pairwise_ei 25->6, 8 bins, 1e6 samples (issue 18 item 5: >= 100x deep-ei)
  matrix128  ei_parts_matrix 128->128, 64 bins, 1e5 samples (issue 18: stays >= 47x deep-ei)
  ei128      ei 128->128, 64 bins, 1e5 samples (issue 16 item 6: failed before, > 960 key bits)
  ei512      ei 512->512, 64 bins, 1e4 samples (the same, 4x wider)

--profile: instead of timing, each checkout's vp25 once under cProfile on one thread, timed by
the thread's CPU time (time.thread_time, so other processes' load does not enter it), after a
warm-up call: the seconds inside each op and torch function, before and after side by side.

Each timing runs in a fresh subprocess with PYTHONPATH=<checkout> (philox, seed 0, progress
off): deep_ei_fast's is the median of --repeats calls after one warm-up call, deep-ei's one
call (it takes seconds to minutes). deep-ei runs twice a round: with torch's default threads (as
a user runs it) and with torch.set_num_threads(1): its many small parallel regions make the
default many times slower as soon as another process takes a core, so the one-thread figure
is the steadier baseline on a shared machine. A round times every implementation of a case one after the
other, so the ratios of a round compare runs under the same load; the table gives the median
over rounds, with the range, and the `uptime` load before each timing: the machine is shared
with other sessions, whose load enters every figure. A failing call is reported with its error.
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys

from compare import machine_info  # benchmarks/compare.py: the CPU model, cores and memory
from threads import _cell, uptime  # benchmarks/threads.py: the same load line and cells

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")

CASES = {
    "vp25": ("vector_and_pairwise_ei", 25, 6, 10**6, 8),
    "matrix128": ("ei_parts_matrix", 128, 128, 10**5, 64),
    "ei128": ("ei", 128, 128, 10**5, 64),
    "ei512": ("ei", 512, 512, 10**4, 64),
}

TIMER = r"""
import statistics, sys, time, torch
name, n_in, n_out, samples, bins, impl, repeats = sys.argv[1:]
import deep_ei_fast as fast
torch.manual_seed(0)
lin = torch.nn.Linear(int(n_in), int(n_out))
top = fast.topology_of(torch.nn.Sequential(lin, torch.nn.Sigmoid()), input=torch.zeros(1, int(n_in)))
kw = dict(samples=int(samples), in_bins=int(bins), out_bins=int(bins), in_range=(0, 1), out_range=(0, 1))
if impl.startswith("deep_ei"):
    import deep_ei as lib
    warm, repeats = 0, 1
    if impl == "deep_ei_1t":
        torch.set_num_threads(1)
else:
    lib, warm, repeats = fast, 1, int(repeats)
    kw.update(seed=0, progress=False)
def call():
    torch.manual_seed(0)
    value = getattr(lib, name)(lin, top, **kw)
    return float(value.sum()) if hasattr(value, "sum") else value
try:
    for _ in range(warm):
        value = call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter(); value = call(); times.append(time.perf_counter() - start)
except Exception as error:
    print("ERROR", type(error).__name__ + ": " + str(error).splitlines()[0])
else:
    print(statistics.median(times), repr(value))
"""


PROFILER = r"""
import cProfile, gc, json, pstats, sys, time, torch
name, n_in, n_out, samples, bins = sys.argv[1:]
import deep_ei_fast as fast
torch.set_num_threads(1)
torch.manual_seed(0)
lin = torch.nn.Linear(int(n_in), int(n_out))
top = fast.topology_of(torch.nn.Sequential(lin, torch.nn.Sigmoid()), input=torch.zeros(1, int(n_in)))
def call():
    return getattr(fast, name)(lin, top, samples=int(samples), in_bins=int(bins), out_bins=int(bins),
                               in_range=(0, 1), out_range=(0, 1), seed=0, progress=False)
call()
gc.collect()  # see profile_case
profile = cProfile.Profile(timer=time.thread_time)
start = time.thread_time()
profile.runcall(call)
total = time.thread_time() - start
stats = pstats.Stats(profile).stats
builtins = {}
for (file, line, function), (_, calls, tottime, _, _) in stats.items():
    if file == "~":  # a built-in: an op (torch._ops...) or a torch function
        key = function.replace("<built-in method ", "").replace("<method ", "").rstrip(">")
        builtins[key] = (calls, tottime)
print(json.dumps({"total": total, "builtins": builtins}))
"""


def commit_of(checkout):
    """The checkout's commit (with "+changes" when its tracked files differ from it)."""
    if not checkout:
        return "-"
    git = ["git", "-C", checkout]
    head = subprocess.run(git + ["rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(git + ["diff", "--quiet", "HEAD"]).returncode != 0
    return head + (" +changes" if dirty else "")


def profile_case(checkout, case):
    """(thread CPU seconds of one call, {built-in name: (calls, seconds)}) in `checkout`. The
    warm-up call's vector tables sit in reference cycles (engine/vector_counts.py: the tables'
    callbacks), so they are released by Python's cyclic collector, at a moment that varies; it
    is run before the profiled call, or the forward pass's fresh memory (page faults) would be
    charged to one checkout and not the other."""
    env = dict(os.environ, PYTHONPATH=os.path.abspath(checkout))
    out = subprocess.run([sys.executable, "-c", PROFILER, *map(str, case)], env=env, capture_output=True,
                         text=True, check=True, cwd="/tmp")
    found = json.loads(out.stdout.strip().splitlines()[-1])
    return found["total"], found["builtins"]


def profile_table(checkouts, case):
    """Markdown lines: the ops' thread CPU ms in each checkout, largest first."""
    load = uptime()
    runs = {name: profile_case(checkout, CASES[case]) for name, checkout in checkouts}
    names = [name for name, _ in checkouts]
    ops = sorted({op for _, found in runs.values() for op in found},
                 key=lambda op: -max(runs[n][1].get(op, (0, 0))[1] for n in names))
    lines = [f"Profile of {case} ({' '.join(map(str, CASES[case]))}), one thread, thread CPU ms "
             f"(load before: {load}):", "",
             "| function | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|",
             "| whole call | " + " | ".join(f"{runs[n][0] * 1e3:.1f}" for n in names) + " |"]
    for op in ops:
        cells = [runs[n][1].get(op) for n in names]
        if max(c[1] if c else 0 for c in cells) < 0.5e-3:
            continue
        lines.append(f"| {op} | " + " | ".join(f"{c[1] * 1e3:.1f} ({c[0]} calls)" if c else "-" for c in cells)
                     + " |")
    return lines


def time_case(checkout, case, impl, repeats, timeout):
    env = dict(os.environ, PYTHONPATH=os.path.abspath(checkout))
    for var in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT"):
        env.pop(var, None)  # the library's own behaviour, not the environment's
    try:
        out = subprocess.run([sys.executable, "-c", TIMER, *map(str, case), impl, str(repeats)],
                             env=env, capture_output=True, text=True, timeout=timeout, cwd="/tmp")
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout} s"
    line = (out.stdout.strip().splitlines() or [f"ERROR exit {out.returncode}: {out.stderr.strip()[-300:]}"])[-1]
    if line.startswith("ERROR"):
        return None, line[len("ERROR "):]
    seconds, value = line.split(maxsplit=1)
    return float(seconds), value


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", help="checkout of deep_ei_fast before the change (omitted: not timed)")
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=900, help="seconds per timing subprocess")
    parser.add_argument("--profile", action="store_true", help="profile vp25 instead of timing")
    parser.add_argument("--output")
    args = parser.parse_args()
    if args.profile:
        checkouts = [*([("before", args.before)] if args.before else []), ("after", REPO)]
        lines = [f"- date (UTC): {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M}",
                 *(f"- {name}: `{checkout}` ({commit_of(checkout)})" for name, checkout in checkouts),
                 f"- command: `python3 benchmarks/{os.path.basename(__file__)} {' '.join(sys.argv[1:])}`", "",
                 *profile_table(checkouts, "vp25"), ""]
        print("\n".join(lines))
        if args.output:
            with open(args.output, "w") as f:
                f.write("\n".join(lines))
        return
    references = ["deep_ei", "deep_ei_1t"]
    impls = [(name, REPO) for name in references] + [*([("before", args.before)] if args.before else []),
                                                     ("after", REPO)]
    cases = args.cases.split(",")
    timings = {(c, i): [] for c in cases for i, _ in impls}
    ratios = {(c, i, r): [] for c in cases for i, _ in impls if i not in references for r in references}
    values, errors, log = {}, {}, []
    for round_ in range(args.rounds):
        for case in cases:
            got = {}
            for impl, checkout in impls:
                load = uptime()
                seconds, value = time_case(checkout, CASES[case], impl, args.repeats, args.timeout)
                log.append(f"round {round_ + 1} {case} {impl}: "
                           f"{'%.3f s' % seconds if seconds is not None else value} | {load}")
                print(log[-1], flush=True)
                if seconds is None:
                    errors[(case, impl)] = value
                    continue
                timings[(case, impl)].append(seconds)
                values[(case, impl)] = value
                got[impl] = seconds
            for impl in got:
                for reference in references:
                    if impl not in references and reference in got:
                        ratios[(case, impl, reference)].append(got[reference] / got[impl])
    names = [i for i, _ in impls]
    model, cores, memory = machine_info()
    lines = [
        "# Vector EI on the CPU: deep-ei 0.7.0, deep_ei_fast before and after",
        "",
        f"- date (UTC): {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M}",
        "- machine: {}, {} cores, {:.0f} GiB; Python {}".format(
            model, cores, (memory or 0) / 2**30, platform.python_version()),
        f"- command: `python3 benchmarks/{os.path.basename(__file__)} {' '.join(sys.argv[1:])}`",
        f"- before: `{args.before}` ({commit_of(args.before)}); after: `{REPO}` ({commit_of(REPO)})",
        f"- {args.rounds} rounds; deep_ei_fast: median of {args.repeats} calls after a warm-up; deep-ei: one call"
        " (deep_ei: torch's default threads; deep_ei_1t: one thread)",
        "",
        "Seconds, median (range) over rounds; speed-up = deep-ei / deep_ei_fast within a round, median (range),"
        " against each deep-ei run.",
        "",
        "| case | " + " | ".join(f"{n} s" for n in names) + " | "
        + " | ".join(f"{n} vs {r}" for n in names if n not in references for r in references) + " |",
        "|---" * (1 + len(names) + len(references) * (len(names) - len(references))) + "|",
    ]
    for case in cases:
        cells = [_cell(timings[(case, n)], 3) if timings[(case, n)] else f"error: {errors.get((case, n), '-')}"
                 for n in names]
        speedups = [_cell(ratios[(case, n, r)], 0) if ratios[(case, n, r)] else "-"
                    for n in names if n not in references for r in references]
        lines.append(f"| {case}: {CASES[case][0]} {CASES[case][1]}->{CASES[case][2]}, {CASES[case][4]} bins, "
                     f"{CASES[case][3]:.0e} samples | " + " | ".join(cells + speedups) + " |")
    lines += ["", "Values (the last of each):", ""]
    lines += [f"- {case} {n}: {values.get((case, n), errors.get((case, n)))}" for case in cases for n in names]
    lines += ["", "Every timing, in the order run, with the load before it:", "", "```", *log, "```", ""]
    text = "\n".join(lines)
    print(text)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
