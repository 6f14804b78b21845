#!/usr/bin/env python3
"""Where the paper's per-epoch measurement spends its time: ops, launches, host syncs and
Python overhead, from torch's profiler (issue 18, item 4).

    python benchmarks/profile_epoch.py --device cuda            # on a GPU machine
    python benchmarks/profile_epoch.py --device cpu --samples 1000000

The measurement (benchmarks/compare.py case c): a bias-free 25-6-6-6-5 sigmoid network, 8
bins, in_range = out_range = (0, 1), philox seed 0; per Linear layer vector_and_pairwise_ei on
--samples (1e7) samples and sensitivity on --sens-samples (5000). One epoch is 8 API calls.

1. wall time of an epoch, after one warm-up epoch: the median of --repeats epochs, and of each
   call;
2. one epoch under torch.profiler (CPU, and CUDA activity on a GPU): the ops by self time with
   their call counts; the time inside top-level ops against the wall time (the rest is Python:
   argument checks, planning, the engine's orchestration); on CUDA the kernels launched and
   the device time, and the host-side synchronizations (cudaStreamSynchronize,
   cudaDeviceSynchronize, cudaMemcpy device-to-host);
3. the calls that read a device value on the host (aten::_local_scalar_dense: .item(),
   int(t), bool(t), float(t)), and aten::nonzero / unique (data-dependent sizes), grouped by the
   Python line that made them: on CUDA each is a synchronization; on the CPU the same calls
   show where the GPU's would be;
4. on CUDA, torch.cuda.set_sync_debug_mode("warn") over one more epoch: every synchronizing
   call torch reports, grouped by the Python line (custom ops that read back inside C++, such
   as sort_unique_rows' output size, are not seen by it: they show as cudaStreamSynchronize or
   DtoH copies in 2).

Writes benchmarks/results/profile_epoch_<machine>_<date>.md (--out) with the machine, load,
command and all of the above.
"""
import argparse
import collections
import datetime
import os
import shlex
import statistics
import sys
import time
import warnings

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
sys.path.insert(0, HERE)

from kernel_table import git_rev, machine, uptime  # noqa: E402

import deep_ei_fast as dei  # noqa: E402

SIZES = [25, 6, 6, 6, 5]
READBACK_OPS = ("aten::_local_scalar_dense", "aten::nonzero", "aten::unique_dim", "aten::_unique2",
                "aten::unique_consecutive", "aten::masked_select")
SYNC_RUNTIME = ("cudaStreamSynchronize", "cudaDeviceSynchronize", "cudaEventSynchronize",
                "cudaMemcpy", "cudaMemcpyAsync")


def build_layers(device):
    torch.manual_seed(0)
    mods = []
    for a, b in zip(SIZES[:-1], SIZES[1:]):
        mods += [torch.nn.Linear(a, b, bias=False), torch.nn.Sigmoid()]
    net = torch.nn.Sequential(*mods).to(device)
    top = dei.topology_of(net, torch.zeros((1, SIZES[0]), device=device))
    return top, [m for m in net if isinstance(m, torch.nn.Linear)]


def epoch_calls(top, layers, args):
    kw = dict(in_range=(0, 1), out_range=(0, 1), in_bins=8, out_bins=8, device=args.device,
              rng="philox", seed=0, progress=False)
    calls = []
    for k, layer in enumerate(layers):
        calls.append((f"vector_and_pairwise_ei layer {k}",
                      lambda layer=layer: dei.vector_and_pairwise_ei(layer, top, samples=args.samples, **kw)))
        calls.append((f"sensitivity layer {k}",
                      lambda layer=layer: dei.sensitivity(layer, top, samples=args.sens_samples, **kw)))
    return calls


def sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def run_epoch(calls, device):
    """(wall seconds of the epoch, {call: seconds}, results)."""
    per_call, results = {}, []
    sync(device)
    t0 = time.perf_counter()
    for name, fn in calls:
        t = time.perf_counter()
        with torch.profiler.record_function(name):  # labels the call's events when profiled
            results.append(fn())
        sync(device)
        per_call[name] = time.perf_counter() - t
    return time.perf_counter() - t0, per_call, results


def _is_op(event):
    return not (event.is_python_function or event.is_user_annotation)


