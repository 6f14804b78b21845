"""What checkpoint=PATH costs and saves: ei_parts_matrix of a 64->64 sigmoid layer (16 bins,
philox seed 0, progress off) whose counters are tiled by memory_bound, timed

- without a checkpoint;
- with a fresh checkpoint (every tile saved as it finishes);
- restarted with every tile finished (loaded; no samples drawn);
- restarted with half the tile files deleted (the other half counted again).

    python3 benchmarks/checkpoint.py [--samples 1000000] [--memory-bound 1000000] [--repeats 3]

Medians of --repeats calls (the half-finished case: each from a fresh copy of the half). Checks
that every result equals the one without a checkpoint. Writes
benchmarks/results/checkpoint_cpu_<cores>core_<date>.md with the machine, the command and the
`uptime` load before and after (a shared machine's load enters every figure).
"""
import argparse
import datetime
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import deep_ei_fast as deep_ei  # noqa: E402
from deep_ei_fast.engine.checkpoint import TILE_PATTERN  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def timed(call, repeats, before=lambda: None):
    times, result = [], None
    for _ in range(repeats):
        before()
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--memory-bound", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    load_before = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    torch.manual_seed(0)
    lin = torch.nn.Linear(64, 64)
    top = deep_ei.topology_of(torch.nn.Sequential(lin, torch.nn.Sigmoid()), torch.zeros(1, 64))
    kwargs = dict(samples=args.samples, in_bins=16, out_bins=16, seed=0, progress=False,
                  memory_bound=args.memory_bound)
    work = tempfile.mkdtemp(prefix="checkpoint_bench_")
    full, half = os.path.join(work, "full"), os.path.join(work, "half")

    def matrix(path=None):
        return deep_ei.ei_parts_matrix(lin, top, checkpoint=path, **kwargs)

    rows = []
    plain, expected = timed(matrix, args.repeats)
    rows.append(("no checkpoint", plain))
    fresh, result = timed(lambda: matrix(full), args.repeats, lambda: shutil.rmtree(full, ignore_errors=True))
    assert np.array_equal(result, expected)
    rows.append(("fresh checkpoint (every tile saved)", fresh))
    tiles = sorted(n for n in os.listdir(full) if TILE_PATTERN.match(n))
    disk = sum(os.path.getsize(os.path.join(full, n)) for n in os.listdir(full))
    restart, result = timed(lambda: matrix(full), args.repeats)
    assert np.array_equal(result, expected)
    rows.append(("restart, every tile finished", restart))

    def half_finished():
        shutil.rmtree(half, ignore_errors=True)
        shutil.copytree(full, half)
        for name in tiles[::2]:
            os.unlink(os.path.join(half, name))
    resumed, result = timed(lambda: matrix(half), args.repeats, half_finished)
    assert np.array_equal(result, expected)
    rows.append((f"restart, {len(tiles) - len(tiles[::2])} of {len(tiles)} tiles finished", resumed))
    shutil.rmtree(work)
    load_after = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()

    cores = os.cpu_count()
    date = datetime.date.today().isoformat()
    lines = [
        f"# checkpoint=PATH: cost and savings ({date})", "",
        f"- machine: {platform.processor() or platform.machine()}, {cores} cores, "
        f"python {platform.python_version()}, torch {torch.__version__}",
        f"- command: `python3 benchmarks/checkpoint.py --samples {args.samples} --memory-bound "
        f"{args.memory_bound} --repeats {args.repeats}`",
        f"- layer: Linear 64->64 + sigmoid, 16 bins, philox seed 0; {len(tiles)} tiles; checkpoint "
        f"{disk:,} bytes on disk",
        f"- load before: `{load_before}`", f"- load after: `{load_after}`",
        "- every result below equals the one without a checkpoint (np.array_equal)", "",
        "| ei_parts_matrix | seconds (median) | vs no checkpoint |", "|---|---:|---:|",
    ]
    lines += [f"| {name} | {seconds:.3f} | {seconds / plain:.2f}x |" for name, seconds in rows]
    report = "\n".join(lines) + "\n"
    print(report)
    os.makedirs(RESULTS, exist_ok=True)
    path = os.path.join(RESULTS, f"checkpoint_cpu_{cores}core_{date}.md")
    with open(path, "w") as handle:
        handle.write(report)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
