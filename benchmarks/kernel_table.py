#!/usr/bin/env python3
"""The pair-histogram kernel table: every kernel of engine/histogram_choice.KERNELS over bins x
layer sizes, on uniform and on saturated codes, checked bit for bit against the atomic kernel
before it is timed; one call writes the markdown table (and its rates as JSON, from which the
rule of histogram_choice.py is to be derived) into benchmarks/results/.

    python benchmarks/kernel_table.py                 # the GPU (device cuda), the whole grid
    python benchmarks/kernel_table.py --device cpu --quick   # the CPU, a small grid

Kernels (histogram_choice.KERNELS, called by name): atomic (pair_histogram_accumulate_, kernel
a), one-hot (pair_histogram_onehot_accumulate_, kernel b: WMMA tensor cores on CUDA, the atomic
kernel's loop on the CPU) and int8 GEMM (pair_histogram_int8mm_accumulate_: torch._int_mm,
engine/onehot_matmul.py, with --workspace bytes of scratch).

Grid: bins 4, 8, 16, 32, 64, 128 (both sides; tables of (bins + 1)^2 counters with the drop
row and column) x layers 25x6, 64x64, 256x256, 1024x1024, 4096x4096 (--quick: the first three)
x codes uniform (every cell equally likely, drop codes included) and saturated (sigmoids of
large pre-activations: most samples in a few cells, the atomic kernel's collisions). A layer
whose counters exceed --cap bytes is measured on a tile of its pairs (whole output rows, as
engine/pair_counts.plan_tiles cuts them; the table names the tile): the rate per pair-sample
is the layer's, tiled. Samples per call: --pair-samples / pairs, clamped to [--min-samples,
--max-samples] (the same for every kernel of a cell).

Per cell: each kernel's first call goes into zeroed counters and is compared with the atomic
kernel's (torch.equal: any difference fails the run, exit status 1); it is also the warm-up.
Then --repeats rounds call each kernel once in turn (interleaved, so a change of load hits all
of them), more rounds (up to MAX_ROUNDS) while the timed calls have taken less than --min-time
seconds (on the CPU: short calls repeated until the best is not a preempted one); each call is
timed by CUDA events on CUDA, by perf_counter on the CPU, and the rate is from the median
(CUDA) or the best (CPU: a shared machine's load only adds time) of them. A kernel whose first
call took more than --slow seconds is timed by that call alone. Rates are pair-samples per
second. The rule's pick (histogram_choice.choose) and the estimated time ratios
(onehot_cost_ratio, int8mm_cost_ratio, datasheet-based GPU estimates) stand beside the
measured winner.
"""
import argparse
import datetime
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)

sys.path.insert(0, HERE)

from gpu_compare import _git_rev as git_rev, versions  # noqa: E402

from deep_ei_fast.engine import histogram_choice as hc  # noqa: E402

BINS = (4, 8, 16, 32, 64, 128)
LAYERS = ((25, 6), (64, 64), (256, 256), (1024, 1024), (4096, 4096))
QUICK_LAYERS = LAYERS[:3]
KINDS = ("uniform", "saturated")
MAX_ROUNDS = 200
SHORT = {hc.ATOMIC: "atomic", hc.ONEHOT: "one-hot", hc.INT8MM: "int8 GEMM"}
DEFAULTS = {  # per device: counters cap, pair-samples per call, samples per call (min, max)
    "cuda": dict(cap=8 * 2**30, pair_samples=1e10, min_samples=4096, max_samples=2**20,
                 workspace=2**30, repeats=5, slow=0.5, min_time=0.0),
    "cpu": dict(cap=256 * 2**20, pair_samples=1e8, min_samples=8192, max_samples=65536,
                workspace=256 * 2**20, repeats=5, slow=1.5, min_time=1.0),
}


