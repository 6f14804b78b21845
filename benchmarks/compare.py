#!/usr/bin/env python3
"""Side-by-side benchmark: deep-ei 0.7.0 vs plain torch vs deep_ei_fast (CPU kernels).

    python benchmarks/compare.py             # full run: every deep-ei figure measured for real,
                                             # except case c (see --full-deep-ei)
    python benchmarks/compare.py --quick     # deep-ei on fewer samples, scaled linearly
                                             # (labelled "extrapolated" in the table)
    python benchmarks/compare.py --cases a,d # a subset

Every (case, implementation) runs in its own subprocess, so the peak RSS reported for it
(VmHWM read in the child) is its own. Writes benchmarks/results/cpu_<host>.md (see --out).

Cases:
  a. ei_parts_matrix, 256->256 Linear+Sigmoid, 1e5 samples, 64 bins
  b. vector_and_pairwise_ei, 25->6 Linear+Sigmoid, 8 bins, 1e6 samples
  c. the paper's per-epoch measurement: bias-free 25-6-6-6-5 sigmoid network, 8 bins; for each
     linear layer vector_and_pairwise_ei at 1e7 samples + sensitivity at 5000 samples
  d. ei_parts_matrix, 1024->1024 Linear+Sigmoid, 64 bins, 2e4 samples (memory case)
"""
import argparse
import datetime
import json
import os
import platform
import shlex
import socket
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.dirname(os.path.abspath(__file__))

# --------------------------------------------------------------------------------------------
# case definitions
# --------------------------------------------------------------------------------------------
CASES = {
    "a": dict(kind="matrix", n_in=256, n_out=256, samples=100_000, bins=64,
              title="ei_parts_matrix, 256->256 Linear+Sigmoid, 1e5 samples, 64 bins"),
    "b": dict(kind="vp", n_in=25, n_out=6, samples=1_000_000, bins=8,
              title="vector_and_pairwise_ei, 25->6 Linear+Sigmoid, 1e6 samples, 8 bins"),
    "c": dict(kind="paper", sizes=[25, 6, 6, 6, 5], samples=10_000_000, sens_samples=5000, bins=8,
              title="paper per-epoch measurement, 25-6-6-6-5 sigmoid net (no bias), 8 bins: "
                    "per layer vector_and_pairwise_ei @1e7 + sensitivity @5000"),
    "d": dict(kind="matrix", n_in=1024, n_out=1024, samples=20_000, bins=64,
              title="ei_parts_matrix, 1024->1024 Linear+Sigmoid, 2e4 samples, 64 bins"),
}
MACHINE_MEM_LIMIT = None  # filled in main from /proc/meminfo
PLAIN_TORCH_SKIP_BYTES = 8 * 2**30


# --------------------------------------------------------------------------------------------
# helpers used in the worker
# --------------------------------------------------------------------------------------------
def _peak_rss_bytes():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _topology_of(model, inp):
    """deep_ei_fast.topology_of if it imports, otherwise a networkx-3-safe copy of deep-ei's."""
    try:
        import deep_ei_fast
        return deep_ei_fast.topology_of(model, inp)
    except Exception:
        pass
    import deep_ei
    import networkx as nx
    G = nx.DiGraph()
    topo, hooks = {}, []
    prv = None
    prv_module = None

    def register(module):
        def hook(module, input, output):
            nonlocal prv, prv_module
            if type(module) in deep_ei.VALID_MODULES:
                topo[module] = {
                    "input": {"activation": prv if type(prv) in deep_ei.VALID_ACTIVATIONS else None,
                              "shape": tuple(input[0].shape)},
                    "output": {"activation": None, "shape": tuple(output.shape)},
                }
                G.add_node(module)
                if prv_module is not None:
                    G.add_edge(prv_module, module)
                prv = prv_module = module
            if type(module) in deep_ei.VALID_ACTIVATIONS:
                if prv in topo:
                    topo[prv]["output"]["activation"] = module
                prv = module
        if type(module) in deep_ei.VALID_MODULES or type(module) in deep_ei.VALID_ACTIVATIONS:
            hooks.append(module.register_forward_hook(hook))

    model.apply(register)
    model(inp)
    for h in hooks:
        h.remove()
    nx.set_node_attributes(G, topo)
    return G