def _call_of(event):
    """The epoch call (record_function label) an event belongs to, and whether the event is a
    top-level op (no op above it, only the label)."""
    parent, top = event.cpu_parent, True
    while parent is not None:
        if parent.is_user_annotation:
            return parent.name, top
        top = top and not _is_op(parent)
        parent = parent.cpu_parent
    return None, top


def python_line(event):
    """The innermost Python frame of our code (else any frame outside torch) that led to a
    profiler event (with_stack=True puts Python frames in the event tree)."""
    frames = []
    parent = event.cpu_parent
    while parent is not None:
        if parent.is_python_function and not parent.name.startswith("<built-in"):
            frames.append(parent.name)
        parent = parent.cpu_parent
    outside_torch = [f for f in frames if not f.startswith("torch/")]
    ours = [f for f in outside_torch if "deep_ei_fast/" in f]
    return (ours or outside_torch or ["(no Python frame)"])[0]


def profile_epoch(calls, device, cuda):
    """Two profiled epochs: ops only (the time split: host time inside top-level ops against
    the wall time), then with Python frames (which line made each read-back; Python tracing
    slows that epoch, so its times are not used)."""
    activities = [torch.profiler.ProfilerActivity.CPU]
    if cuda:
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    sync(device)
    with torch.profiler.profile(activities=activities) as prof:
        wall, _, _ = run_epoch(calls, device)
    events = prof.events()
    cpu = torch.autograd.DeviceType.CPU
    per_call = collections.defaultdict(lambda: dict(ops=0, in_ops=0.0, readbacks=0, wall=0.0))
    top_level = []
    for e in events:
        if e.device_type != cpu:
            continue
        if e.is_user_annotation and e.cpu_parent is None:
            per_call[e.name]["wall"] = e.cpu_time_total / 1e6
        if not _is_op(e):
            continue
        call, top = _call_of(e)
        if e.name in READBACK_OPS:
            per_call[call]["readbacks"] += 1
        if top:
            top_level.append(e)
            per_call[call]["ops"] += 1
            per_call[call]["in_ops"] += e.cpu_time_total / 1e6
    in_ops = sum(e.cpu_time_total for e in top_level) / 1e6
    runtime = collections.Counter(e.name for e in events if e.name in SYNC_RUNTIME or e.name == "cudaLaunchKernel")
    device_events = [e for e in events if e.device_type == torch.autograd.DeviceType.CUDA]
    device_time = sum(e.self_device_time_total for e in device_events) / 1e6 if cuda else None
    sort_by = "self_device_time_total" if cuda else "self_cpu_time_total"
    table = prof.key_averages().table(sort_by=sort_by, row_limit=25, max_name_column_width=50)
    ops_per_name = collections.Counter(e.name for e in top_level)
    sync(device)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], with_stack=True) as traced:
        run_epoch(calls, device)
    readbacks = collections.Counter((e.name, python_line(e)) for e in traced.events() if e.name in READBACK_OPS)
    return dict(wall=wall, in_ops=in_ops, top_level_ops=len(top_level), ops_per_name=ops_per_name,
                per_call=dict(per_call),
                readbacks=readbacks, runtime=runtime, device_time=device_time,
                kernels=len(device_events) if cuda else None, table=table)


def sync_debug_epoch(calls, device):
    """Every synchronizing call torch reports in one epoch, by Python line."""
    seen = collections.Counter()
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run_epoch(calls, device)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    for w in caught:
        if "synchroniz" in str(w.message):
            seen[(str(w.message).split("\n")[0][:90], f"{os.path.relpath(w.filename, REPO)}:{w.lineno}")] += 1
    return seen


