#!/usr/bin/env python3
"""GPU benchmark: the pair-histogram kernels side by side, and the engine on device='cuda'.

    python benchmarks/gpu_compare.py [--quick] [--out FILE] [--full-deep-ei]
    python benchmarks/gpu_compare.py --smoke-cpu   # the script's logic on tiny CPU cases
                                                   # (no GPU numbers; nothing is written)

Needs a CUDA GPU and deep_ei_fast built with its CUDA kernels; exits with a message otherwise.
In one run, on the same card:

1. ceiling: a microbenchmark kernel (compiled at run time with torch's load_inline) that does
   nothing but conflict-free shared-memory atomicAdds: the shared-atomic ceiling the atomic
   histogram is compared with.
2. kernels: (a) pair_histogram_accumulate_ (shared-memory atomics), (b)
   pair_histogram_onehot_accumulate_ (int8 tensor cores), (c) plain torch on the GPU (bincount
   of flattened cell indices, benchmarks/plain_torch.py's formulation) over a bins x layer-size
   grid, on uniform and on saturated (collision-heavy) codes: pair-samples/s of each, the
   measured winner and what deep_ei_fast/engine/histogram_choice.py's provisional rule picks.
3. the targets: ei_parts_matrix 1024->1024 sigmoid, 64 bins, 1e6 samples (pair-samples/s and
   fraction of the ceiling); the paper's per-epoch measurement (benchmarks/compare.py case c);
   ei_parts_matrix 256->256 sigmoid, 1e5 samples, 64 bins against (c) plain torch and (d)
   deep-ei 0.7.0 with device='cuda' (deep-ei on 1e4 samples, scaled x10 and labelled
   extrapolated, unless --full-deep-ei).

Timing: CUDA events around each call after warm-up, median of the repeats (kernels), or
wall-clock after torch.cuda.synchronize() for whole EI calls (median of 3 after a warm-up).
Writes a markdown report (GPU, driver, torch and CUDA versions, the command) to --out.
"""
import argparse
import datetime
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
DEVICE = "cuda"  # "cpu" only for --smoke-cpu
REPO = os.path.dirname(HERE)
sys.path.insert(0, REPO)
sys.path.insert(0, HERE)


def die(msg):
    print(f"gpu_compare.py: {msg}", file=sys.stderr)
    sys.exit(2)


def require_gpu():
    if not torch.cuda.is_available():
        die("no CUDA GPU is available (torch.cuda.is_available() is False); this benchmark only "
            "runs on a GPU machine: see benchmarks/run_on_gpu.sh")
    try:
        from deep_ei_fast import build_info
    except Exception as e:
        die(f"deep_ei_fast does not import: {e}")
    if not build_info().cuda:
        die("deep_ei_fast was built without its CUDA kernels: rebuild with "
            "`pip install --no-build-isolation --no-deps -e .` on this machine (nvcc needed)")


# ------------------------------------------------------------------------------ timing
def sync():
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def time_cuda(fn, warmup=2, repeats=10):
    """Median seconds of fn() between CUDA events, after `warmup` calls."""
    for _ in range(warmup):
        fn()
    if DEVICE != "cuda":  # --smoke-cpu
        return time_wall(fn, warmup=0, repeats=1)[0]
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop) / 1e3)
    return statistics.median(times)


def time_wall(fn, warmup=1, repeats=3):
    """Median wall seconds of fn() (which may synchronize itself), after `warmup` calls."""
    result = None
    for _ in range(warmup):
        result = fn()
    times = []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        result = fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


# ------------------------------------------------------------------------------ 1. ceiling
CEILING_SRC = r"""
#include <torch/extension.h>
// Every thread adds 1 to its own shared word (lane-distinct banks: no conflicts), `iters`
// times; the words are written out so the adds cannot be optimized away.
__global__ void smem_atomic_ceiling_kernel(int iters, unsigned int* out) {
  extern __shared__ unsigned int words[];
  words[threadIdx.x] = 0u;
  __syncthreads();
  for (int i = 0; i < iters; ++i) atomicAdd(&words[threadIdx.x], 1u << ((i & 1) << 4));
  __syncthreads();
  out[blockIdx.x * blockDim.x + threadIdx.x] = words[threadIdx.x];
}
void smem_atomic_ceiling(torch::Tensor out, int64_t blocks, int64_t threads, int64_t iters) {
  smem_atomic_ceiling_kernel<<<(unsigned)blocks, (unsigned)threads, threads * 4>>>(
      (int)iters, reinterpret_cast<unsigned int*>(out.data_ptr<int32_t>()));
}
"""