def _plain_torch_module(which="bench"):
    """The plain-torch estimators: benchmarks/plain_torch.py (vectorized, memory-bounded; the
    default) or, with which="tests", the project's test oracle tests/torch_reference.py (written
    for clarity: all counters at once, one Python-level MI per pair)."""
    if which == "tests":
        sys.path.insert(0, REPO)
        from tests import torch_reference as m  # noqa
        return m, "tests/torch_reference.py"
    sys.path.insert(0, HERE)
    import plain_torch as m  # noqa
    return m, "benchmarks/plain_torch.py"


def _build_net(sizes, bias, seed=0):
    import torch
    from torch import nn
    torch.manual_seed(seed)
    mods = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        mods += [nn.Linear(a, b, bias=bias), nn.Sigmoid()]
    net = nn.Sequential(*mods)
    top = _topology_of(net, torch.zeros((1, sizes[0])))
    layers = [m for m in net if isinstance(m, nn.Linear)]
    return net, top, layers


def _timed(fn, repeats, warmup, long_s=20.0):
    """warm-up call(s), then `repeats` timed calls; a warm-up longer than `long_s` seconds is
    itself the only measurement (one run; compile/load costs are negligible at that scale)."""
    for _ in range(warmup):
        t0 = time.perf_counter()
        res = fn()
        t = time.perf_counter() - t0
        if t > long_s:
            return [t], res
    times, res = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = fn()
        times.append(time.perf_counter() - t0)
    return times, res


