"""process_group scale-out on the CPU: ei_parts_matrix of a 512->512 sigmoid layer at 64 bins,
by 1 process and by 2 processes of a local gloo group, one thread each.

    python3 benchmarks/distributed.py [--samples 100000] [--memory-bound-mib 1024]

Each run is a fresh set of processes (PYTHONPATH=this checkout, OMP_NUM_THREADS=1,
torch.set_num_threads(1)); a rank times its ei_parts_matrix call between two barriers (so the
time covers the slowest rank and the final gather). Both runs use the same seed and
memory_bound, and the 2-process matrix is checked equal to the 1-process one, bit for bit.
Writes benchmarks/results/distributed_cpu_<cores>core_<date>.md with the machine, the command,
`uptime` before and after (the machine is shared: other sessions' load enters the figures),
seconds, speed-up, efficiency and pair-samples/s per process.
"""
import argparse
import datetime
import os
import pickle
import platform
import socket
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results")
N_IN = N_OUT = 512
BINS = 64

RANK_SCRIPT = r"""
import datetime, pickle, sys, time
import numpy as np, torch, torch.distributed as dist
import deep_ei_fast as dei
rank, world, port, samples, bound, out = sys.argv[1:]
rank, world = int(rank), int(world)
torch.set_num_threads(1)
dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
                        timeout=datetime.timedelta(minutes=30))
torch.manual_seed(0)
layer = torch.nn.Linear(512, 512)
top = dei.topology_of(torch.nn.Sequential(layer, torch.nn.Sigmoid()), input=torch.zeros(1, 512))
dist.barrier()
start, cpu = time.perf_counter(), time.process_time()
matrix = dei.ei_parts_matrix(layer, top, samples=int(samples), seed=0, progress=False,
                             memory_bound=int(bound), process_group=dist.group.WORLD)
cpu = time.process_time() - cpu  # this rank's own work (load elsewhere does not enter it)
dist.barrier()
seconds = time.perf_counter() - start
with open(f"{out}{rank}", "wb") as f:
    pickle.dump((seconds, cpu, matrix if rank == 0 else None), f)
dist.destroy_process_group()
"""


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(world, samples, bound):
    """(seconds, [CPU seconds of each rank], matrix) of one ei_parts_matrix call by `world`
    processes."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=ROOT)
    port = str(_free_port())
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "rank")
        processes = [subprocess.Popen([sys.executable, "-c", RANK_SCRIPT, str(r), str(world), port,
                                       str(samples), str(bound), out], env=env) for r in range(world)]
        for p in processes:
            if p.wait() != 0:
                raise SystemExit(f"a rank of the {world}-process run failed (exit {p.returncode})")
        ranks = []
        for r in range(world):
            with open(f"{out}{r}", "rb") as f:
                ranks.append(pickle.load(f))
        return ranks[0][0], [cpu for _, cpu, _ in ranks], ranks[0][2]


def uptime():
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=100000)
    parser.add_argument("--memory-bound-mib", type=int, default=1024)
    parser.add_argument("--output", default=None)
    args = parser.parse_args()
    bound = args.memory_bound_mib * 2**20
    before = uptime()
    one_s, one_cpu, one = run(1, args.samples, bound)
    two_s, two_cpu, two = run(2, args.samples, bound)
    after = uptime()
    identical = bool((one == two).all())
    pair_samples = N_IN * N_OUT * args.samples
    speedup = one_s / two_s
    cores = os.cpu_count()
    date = datetime.datetime.now(datetime.timezone.utc)
    command = "python3 benchmarks/distributed.py " + " ".join(sys.argv[1:])
    lines = [
        f"# process_group scale-out, CPU ({cores} cores)", "",
        f"- date (UTC): {date:%Y-%m-%d %H:%M}",
        f"- machine: {platform.node()}, {platform.processor() or platform.machine()}, {cores} cores; "
        f"torch {__import__('torch').__version__}; commit {_commit()}",
        f"- command: `{command}`",
        f"- case: ei_parts_matrix {N_IN}->{N_OUT} Linear+Sigmoid, {BINS} bins, {args.samples} samples, "
        f"philox seed 0, memory_bound {args.memory_bound_mib} MiB per process; one thread per process "
        "(OMP_NUM_THREADS=1, torch.set_num_threads(1)); a local gloo group",
        f"- uptime before: `{before}`", f"- uptime after: `{after}`", "",
        "| processes | seconds (wall) | speed-up | efficiency | pair-samples/s per process "
        "| CPU seconds of each rank |",
        "|---|---|---|---|---|---|",
        f"| 1 | {one_s:.1f} | 1.00 | 1.00 | {pair_samples / one_s:.3g} | {_seconds(one_cpu)} |",
        f"| 2 | {two_s:.1f} | {speedup:.2f} | {speedup / 2:.2f} | {pair_samples / two_s / 2:.3g} | "
        f"{_seconds(two_cpu)} |", "",
        "Wall seconds include the start of the group and the final gather; the CPU seconds are each "
        "rank's own work, which the load of other processes on the shared machine does not enter.", "",
        f"2-process matrix equal to the 1-process matrix, bit for bit: {identical} "
        f"(EI_parts {float(one.sum()):.6f} bits).", "",
    ]
    path = args.output or os.path.join(RESULTS, f"distributed_cpu_{cores}core_{date:%Y-%m-%d}.md")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))
    print(f"written to {path}")


def _seconds(values):
    return ", ".join(f"{v:.1f}" for v in values)


def _commit():
    result = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return result.stdout.strip() or "unknown"


if __name__ == "__main__":
    main()