def measure_ceiling():
    from torch.utils.cpp_extension import load_inline
    mod = load_inline("dei_smem_ceiling",
                      cpp_sources="void smem_atomic_ceiling(torch::Tensor out, int64_t blocks, int64_t threads, "
                                  "int64_t iters);",
                      cuda_sources=CEILING_SRC, functions=["smem_atomic_ceiling"], verbose=False)
    sms = torch.cuda.get_device_properties(0).multi_processor_count
    threads, iters = 1024, 4096
    blocks = sms * 2 * 8
    out = torch.empty(blocks * threads, dtype=torch.int32, device=DEVICE)
    t = time_cuda(lambda: mod.smem_atomic_ceiling(out, blocks, threads, iters), warmup=3, repeats=10)
    expected = (iters // 2) * (1 << 16) + (iters // 2)
    assert int(out[0]) == expected, "ceiling kernel miscounted"
    return blocks * threads * iters / t


# ------------------------------------------------------------------------------ 2. kernels
def codes(n, S, R, kind, gen):
    if kind == "uniform":
        c = torch.randint(0, R, (n, S), device=DEVICE, generator=gen)
    else:  # saturated sigmoids: most samples in the first or last bin
        z = torch.randn((n, S), device=DEVICE, generator=gen) * 8 + \
            torch.randn((n, 1), device=DEVICE, generator=gen) * 4
        c = torch.clamp((torch.sigmoid(z) * (R - 1)).long(), max=R - 2)
    return c.to(torch.uint8 if R <= 256 else torch.int32)


def plain_torch_histogram(counts, x, y):
    """(c): counts[a, b, x, y] += 1 via one bincount of flattened cell indices per x row."""
    na, nb, RX, RY = counts.shape
    flat = counts.view(na, -1)
    base = (torch.arange(nb, device=x.device) * (RX * RY)).view(nb, 1) + y.long()  # [nb, S]
    for a in range(na):
        idx = (x[a].long() * RY).view(1, -1) + base
        flat[a] += torch.bincount(idx.reshape(-1), minlength=nb * RX * RY).to(torch.int32)


def kernel_grid(quick, log):
    from deep_ei_fast.engine import histogram_choice as hk, ops
    bins_list = [8, 16, 64] if quick else [4, 8, 15, 16, 32, 64, 128]
    layers = [(25, 6), (256, 256)] if quick else [(25, 6), (64, 64), (256, 256), (1024, 1024)]
    if DEVICE == "cpu":  # --smoke-cpu
        bins_list, layers = [8, 64], [(3, 4)]
    rows = []
    gen = torch.Generator(device=DEVICE).manual_seed(0)
    for n_in, n_out in layers:
        for bins in bins_list:
            R = bins + 1
            counter_bytes = n_in * n_out * R * R * 4
            if counter_bytes > 8 * 2**30:
                continue
            S = 65536 if n_in * n_out <= 256 * 256 else 16384
            if DEVICE == "cpu":
                S = 3000
            counts = torch.zeros((n_in, n_out, R, R), dtype=torch.int32, device=DEVICE)
            for kind in ("uniform", "saturated"):
                x, y = codes(n_in, S, R, kind, gen), codes(n_out, S, R, kind, gen)
                res = {}
                res["a"] = time_cuda(lambda counts=counts, x=x, y=y: ops.pair_histogram_accumulate_(counts, x, y))
                res["b"] = time_cuda(
                    lambda counts=counts, x=x, y=y: ops.pair_histogram_onehot_accumulate_(counts, x, y))
                # plain torch: a bincount index of S * n_out int64 per x row; skip the big ones
                if n_in * n_out * S <= 2**31:
                    res["c"] = time_cuda(lambda counts=counts, x=x, y=y: plain_torch_histogram(counts, x, y),
                                         warmup=1, repeats=3)
                # all three must agree: one call each into fresh counters
                check = []
                for op in (ops.pair_histogram_accumulate_, ops.pair_histogram_onehot_accumulate_):
                    c = torch.zeros_like(counts)
                    op(c, x, y)
                    check.append(c)
                assert torch.equal(check[0], check[1]), f"kernels disagree at {n_in}x{n_out} bins={bins}"
                ps = n_in * n_out * S
                rate = {k: ps / v for k, v in res.items()}
                winner = max(rate, key=rate.get)
                rule = "b" if hk.choose(R, R, n_in, n_out).startswith("pair_histogram_onehot") else "a"
                row = dict(layer=f"{n_in}x{n_out}", bins=bins, kind=kind, S=S, rate=rate,
                           winner=winner, rule=rule, predicted=hk.onehot_cost_ratio(R, R, n_in, n_out),
                           measured=res["b"] / res["a"])
                rows.append(row)
                log(f"  {row['layer']:>9} bins={bins:<4} {kind:9s} a={rate['a']:.3g} b={rate['b']:.3g} "
                    f"c={rate.get('c', float('nan')):.3g} pair-samples/s  winner={winner} rule={rule}")
            del counts
            if DEVICE == "cuda":
                torch.cuda.empty_cache()
    return rows


# ------------------------------------------------------------------------------ 3. targets
def build_net(sizes, bias, device):
    import torch.nn as nn

    import deep_ei_fast
    torch.manual_seed(0)
    mods = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        mods += [nn.Linear(a, b, bias=bias), nn.Sigmoid()]
    net = nn.Sequential(*mods).to(device)
    top = deep_ei_fast.topology_of(net, torch.zeros((1, sizes[0]), device=device))
    return net, top, [m for m in net if isinstance(m, nn.Linear)]


def target_1024(quick, ceiling, log):
    import deep_ei_fast as dei
    samples = 100_000 if quick else 1_000_000
    n = 1024
    if DEVICE == "cpu":  # --smoke-cpu
        samples, n = 2000, 16
    net, top, (lin,) = build_net([n, n], True, DEVICE)
    kw = dict(samples=samples, in_range=(0, 1), out_range=(0, 1), in_bins=64, out_bins=64,
              device=DEVICE, rng="philox", seed=0, progress=False, memory_bound=24 * 2**30)
    t, m = time_wall(lambda: dei.ei_parts_matrix(lin, top, **kw), warmup=1, repeats=3)
    rate = n * n * samples / t
    log(f"  ei_parts_matrix {n}->{n} 64 bins {samples:.0e}: {t:.3f} s, {rate:.3g} pair-samples/s, "
        f"{rate / ceiling:.1%} of the shared-atomic ceiling")
    return dict(n=n, samples=samples, t=t, rate=rate, fraction=rate / ceiling, sum=float(m.sum()))


def target_epoch(quick, log):
    import deep_ei_fast as dei
    samples = 1_000_000 if quick else 10_000_000
    sens_samples = 5000
    if DEVICE == "cpu":  # --smoke-cpu
        samples, sens_samples = 10_000, 500
    net, top, layers = build_net([25, 6, 6, 6, 5], False, DEVICE)
    kw = dict(in_range=(0, 1), out_range=(0, 1), in_bins=8, out_bins=8, device=DEVICE,
              rng="philox", seed=0, progress=False)

    def epoch():
        out = []
        for layer in layers:
            out.append(dei.vector_and_pairwise_ei(layer, top, samples=samples, **kw))
            out.append(dei.sensitivity(layer, top, samples=sens_samples, **kw))
        return out

    t, res = time_wall(epoch, warmup=1, repeats=3)
    log(f"  per-epoch measurement (25-6-6-6-5, 8 bins, {samples:.0e} + {sens_samples} per layer): {t:.3f} s")
    return dict(samples=samples, sens_samples=sens_samples, t=t)


def target_256(quick, full_deep_ei, log):
    import plain_torch

    import deep_ei_fast as dei
    samples, n = 100_000, 256
    if DEVICE == "cpu":  # --smoke-cpu
        samples, n = 2000, 8
    net, top, (lin,) = build_net([n, n], True, DEVICE)
    kw = dict(samples=samples, in_range=(0, 1), out_range=(0, 1), in_bins=64, out_bins=64, device=DEVICE)
    t_fast, m = time_wall(lambda: dei.ei_parts_matrix(lin, top, rng="philox", seed=0, progress=False, **kw))
    out = dict(n=n, samples=samples, fast=t_fast, fast_sum=float(m.sum()))

    def plain():
        x = torch.rand((samples, n), device=DEVICE)
        with torch.no_grad():
            y = torch.sigmoid(lin(x))
        return plain_torch.ei_parts_matrix_from_samples(x, y, (0.0, 1.0), 64, (0.0, 1.0), 64)

    out["plain"], _ = time_wall(plain, warmup=1, repeats=1)
    try:
        import deep_ei
    except ImportError:
        out["deep_ei"], out["deep_ei_note"] = None, "deep-ei not installed: not measured"
    else:
        s = samples if full_deep_ei else samples // 10
        kw_d = dict(kw, samples=s)
        torch.manual_seed(0)
        t0 = time.perf_counter()
        deep_ei.ei_parts_matrix(lin, top, **kw_d)
        sync()
        out["deep_ei"] = (time.perf_counter() - t0) * samples / s
        out["deep_ei_note"] = "measured" if full_deep_ei else f"extrapolated x{samples // s} from {s} samples"
    deep = "-" if out["deep_ei"] is None else f"{out['deep_ei']:.3f} s"
    log(f"  {n}->{n} 64 bins {samples:.0e}: deep_ei_fast {t_fast:.3f} s, plain torch {out['plain']:.3f} s, "
        f"deep-ei {deep} ({out['deep_ei_note']})")
    return out


# ------------------------------------------------------------------------------ report
def versions():
    props = torch.cuda.get_device_properties(0)
    try:
        driver = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                                capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        driver = "unknown"
    return dict(gpu=props.name, sms=props.multi_processor_count, memory=props.total_memory,
                cc=f"{props.major}.{props.minor}", driver=driver, torch=torch.__version__,
                cuda=torch.version.cuda, python=platform.python_version())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller grid and sample counts (smoke run)")
    ap.add_argument("--full-deep-ei", action="store_true", help="run deep-ei on the real 1e5 samples")
    ap.add_argument("--out", default=None, help="markdown report (default benchmarks/results/gpu_<name>.md)")
    ap.add_argument("--no-kernel-grid", action="store_true",
                    help="skip section 2 (benchmarks/kernel_table.py measures every kernel over a larger grid)")
    ap.add_argument("--smoke-cpu", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.smoke_cpu:
        return smoke_cpu(args)
    require_gpu()
    v = versions()
    lines = []

    def log(s):
        print(s, flush=True)
        lines.append(s)

    log(f"== {v['gpu']} (sm_{v['cc'].replace('.', '')}, {v['sms']} SMs), driver {v['driver']}, "
        f"torch {v['torch']}, CUDA {v['cuda']}")
    log("== 1. shared-memory atomic ceiling")
    ceiling = measure_ceiling()
    log(f"  {ceiling:.4g} conflict-free shared atomicAdds/s")
    log("== 2. histogram kernels: (a) shared atomics, (b) one-hot tensor cores, (c) plain torch")
    grid = [] if args.no_kernel_grid else kernel_grid(args.quick, log)
    log("== 3. targets")
    t1024 = target_1024(args.quick, ceiling, log)
    tepoch = target_epoch(args.quick, log)
    t256 = target_256(args.quick, args.full_deep_ei, log)

    write_report(args, v, ceiling, grid, t1024, tepoch, t256, lines)


def write_report(args, v, ceiling, grid, t1024, tepoch, t256, lines):
    """The markdown report: versions, command, the targets and the kernel table."""
    name = v["gpu"].lower().replace(" ", "_").replace("/", "_")
    out = args.out or os.path.join(HERE, "results", f"gpu_{name}.md")
    cmd = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    R = []
    R.append(f"# GPU benchmark: {v['gpu']}\n")
    R.append(f"Measured {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC} with `{cmd}` "
             f"(deep_ei_fast at `{_git_rev()}`).\n")
    R.append(f"GPU {v['gpu']} (compute capability {v['cc']}, {v['sms']} SMs, "
             f"{v['memory'] / 2**30:.0f} GiB), driver {v['driver']}, torch {v['torch']}, CUDA {v['cuda']}, "
             f"Python {v['python']}.\n")
    R.append("## Targets\n")
    R.append("| case | time | target | notes |\n|---|---|---|---|")
    R.append(f"| ei_parts_matrix {t1024['n']}->{t1024['n']} sigmoid, 64 bins, {t1024['samples']:.0e} samples | "
             f"{t1024['t']:.3f} s | <= 1 s | {t1024['rate']:.3g} pair-samples/s = {t1024['fraction']:.1%} "
             f"of the measured shared-atomic ceiling ({ceiling:.3g}/s) |")
    R.append(f"| per-epoch measurement (25-6-6-6-5, 8 bins, {tepoch['samples']:.0e} + "
             f"{tepoch['sens_samples']} samples per layer) | "
             f"{tepoch['t']:.3f} s | <= 0.5 s | |")
    speedup = (t256["deep_ei"] / t256["fast"]) if t256.get("deep_ei") else None
    deep = "-" if t256["deep_ei"] is None else f"{t256['deep_ei']:.3f} s"
    R.append(f"| ei_parts_matrix {t256['n']}->{t256['n']}, {t256['samples']:.0e} samples, 64 bins | "
             f"{t256['fast']:.3f} s | "
             f">= 1000x vs deep-ei | deep-ei device='cuda' {deep} ({t256['deep_ei_note']}); "
             f"speedup {speedup if speedup is None else f'{speedup:.0f}x'}; "
             f"plain torch (GPU) {t256['plain']:.3f} s |\n")
    R.append("## Histogram kernels (pair-samples/s; codes drawn on the GPU, one call per timing)\n")
    R.append("rule = what deep_ei_fast/engine/histogram_choice.py picks; b/a measured = time of (b) over (a), "
             "b/a estimated = the rule's estimate.\n")
    R.append("| layer | bins | codes | samples/call | (a) atomics | (b) one-hot | (c) plain torch | winner | rule "
             "| b/a measured | b/a estimated |")
    R.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in grid:
        c = r["rate"].get("c")
        R.append(f"| {r['layer']} | {r['bins']} | {r['kind']} | {r['S']} | {r['rate']['a']:.3g} | "
                 f"{r['rate']['b']:.3g} | "
                 f"{'-' if c is None else f'{c:.3g}'} | {r['winner']} | {r['rule']} | {r['measured']:.2f} | "
                 f"{r['predicted']:.2f} |")
    R.append("\n## Log\n\n```\n" + "\n".join(lines) + "\n```\n")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        f.write("\n".join(R))
    print(f"wrote {out}")


def smoke_cpu(args):
    """Runs sections 2 and 3 on tiny CPU cases to check the script itself (no GPU, no report)."""
    global DEVICE
    DEVICE = "cpu"
    log = print
    log("== smoke run on the CPU: checks the script's code paths; these are not GPU numbers")
    grid = kernel_grid(True, log)
    t1024 = target_1024(True, float("nan"), log)
    tepoch = target_epoch(True, log)
    t256 = target_256(True, False, log)
    v = dict(gpu="CPU smoke run", sms=0, memory=0, cc="0.0", driver="-", torch=torch.__version__,
             cuda=None, python=platform.python_version())
    args.out = args.out or os.path.join("/tmp", "gpu_compare_smoke.md")
    write_report(args, v, float("nan"), grid, t1024, tepoch, t256, ["(smoke run)"])
    log("smoke run ok (the report above holds CPU numbers, not GPU ones)")


def _git_rev():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                              text=True, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


if __name__ == "__main__":
    main()
