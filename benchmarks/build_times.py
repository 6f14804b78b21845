"""Build time of the C++ extension: each translation unit's CPU time, the whole build (wall and
CPU) and a no-change rebuild, for one or more source trees side by side.

    python3 benchmarks/build_times.py [--tree before=055faaf --tree after=WORKTREE] [--rounds 1]

A tree is LABEL=REF: a git ref (exported with `git archive`) or WORKTREE (this checkout's files
as they are, tracked and untracked-but-not-ignored). For each round, each tree in turn gets a
fresh copy and runs `python setup.py build_ext` twice into one build directory, with MAX_JOBS=1
(one compile at a time, so that the files' figures do not compete with each other):

- the first run is the full build; the compiler is called through a timer that records each
  file's CPU time (user + sys of the compiler and the processes it runs);
- the second run, nothing having changed, is the no-change rebuild (ninja's check and the link).

ccache and sccache are switched off (TORCH_NO_COMPILER_WRAPPER=1): the figures are of compiling,
not of a cache. Writes a Markdown file (default benchmarks/results/build_times_cpu_<cores>core_
<date>.md) with the machine, compiler, torch, the command and the `uptime` load around every
build: on a shared machine other sessions' load enters the wall times (CPU times much less).
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results")

# Runs the real compiler and appends {"file", "cpu_s", "wall_s"} to $DEI_TIMER_LOG. wait4's
# rusage covers the compiler driver and the cc1plus / as processes it waited for.
TIMER = r"""#!{python}
import json, os, subprocess, sys, time
args = sys.argv[1:]
start = time.perf_counter()
proc = subprocess.Popen([{compiler!r}] + args)
_, status, usage = os.wait4(proc.pid, 0)
wall = time.perf_counter() - start
sources = [a for a in args if a.endswith((".cpp", ".cc", ".c", ".cu"))]
if sources:
    name = sources[0]
elif "-o" in args:
    name = "link " + os.path.basename(args[args.index("-o") + 1])
else:
    name = None