# --------------------------------------------------------------------------------------------
# the worker: one (case, impl) measurement, printed as a JSON line
# --------------------------------------------------------------------------------------------
def worker(job):
    import torch
    case = CASES[job["case"]]
    impl = job["impl"]
    samples = int(job.get("samples") or case["samples"])
    repeats, warmup = job.get("repeats", 1), job.get("warmup", 0)
    bins = case["bins"]
    rng01 = (0.0, 1.0)
    out = {"impl": impl, "samples": samples}
    if job.get("threads"):
        torch.set_num_threads(job["threads"])

    if impl == "deep_ei":
        import deep_ei as lib
        kw = {}
    elif impl == "fast":
        import deep_ei_fast as lib
        kw = dict(rng="philox", seed=0, progress=False)
    else:
        lib = None
        ref, out["plain_torch_source"] = _plain_torch_module(job.get("plain", "bench"))

    if case["kind"] in ("matrix", "vp"):
        net, top, (layer,) = _build_net([case["n_in"], case["n_out"]], bias=True)
        if impl == "plain":
            def run():
                x = torch.rand((samples, case["n_in"]))
                with torch.no_grad():
                    y = torch.sigmoid(layer(x))
                m = ref.ei_parts_matrix_from_samples(x, y, rng01, bins, rng01, bins)
                if case["kind"] == "matrix":
                    return float(torch.as_tensor(m).sum())
                v = ref.vector_ei_from_samples(x, y, rng01, bins, rng01, bins)
                return (float(v), float(torch.as_tensor(m).sum()))
        elif case["kind"] == "matrix":
            def run():
                torch.manual_seed(0)
                return float(lib.ei_parts_matrix(layer, top, samples=samples, in_bins=bins,
                                                 out_bins=bins, in_range=rng01, out_range=rng01,
                                                 **kw).sum())
        else:
            def run():
                torch.manual_seed(0)
                v, p = lib.vector_and_pairwise_ei(layer, top, samples=samples, in_bins=bins,
                                                  out_bins=bins, in_range=rng01, out_range=rng01,
                                                  **kw)
                return (float(v), float(p))
        times, res = _timed(run, repeats, warmup)
        out.update(times=times, result=res, pairs=case["n_in"] * case["n_out"])

    elif case["kind"] == "paper":
        net, top, layers = _build_net(case["sizes"], bias=False)
        sens_samples = int(job.get("sens_samples") or case["sens_samples"])
        which = job.get("layers") or list(range(len(layers)))
        per_layer = []
        for li in which:
            layer = layers[li]
            n_in, n_out = layer.in_features, layer.out_features
            rkw = dict(in_range=rng01, out_range=rng01, in_bins=bins, out_bins=bins)
            if impl == "plain":
                def run_vp(layer=layer, n_in=n_in):
                    x = torch.rand((samples, n_in))
                    with torch.no_grad():
                        y = torch.sigmoid(layer(x))
                    v = ref.vector_ei_from_samples(x, y, rng01, bins, rng01, bins)
                    m = ref.ei_parts_matrix_from_samples(x, y, rng01, bins, rng01, bins)
                    return (float(v), float(torch.as_tensor(m).sum()))

                def run_sens(layer=layer, n_in=n_in):
                    tot = 0.0
                    for a in range(n_in):
                        x = torch.zeros((sens_samples, n_in))
                        x[:, a] = torch.rand(sens_samples)
                        with torch.no_grad():
                            y = torch.sigmoid(layer(x))
                        tot += float(torch.as_tensor(ref.ei_parts_matrix_from_samples(
                            x[:, a:a + 1], y, rng01, bins, rng01, bins)).sum())
                    return tot
            else:
                def run_vp(layer=layer, rkw=rkw):
                    torch.manual_seed(0)
                    v, p = lib.vector_and_pairwise_ei(layer, top, samples=samples, **rkw, **kw)
                    return (float(v), float(p))

                def run_sens(layer=layer, rkw=rkw):
                    torch.manual_seed(0)
                    return float(lib.sensitivity(layer, top, samples=sens_samples, **rkw, **kw))
            t_vp, r_vp = _timed(run_vp, repeats, warmup)
            t_s, r_s = _timed(run_sens, repeats, warmup)
            per_layer.append(dict(layer=li, shape=[n_in, n_out], t_vp=t_vp, t_sens=t_s,
                                  vector_ei=r_vp[0], pairwise_ei=r_vp[1], sensitivity=r_s))
        out.update(per_layer=per_layer)
    out["peak_rss"] = _peak_rss_bytes()
    print("RESULT " + json.dumps(out), flush=True)


# --------------------------------------------------------------------------------------------
# the driver
# --------------------------------------------------------------------------------------------
def run_job(job, timeout=900):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", json.dumps(job)]
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    wall = time.perf_counter() - t0
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            r = json.loads(line[len("RESULT "):])
            r["subprocess_wall"] = wall
            return r
    tail = (p.stderr or p.stdout).strip().splitlines()[-3:]
    return {"error": f"exit {p.returncode}: " + " | ".join(tail)}


def fmt_t(s):
    if s is None:
        return "-"
    if s < 1:
        return f"{s * 1000:.0f} ms"
    if s < 100:
        return f"{s:.2f} s"
    return f"{s:.0f} s"


def fmt_b(b):
    return "-" if b is None else f"{b / 2**30:.2f} GiB" if b >= 2**30 else f"{b / 2**20:.0f} MiB"


def fmt_rate(r):
    return "-" if r is None else f"{r:.2e}"