# ------------------------------------------------------------------------------ the cells
def tile_of(n_in, n_out, R, cap):
    """(rows, cols) of the layer's pairs measured: whole output rows while they fit in `cap`
    bytes of int32 counters, as plan_tiles cuts them."""
    pair_bytes = R * R * 4
    cols = min(n_out, max(1, cap // pair_bytes))
    rows = min(n_in, max(1, cap // (cols * pair_bytes)))
    return rows, cols


def make_codes(n, S, R, kind, device, gen):
    """uint8 / int32 codes [n, S] in [0, R): uniform, or saturated sigmoids (most in the first
    or the last in-range cell, R - 2; R - 1 is the drop code)."""
    if kind == "uniform":
        c = torch.randint(0, R, (n, S), device=device, generator=gen)
    else:
        z = torch.randn((n, S), device=device, generator=gen) * 8 + \
            torch.randn((n, 1), device=device, generator=gen) * 4
        c = torch.clamp((torch.sigmoid(z) * (R - 1)).long(), max=R - 2)
    return c.to(torch.uint8 if R <= 256 else torch.int32)


class Timer:
    def __init__(self, device):
        self.cuda = torch.device(device).type == "cuda"

    def sync(self):
        if self.cuda:
            torch.cuda.synchronize()

    def wall(self, fn):
        self.sync()
        t0 = time.perf_counter()
        fn()
        self.sync()
        return time.perf_counter() - t0

    def once(self, fn):
        """Seconds of one fn() call: CUDA events on CUDA, perf_counter on the CPU."""
        if not self.cuda:
            return self.wall(fn)
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        return start.elapsed_time(stop) / 1e3

    def summary(self, times):
        """The median on CUDA; the best on the CPU, where other processes' load (a shared
        machine) only ever adds time."""
        return statistics.median(times) if self.cuda else min(times)


def kernel_call(name, workspace):
    op = hc.KERNELS[name]
    if name == hc.INT8MM:
        return lambda counts, x, y: op(counts, x, y, check_codes=False, workspace_bytes=workspace)
    return lambda counts, x, y: op(counts, x, y, check_codes=False)


def measure_cell(n_in, n_out, bins, kind, cfg, device, gen, timer, log):
    R = bins + 1
    rows, cols = tile_of(n_in, n_out, R, cfg.cap)
    pairs = rows * cols
    S = int(min(cfg.max_samples, max(cfg.min_samples, cfg.pair_samples // pairs)))
    x, y = make_codes(rows, S, R, kind, device, gen), make_codes(cols, S, R, kind, device, gen)
    reference = torch.zeros((rows, cols, R, R), dtype=torch.int32, device=device)
    counts = torch.zeros_like(reference)
    row = dict(layer=f"{n_in}x{n_out}", tile=f"{rows}x{cols}", bins=bins, kind=kind, samples=S,
               rate={}, identical={}, timing={})
    calls = {name: kernel_call(name, cfg.workspace) for name in hc.KERNELS}
    seconds, timed = {}, []
    for name, call in calls.items():  # the check, which is also the warm-up
        target = reference if name == hc.ATOMIC else counts
        target.zero_()
        seconds[name] = [timer.wall(lambda call=call, target=target: call(target, x, y))]
        row["identical"][name] = bool(torch.equal(target, reference))
        if seconds[name][0] > cfg.slow:
            row["timing"][name] = "1 call"
        else:
            seconds[name] = []
            timed.append(name)
    rounds, spent = 0, 0.0
    # the kernels in turn, round after round: --repeats rounds, more (up to MAX_ROUNDS) while
    # the timed calls have taken less than --min-time seconds (short calls on a loaded machine)
    while timed and (rounds < cfg.repeats or (spent < cfg.min_time and rounds < MAX_ROUNDS)):
        for name in timed:
            seconds[name].append(timer.once(lambda call=calls[name]: call(counts, x, y)))
            spent += seconds[name][-1]
        rounds += 1
    for name in timed:
        row["timing"][name] = f"{rounds} calls"
    for name, times in seconds.items():
        row["rate"][name] = pairs * S / timer.summary(times)
    rates = row["rate"]
    # on the CPU the one-hot op is the atomic kernel's loop: a second timing of it, not a rival
    rivals = [k for k in rates if timer.cuda or k != hc.ONEHOT]
    row["winner"] = max(rivals, key=rates.get)
    row["rule"] = hc.choose(R, R, n_in, n_out)
    row["estimated"] = {hc.ONEHOT: hc.onehot_cost_ratio(R, R, n_in, n_out),
                        hc.INT8MM: hc.int8mm_cost_ratio(R, R, n_in, n_out)}
    same = "identical" if all(row["identical"].values()) else "DIFFERENT: " + ", ".join(
        SHORT[k] for k, v in row["identical"].items() if not v)
    log(f"  {row['layer']:>9} (tile {row['tile']:>9}) bins={bins:<3} {kind:9s} S={S:<7} " +
        "  ".join(f"{SHORT[k]}={v:.3g}" for k, v in rates.items()) + f"  winner={SHORT[row['winner']]}  {same}")
    return row


# ------------------------------------------------------------------------------ the report
def machine(device):
    """(a sentence describing the machine, a short name for file names)."""
    if torch.device(device).type == "cuda":
        v = versions()
        return (f"{v['gpu']} (compute capability {v['cc']}, {v['sms']} SMs, {v['memory'] / 2**30:.0f} GiB), "
                f"driver {v['driver']}, torch {v['torch']}, CUDA {v['cuda']}"), v["gpu"]
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            model = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), model)
    except OSError:
        pass
    return (f"{model}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, "
            f"torch {torch.__version__}, Python {platform.python_version()}"), f"cpu_{os.cpu_count()}core"


def uptime():
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def markdown(rows, args, cfg, description, loads, started):
    cmd = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    gpu = torch.device(args.device).type == "cuda"
    out = [f"# Pair-histogram kernel table: {description.split(',')[0]}\n",
           f"Measured {started:%Y-%m-%d %H:%M} UTC with `{cmd}` (deep_ei_fast at `{git_rev()}`).\n",
           f"Machine: {description}.\n",
           f"Load (`uptime`) before: {loads[0]}; after: {loads[1]}.\n",
           f"Counters capped at {cfg.cap} bytes (larger layers: a tile of whole output rows), "
           f"{cfg.pair_samples:.0e} pair-samples per call (samples clamped to [{cfg.min_samples}, "
           f"{cfg.max_samples}]), int8 GEMM workspace {cfg.workspace} bytes; rates in pair-samples/s; "
           f"every kernel's counts compared with the atomic kernel's (torch.equal) before timing.\n"]
    if not gpu:
        out.append("On the CPU the one-hot op runs the atomic kernel's loop: its column is a second "
                   "timing of that loop (the spread between the two shows the timing noise), and the "
                   "winner is the faster of atomic and int8 GEMM. histogram_choice's rule and its "
                   "estimates are for CUDA and are not shown.\n")
    head = "| layer | pairs measured | bins | codes | samples/call | atomic | one-hot | int8 GEMM | winner | "
    head += ("rule picks | int8/atomic time | est. | one-hot/atomic time | est. | identical |" if gpu else
             "int8/atomic time | identical |")
    out += [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        rate = r["rate"]
        ratio = {k: rate[hc.ATOMIC] / rate[k] for k in rate}
        cells = [r["layer"], r["tile"], str(r["bins"]), r["kind"], str(r["samples"])]
        cells += [f"{rate[k]:.3g}" for k in hc.KERNELS]
        cells.append(SHORT[r["winner"]])
        if gpu:
            cells += [SHORT[r["rule"]], f"{ratio[hc.INT8MM]:.2f}", f"{r['estimated'][hc.INT8MM]:.2f}",
                      f"{ratio[hc.ONEHOT]:.2f}", f"{r['estimated'][hc.ONEHOT]:.2f}"]
        else:
            cells.append(f"{ratio[hc.INT8MM]:.2f}")
        cells.append("yes" if all(r["identical"].values()) else "**NO**")
        out.append("| " + " | ".join(cells) + " |")
    slow = [f"{r['layer']} {r['bins']} bins {r['kind']} {SHORT[k]}" for r in rows
            for k, t in r["timing"].items() if t == "1 call"]
    out.append(f"\nTimed from one call (longer than {cfg.slow} s): {', '.join(slow) or 'none'}.\n")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    ap.add_argument("--quick", action="store_true", help="layers up to 256x256 only")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch CPU threads (default: torch's); 1 on a loaded shared machine, where a "
                         "parallel region waits for its descheduled threads")
    ap.add_argument("--out", default=None, help="markdown file (default: benchmarks/results/"
                                                "kernel_table_<machine>_<date>.md; rates beside it as .json)")
    for key in DEFAULTS["cpu"]:
        floats = ("pair_samples", "slow", "min_time")
        ap.add_argument("--" + key.replace("_", "-"), type=float if key in floats else int,
                        default=None, help=f"default: {DEFAULTS['cuda'][key]} (cuda), {DEFAULTS['cpu'][key]} (cpu)")
    args = ap.parse_args()
    kind = torch.device(args.device).type
    if args.threads:
        torch.set_num_threads(args.threads)
    if kind == "cuda" and not torch.cuda.is_available():
        sys.exit("kernel_table.py: no CUDA GPU here (torch.cuda.is_available() is False); "
                 "use --device cpu, or run it on a GPU machine (benchmarks/run_on_gpu.sh)")
    if kind == "cuda":
        from deep_ei_fast import build_info
        if not build_info().cuda:
            sys.exit("kernel_table.py: deep_ei_fast was built without its CUDA kernels")
    cfg = argparse.Namespace(**{k: getattr(args, k) if getattr(args, k) is not None else v
                                for k, v in DEFAULTS.get(kind, DEFAULTS["cpu"]).items()})
    description, name = machine(args.device)
    started = datetime.datetime.now(datetime.timezone.utc)
    loads = [uptime(), None]
    log = lambda s: print(s, flush=True)  # noqa: E731
    log(f"== {description}\n== load: {loads[0]}")
    timer = Timer(args.device)
    gen = torch.Generator(device=args.device).manual_seed(0)
    rows = []
    for n_in, n_out in QUICK_LAYERS if args.quick else LAYERS:
        for bins in BINS:
            for code_kind in KINDS:
                rows.append(measure_cell(n_in, n_out, bins, code_kind, cfg, args.device, gen, timer, log))
                if timer.cuda:  # the cell's counters are freed: give their memory back
                    torch.cuda.empty_cache()
    loads[1] = uptime()
    stem = args.out or os.path.join(
        HERE, "results", f"kernel_table_{name.lower().replace(' ', '_')}_{started:%Y-%m-%d}.md")
    os.makedirs(os.path.dirname(os.path.abspath(stem)), exist_ok=True)
    with open(stem, "w") as f:
        f.write(markdown(rows, args, cfg, description, loads, started))
    with open(os.path.splitext(stem)[0] + ".json", "w") as f:
        json.dump(dict(machine=description, command=sys.argv, config=vars(cfg), cells=rows), f, indent=1)
    log(f"wrote {stem} (and .json); load after: {loads[1]}")
    bad = [r for r in rows if not all(r["identical"].values())]
    if bad:
        log(f"{len(bad)} cells where a kernel's counts differ from the atomic kernel's")
        sys.exit(1)


if __name__ == "__main__":
    main()