def report(args, description, loads, walls, per_call, prof, syncs, started):
    cmd = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    out = [f"# The per-epoch measurement, profiled: {description.split(',')[0]}\n",
           f"Measured {started:%Y-%m-%d %H:%M} UTC with `{cmd}` (deep_ei_fast at `{git_rev()}`).\n",
           f"Machine: {description}. Load (`uptime`) before: {loads[0]}; after: {loads[1]}.\n",
           f"25-6-6-6-5 bias-free sigmoid network, 8 bins, philox; per layer vector_and_pairwise_ei on "
           f"{args.samples:.0e} samples and sensitivity on {args.sens_samples}; device {args.device}.\n",
           "## Wall time (no profiler)\n",
           f"Epoch: median {statistics.median(walls):.3f} s of {len(walls)} (all: "
           f"{', '.join(f'{w:.3f}' for w in walls)}), after one warm-up epoch.\n",
           "| call | seconds (median) |", "|---|---|"]
    out += [f"| {name} | {statistics.median(ts):.4f} |" for name, ts in per_call.items()]
    out += ["\n## One epoch under the profiler\n",
            f"Wall {prof['wall']:.3f} s (the profiler adds its own overhead); {prof['top_level_ops']} top-level "
            f"op calls taking {prof['in_ops']:.3f} s of host time: the other "
            f"{prof['wall'] - prof['in_ops']:.3f} s ({1 - prof['in_ops'] / prof['wall']:.0%}) are Python "
            "between the ops (argument checks, plans, the engine's orchestration, the profiler's "
            "own bookkeeping per op).\n"]
    out += ["Per call (profiled): top-level op calls, host time inside them, read-backs "
            "(_local_scalar_dense, nonzero, unique: syncs on CUDA):\n",
            "| call | wall s | top-level ops | s in ops | Python s | read-backs |", "|---|---|---|---|---|---|"]
    out += [f"| {name} | {c['wall']:.4f} | {c['ops']} | {c['in_ops']:.4f} | {c['wall'] - c['in_ops']:.4f} | "
            f"{c['readbacks']} |" for name, c in prof["per_call"].items() if name is not None]
    out.append("")
    out += ["Top-level op calls per epoch (most frequent):\n", "| op | calls |", "|---|---|"]
    out += [f"| {name} | {n} |" for name, n in prof["ops_per_name"].most_common(15)]
    out.append("")
    if prof["device_time"] is not None:
        out.append(f"Device: {prof['kernels']} kernels / memory operations, {prof['device_time']:.3f} s of "
                   f"device time ({prof['device_time'] / prof['wall']:.0%} of the wall time); "
                   f"the rest the GPU waits for the host.\n")
    out += ["Host-side synchronization and launch calls (CUDA runtime):\n", "| call | count |", "|---|---|"]
    out += [f"| {name} | {n} |" for name, n in prof["runtime"].most_common()] or ["| (none: no CUDA) | - |"]
    out += ["\nDevice values read on the host (each a synchronization on CUDA), by Python line:\n",
            "| op | Python line | count per epoch |", "|---|---|---|"]
    out += [f"| {op} | `{line}` | {n} |" for (op, line), n in prof["readbacks"].most_common()] or ["| (none) | | |"]
    if syncs is not None:
        out += ["\n## torch.cuda.set_sync_debug_mode('warn'), one epoch\n",
                "| warning | Python line | count |", "|---|---|---|"]
        out += [f"| {msg} | `{line}` | {n} |" for (msg, line), n in syncs.most_common()] or ["| (none) | | |"]
    out += ["\n## Ops by self time (one epoch)\n", "```", prof["table"], "```\n"]
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--samples", type=int, default=10_000_000)
    ap.add_argument("--sens-samples", type=int, default=5000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    cuda = torch.device(args.device).type == "cuda"
    if cuda and not torch.cuda.is_available():
        sys.exit("profile_epoch.py: no CUDA GPU here; use --device cpu or a GPU machine")
    description, name = machine(args.device)
    started = datetime.datetime.now(datetime.timezone.utc)
    loads = [uptime(), None]
    print(f"== {description}\n== load: {loads[0]}", flush=True)
    top, layers = build_layers(args.device)
    calls = epoch_calls(top, layers, args)
    run_epoch(calls, args.device)  # warm-up: allocations, the extension's first calls
    walls, per_call = [], collections.defaultdict(list)
    for _ in range(args.repeats):
        wall, times, _ = run_epoch(calls, args.device)
        walls.append(wall)
        for k, v in times.items():
            per_call[k].append(v)
        print(f"  epoch {wall:.3f} s", flush=True)
    prof = profile_epoch(calls, args.device, cuda)
    print(f"  profiled epoch {prof['wall']:.3f} s, {prof['in_ops']:.3f} s in ops", flush=True)
    syncs = sync_debug_epoch(calls, args.device) if cuda else None
    loads[1] = uptime()
    out = args.out or os.path.join(
        HERE, "results", f"profile_epoch_{name.lower().replace(' ', '_')}_{started:%Y-%m-%d}.md")
    with open(out, "w") as f:
        f.write(report(args, description, loads, walls, per_call, prof, syncs, started))
    print(f"wrote {out}; load after: {loads[1]}")


if __name__ == "__main__":
    main()