def machine_info():
    model, cores = "unknown", os.cpu_count()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem = int(line.split()[1]) * 1024
    except OSError:
        pass
    return model, cores, mem


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true",
                    help="run deep-ei on 1/10 of the samples (1/100 in case c) and scale linearly "
                         "(labelled extrapolated); plain torch skipped in case d")
    ap.add_argument("--full-deep-ei", action="store_true",
                    help="case c: run deep-ei on the real 1e7 samples per layer (~20 min)")
    ap.add_argument("--cases", default="a,b,c,d")
    ap.add_argument("--plain", choices=["bench", "tests"], default="bench",
                    help="plain-torch column: benchmarks/plain_torch.py (vectorized, default) or "
                         "tests/torch_reference.py (the test oracle, slower)")
    ap.add_argument("--impls", default="deep_ei,plain,fast")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch.set_num_threads in every worker (default: torch's default)")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs of deep_ei_fast (median)")
    ap.add_argument("--out", default=None, help="markdown file to write")
    ap.add_argument("--timeout", type=float, default=900,
                    help="seconds after which one implementation's subprocess is stopped and "
                         "reported as timed out (default 900)")
    ap.add_argument("--shrink", type=float, default=1.0,
                    help="divide every case's sample count by this (smoke tests only; recorded "
                         "in the output)")
    args = ap.parse_args()
    if args.worker:
        worker(json.loads(args.worker))
        return

    import numpy
    import torch
    model, cores, mem = machine_info()
    host = socket.gethostname() or "2core"
    if cores == 2:
        host = "2core"
    out_path = args.out or os.path.join(HERE, "results", f"cpu_{host}.md")
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    if args.shrink != 1.0:
        for c in CASES.values():
            c["samples"] = max(1000, int(c["samples"] / args.shrink))
            if "sens_samples" in c:
                c["sens_samples"] = max(100, int(c["sens_samples"] / args.shrink))
    impls = [i.strip() for i in args.impls.split(",") if i.strip()]
    try:
        import deep_ei_fast
        fast_version = getattr(deep_ei_fast, "__version__", "?")
    except Exception as e:  # still report the other columns
        fast_version = f"import failed: {e!r}"
    try:
        import importlib.metadata as md
        dei_version = md.version("deep-ei")
    except Exception:
        dei_version = "?"

    cmdline = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    lines = []
    P = lines.append
    P(f"# deep_ei_fast CPU benchmark ({host})")
    P("")
    P(f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}")
    P(f"- machine: {model}, {cores} cores, {fmt_b(mem)} RAM, {platform.platform()}")
    P(f"- python {platform.python_version()}, torch {torch.__version__} "
      f"(torch threads {torch.get_num_threads()}), numpy {numpy.__version__}, "
      f"deep-ei {dei_version}, deep_ei_fast {fast_version}")
    P(f"- command: `{cmdline}`")
    load0 = os.getloadavg()
    if args.shrink != 1.0:
        P(f"- **--shrink {args.shrink}: every sample count divided by {args.shrink} (smoke test, "
          f"not a benchmark)**")
    P(f"- mode: {'--quick' if args.quick else 'full'}"
      f"{' --full-deep-ei' if args.full_deep_ei else ''}")
    P("- deep_ei_fast: CPU kernels, rng=\"philox\", seed=0, progress=False; "
      f"1 warm-up + median of {args.repeats} timed runs (case c: median per call; a call whose "
      "warm-up takes > 20 s is timed once, the warm-up being the measurement). "
      "deep-ei and plain torch: one timed run. Times are wall-clock (time.perf_counter) of the "
      "call, inside a fresh subprocess per implementation; peak RSS is that subprocess's VmHWM "
      "(includes the python + torch baseline, ~0.3 GiB, and for deep_ei_fast the warm-up).")
    P("- plain torch: x = torch.rand, y = layer(x), then the bincount/unique estimators "
      "(source named per row); its time includes sampling.")
    P("- all calls pass in_range=(0, 1), out_range=(0, 1) explicitly (the layers' inputs are "
      "taken to be sigmoid outputs), so every implementation estimates the same quantity.")
    P("")

    results = {}
    print("\n".join(lines))
    for c in cases:
        case = CASES[c]
        rows = []
        print(f"== case {c}: {case['title']}", flush=True)
        for impl in impls:
            job = {"case": c, "impl": impl, "plain": args.plain, "samples": case["samples"],
                   "sens_samples": case.get("sens_samples"), "threads": args.threads}
            note = ""
            scale = 1.0
            if impl == "fast":
                job.update(repeats=args.repeats, warmup=1)
            if impl == "deep_ei":
                if c == "d":
                    need = case["n_in"] * case["n_out"] * case["bins"] ** 2 * 8
                    rows.append(dict(impl=impl, note=f"does not fit: needs {need / 1e9:.0f} GB of "
                                     f"float64 counters (machine: {fmt_b(mem)})"))
                    continue
                if c == "c" and not args.full_deep_ei:
                    s = case["samples"] // (100 if args.quick else 10)
                    job["samples"] = s
                    scale = case["samples"] / s
                    note = f"vector_and_pairwise_ei measured at {s:.0e} samples per layer, x{scale:.0f} " \
                           f"(extrapolated); sensitivity measured"
                elif args.quick and c in ("a", "b"):
                    s = case["samples"] // 10
                    job["samples"] = s
                    scale = 10.0
                    note = f"measured at {s:.0e} samples, x10 (extrapolated)"
            if impl == "plain" and c == "d":
                src = _plain_torch_module(args.plain)[1]
                est = plain_torch_mem_estimate(case, src)
                if est > PLAIN_TORCH_SKIP_BYTES:
                    rows.append(dict(impl=impl, note=f"skipped: estimated {fmt_b(est)} > 8 GiB"))
                    continue
                if args.quick:
                    rows.append(dict(impl=impl, note=f"skipped in --quick (estimated {fmt_b(est)})"))
                    continue
                note = f"estimated memory {fmt_b(est)}"
            print(f"   {impl} ...", flush=True)
            r = run_job(job, timeout=args.timeout)
            r["note"] = note
            r["scale"] = scale
            r["impl"] = impl
            rows.append(r)
            print(f"   {impl}: {summarize(c, r)}", flush=True)
        results[c] = rows

    # ---------------------------------------------------------------- table
    P("| case | implementation | wall time | speedup vs deep-ei | pair-samples/s | peak RSS | result | notes |")
    P("|---|---|---|---|---|---|---|---|")
    names = {"deep_ei": "deep-ei 0.7.0", "plain": "plain torch", "fast": "deep_ei_fast"}
    for c in cases:
        case = CASES[c]
        rows = results[c]
        base = None
        for r in rows:
            if r["impl"] == "deep_ei" and ("times" in r or "per_layer" in r):
                base = total_time(c, r)
        for r in rows:
            label = names[r["impl"]]
            if "error" in r:
                note = r.get("note", "")
                P(f"| {c} | {label} | failed | - | - | - | - | {r['error'][:200]}"
                  f"{'; ' + note if note else ''} |")
                continue
            if "times" not in r and "per_layer" not in r:
                P(f"| {c} | {label} | - | - | - | - | - | {r.get('note', '')} |")
                continue
            t = total_time(c, r)
            sp = f"{base / t:.1f}x" if base and t else "-"
            rate = None
            if c != "c" and t:
                rate = r["pairs"] * case["samples"] / t
            elif c == "c" and t:
                rate = sum(L["shape"][0] * L["shape"][1] for L in r["per_layer"]) * case["samples"] / \
                    sum(statistics.median(L["t_vp"]) * r["scale"] for L in r["per_layer"])
            res = result_str(c, r)
            note = r.get("note", "")
            if r["impl"] == "plain" and r.get("plain_torch_source"):
                note = (note + "; " if note else "") + r["plain_torch_source"]
            if r["impl"] == "fast" and len(r.get("times", [])) > 1:
                note = (note + "; " if note else "") + "runs " + ", ".join(fmt_t(x) for x in r["times"])
            P(f"| {c} | {label} | {fmt_t(t)}{' (extrap.)' if r['scale'] != 1 else ''} | {sp} | "
              f"{fmt_rate(rate)} | {fmt_b(r.get('peak_rss'))} | {res} | {note} |")
    P("")
    load1 = os.getloadavg()
    P(f"- load average (1/5/15 min) at start: {load0[0]:.2f}/{load0[1]:.2f}/{load0[2]:.2f}, at end: "
      f"{load1[0]:.2f}/{load1[1]:.2f}/{load1[2]:.2f} (other processes running on the machine "
      f"slow every column).")
    for c in cases:
        P(f"- case {c}: {CASES[c]['title']}")
    if "c" in cases:
        P("- case c pair-samples/s counts the vector_and_pairwise_ei calls only "
          "(sum over layers of n_in*n_out*1e7 / their time). Per-layer times:")
        P("")
        P("| implementation | layer | vector_and_pairwise_ei | sensitivity | vector EI | pairwise EI "
          "| sensitivity (bits) |")
        P("|---|---|---|---|---|---|---|")
        for r in results["c"]:
            for L in r.get("per_layer", []):
                tv = statistics.median(L["t_vp"])
                P(f"| {names[r['impl']]} | {L['layer']} ({L['shape'][0]}->{L['shape'][1]}) | "
                  f"{fmt_t(tv * r['scale'])}{' (extrap. from ' + fmt_t(tv) + ')' if r['scale'] != 1 else ''} | "
                  f"{fmt_t(statistics.median(L['t_sens']))} | {L['vector_ei']:.4f} | {L['pairwise_ei']:.4f} | "
                  f"{L['sensitivity']:.4f} |")
    P("")
    P("Results (EI sums, bits) differ between implementations because the random streams differ "
      "(deep_ei_fast uses philox, the others torch.rand); they agree to sampling error.")
    text = "\n".join(lines) + "\n"
    print()
    print(text)
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    with open(out_path, "w") as f:
        f.write(text)
    print(f"wrote {out_path}")


def plain_torch_mem_estimate(case, src):
    n_in, n_out, S, bins = case["n_in"], case["n_out"], case["samples"], case["bins"]
    inputs = 4 * S * (n_in + n_out)
    if src == "benchmarks/plain_torch.py":
        # int64 codes for x and y (+ base index), one 256 MiB index block, the block's counters
        codes = 8 * S * (n_in + 2 * n_out)
        blk = max(1, min(n_in, 256 * 2**20 // (8 * S * n_out),
                         256 * 2**20 // (8 * 4 * n_out * (bins + 1) ** 2)))
        counters = blk * n_out * (bins + 1) ** 2 * 8 * 4
        return inputs + codes + 256 * 2**20 + counters
    # unknown blocking: assume all n_in*n_out*(bins+1)^2 int64 counters are held at once
    return inputs + n_in * n_out * (bins + 1) ** 2 * 8


def total_time(c, r):
    if "per_layer" in r:
        return sum(statistics.median(L["t_vp"]) * r["scale"] + statistics.median(L["t_sens"])
                   for L in r["per_layer"])
    if "times" in r:
        return statistics.median(r["times"]) * r["scale"]
    return None


def result_str(c, r):
    if "per_layer" in r:
        return "see per-layer table"
    res = r.get("result")
    if isinstance(res, (list, tuple)):
        return f"vector {res[0]:.4f}, pairwise {res[1]:.4f}"
    return "-" if res is None else f"sum {res:.3f}"


def summarize(c, r):
    if "error" in r:
        return "ERROR " + r["error"]
    return f"{fmt_t(total_time(c, r))}{' (extrapolated)' if r['scale'] != 1 else ''}, " \
           f"peak RSS {fmt_b(r.get('peak_rss'))}, {result_str(c, r)}"


if __name__ == "__main__":
    main()