if name is not None:
    with open(os.environ["DEI_TIMER_LOG"], "a") as log:
        log.write(json.dumps({{"file": name, "cpu_s": usage.ru_utime + usage.ru_stime,
                               "wall_s": wall}}) + "\n")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def uptime():
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def export_tree(ref, dest):
    """A copy of the sources of `ref` (a git ref, or WORKTREE) in `dest`."""
    os.makedirs(dest)
    if ref == "WORKTREE":
        files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                               capture_output=True, check=True).stdout.decode().split("\0")
        for name in filter(None, files):
            source = os.path.join(ROOT, name)
            if os.path.isfile(source):
                os.makedirs(os.path.dirname(os.path.join(dest, name)), exist_ok=True)
                shutil.copy2(source, os.path.join(dest, name))
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip() + "+worktree"
    archive = subprocess.run(["git", "archive", ref], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", dest], input=archive, check=True)
    return subprocess.run(["git", "rev-parse", "--short", ref], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout.strip()


def timed(command, cwd, env):
    """(wall s, CPU s of the process and everything it waited for, output) of one command."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as output:
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        output.seek(0)
        text = output.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(command)} failed in {cwd}:\n{text[-4000:]}")
    return wall, usage.ru_utime + usage.ru_stime, text


def build_twice(tree, work):
    """The full build and the no-change rebuild of one tree: wall, CPU, load, per-file CPU."""
    log = os.path.join(work, "timer.jsonl")
    timer = os.path.join(work, "c++-timer")
    with open(timer, "w") as f:
        f.write(TIMER.format(python=sys.executable, compiler=shutil.which("c++")))
    os.chmod(timer, 0o755)
    env = dict(os.environ, CXX=timer, DEI_TIMER_LOG=log, MAX_JOBS="1", TORCH_NO_COMPILER_WRAPPER="1")
    command = [sys.executable, "setup.py", "build_ext", "--build-temp", os.path.join(work, "temp"),
               "--build-lib", os.path.join(work, "lib")]
    runs = []
    for kind in ("full build", "no-change rebuild"):
        if os.path.exists(log):
            os.remove(log)
        load_before = uptime()
        wall, cpu, _ = timed(command, tree, env)
        files = []
        if os.path.exists(log):
            with open(log) as f:
                files = [json.loads(line) for line in f]
        runs.append({"kind": kind, "wall_s": wall, "cpu_s": cpu, "load_before": load_before,
                     "load_after": uptime(), "files": files})
    return runs


def short(name, tree):
    return os.path.relpath(name, tree) if os.path.isabs(name) else name


def report(args, trees, results):
    lines = [f"# Build times of the C++ extension ({datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC)",
             "",
             f"- machine: {platform.node()}, {os.cpu_count()} cores ({platform.processor() or platform.machine()}); "
             f"python {platform.python_version()}; torch {torch_version()}; {compiler_version()}",
             f"- command: `python3 benchmarks/build_times.py {' '.join(args)}`",
             "- each build: `python setup.py build_ext` into an empty build directory, MAX_JOBS=1, "
             "ccache off; then the same command again (no-change rebuild)",
             "- trees: " + ", ".join(f"{label} = {commit}" for label, commit in trees),
             ""]
    labels = [label for label, _ in trees]
    lines += ["## Whole builds (median over rounds; each run's load in the log below)", "",
              "| tree | full build wall | full build CPU | no-change rebuild wall | no-change rebuild CPU |",
              "|---|---|---|---|---|"]
    for label in labels:
        full = [r[0] for r in results[label]]
        again = [r[1] for r in results[label]]
        med = lambda runs, key: statistics.median(run[key] for run in runs)  # noqa: E731
        lines.append(f"| {label} | {med(full, 'wall_s'):.1f} s | {med(full, 'cpu_s'):.1f} s | "
                     f"{med(again, 'wall_s'):.1f} s | {med(again, 'cpu_s'):.1f} s |")
    lines += ["", "## CPU seconds per file of the full build (median over rounds)", "",
              "| file | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
    per_file = {label: {} for label in labels}
    for label in labels:
        for full, _ in results[label]:
            for entry in full["files"]:
                per_file[label].setdefault(entry["file"], []).append(entry["cpu_s"])
    names = sorted({name for label in labels for name in per_file[label]},
                   key=lambda n: -max(statistics.median(per_file[lb].get(n, [0])) for lb in labels))
    for name in names:
        cells = [f"{statistics.median(per_file[lb][name]):.1f}" if name in per_file[lb] else "-" for lb in labels]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    sums = [f"{sum(statistics.median(v) for v in per_file[lb].values()):.1f}" for lb in labels]
    lines.append("| **sum** | " + " | ".join(sums) + " |")
    lines += ["", "## Every run", ""]
    for label in labels:
        for round_index, runs in enumerate(results[label]):
            for run in runs:
                lines.append(f"- {label}, round {round_index + 1}, {run['kind']}: wall {run['wall_s']:.1f} s, "
                             f"CPU {run['cpu_s']:.1f} s, {len(run['files'])} compiler calls; "
                             f"load before `{run['load_before']}`, after `{run['load_after']}`")
    return "\n".join(lines) + "\n"


def torch_version():
    import torch

    return torch.__version__


def compiler_version():
    return subprocess.run(["c++", "--version"], capture_output=True, text=True).stdout.splitlines()[0]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", action="append", metavar="LABEL=REF",
                        help="a source tree: a git ref or WORKTREE (default: before=HEAD after=WORKTREE)")
    parser.add_argument("--rounds", type=int, default=1, help="builds of each tree, alternating trees")
    parser.add_argument("--out", help="the Markdown file to write")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}")
    specs = args.tree or ["before=HEAD", "after=WORKTREE"]
    for spec in specs:
        if "=" not in spec:
            parser.error(f"--tree must be LABEL=REF, got {spec!r}")
    work = tempfile.mkdtemp(prefix="build_times_")
    try:
        trees, results = [], {}
        for spec in specs:
            label, ref = spec.split("=", 1)
            trees.append((label, export_tree(ref, os.path.join(work, label, "src"))))
            results[label] = []
        for round_index in range(args.rounds):
            for label, _ in trees:
                build = os.path.join(work, label, f"build{round_index}")
                os.makedirs(build)
                print(f"round {round_index + 1}: building {label} ...", flush=True)
                runs = build_twice(os.path.join(work, label, "src"), build)
                for run in runs:
                    run["files"] = [dict(e, file=short(e["file"], os.path.join(work, label, "src")))
                                    for e in run["files"]]
                    print(f"  {run['kind']}: wall {run['wall_s']:.1f} s, CPU {run['cpu_s']:.1f} s", flush=True)
                results[label].append(runs)
        text = report(sys.argv[1:], trees, results)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out = args.out or os.path.join(
        RESULTS, f"build_times_cpu_{os.cpu_count()}core_{datetime.date.today():%Y-%m-%d}.md")
    with open(out, "w") as f:
        f.write(text)
    print(text)
    print(f"written to {out}")


if __name__ == "__main__":
    main()
