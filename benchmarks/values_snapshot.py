"""A snapshot of many public-function values, to check a refactoring bit for bit.

    python benchmarks/values_snapshot.py --write FILE.pkl [--distributed DIR]
    python benchmarks/values_snapshot.py --compare BEFORE.pkl AFTER.pkl

--write measures every case of CASES (every public function, both rng modes, every estimator,
tiled and whole counters, checkpointed and resumed, dynamic ranges, samples=None) with this
checkout's package and pickles {case: value}. --distributed DIR also runs
tests/distributed_worker.py's "cases" mode on two gloo ranks into DIR and stores their results
(the tile files' modification times left out: they are not values). --compare reports every case
whose values differ in any bit (NaN equal to NaN) and exits 1 if any does.
"""
import argparse
import dataclasses
import math
import os
import pickle
import shutil
import socket
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # this checkout's package

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

import deep_ei_fast as dei  # noqa: E402

QUIET = dict(progress=False)
SMALL_BINS = dict(in_bins=8, out_bins=8)
ESTIMATORS = [("plugin", 1), ("miller_madow", 1), ("shuffle", 1), ("shuffle", 3)]


def net(n_in, n_out, activation, seed):
    g = torch.Generator().manual_seed(seed)
    layer = nn.Linear(n_in, n_out)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(n_out, n_in, generator=g) * 1.5)
        layer.bias.copy_(torch.randn(n_out, generator=g) * 0.3)
    model = nn.Sequential(layer, activation())
    return layer, dei.topology_of(model, torch.zeros((1, n_in)))


SIGMOID = net(6, 5, nn.Sigmoid, 1)
RELU = net(4, 3, nn.ReLU, 2)
# 6 x 5 pairs of 9 x 9 int32 counters: 3000 bytes hold one row of pairs per tile.
TILED = 3000


def plane_model():
    g = torch.Generator().manual_seed(4)
    model = nn.Sequential(nn.Linear(6, 5), nn.Sigmoid(), nn.Linear(5, 3), nn.Tanh())
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    return model


def seeded(rng, seed):
    """The seed arguments of a call: philox's seed, or torch's generator seeded for rng='torch'."""
    if rng == "torch":
        torch.manual_seed(seed)
        return dict(rng="torch", seed=None)
    return dict(rng="philox", seed=seed)


def estimator_cases():
    """{name: call} of every function under every estimator and both rng modes."""
    cases = {}
    for estimator, shuffles in ESTIMATORS:
        est = dict(estimator=estimator, shuffles=shuffles)
        tag = f"{estimator}{shuffles}"
        for rng in ("philox", "torch"):
            def with_rng(call, rng=rng, seed=0):
                return lambda: call(seeded(rng, seed))
            key = f"{tag}_{rng}"
            cases[f"ei_parts_matrix_{key}"] = with_rng(lambda s, e=est: dei.ei_parts_matrix(
                *SIGMOID, samples=4000, **SMALL_BINS, **s, **e, **QUIET), seed=1)
            cases[f"ei_parts_matrix_tiled_{key}"] = with_rng(lambda s, e=est: dei.ei_parts_matrix(
                *SIGMOID, samples=4000, memory_bound=(e["shuffles"] + 1) * (8192 + TILED) if e["estimator"] == "shuffle"
                else TILED, **SMALL_BINS, **s, **e, **QUIET), seed=1)
            # 64 bins: tiles of 8 pairs, the codes of 4000 samples cached in the bound's quarter
            cases[f"ei_parts_matrix_tiled_cached_{key}"] = with_rng(lambda s, e=est: dei.ei_parts_matrix(
                *SIGMOID, samples=4000, memory_bound=(e["shuffles"] + 1) * 200000, **s, **e, **QUIET), seed=1)
            cases[f"ei_parts_{key}"] = with_rng(lambda s, e=est: dei.ei_parts(
                *RELU, samples=5000, **s, **e, **QUIET), seed=2)
            cases[f"ei_parts_converged_{key}"] = with_rng(lambda s, e=est: dei.ei_parts(
                *RELU, max_samples=80000, **SMALL_BINS, **s, **e, **QUIET), seed=3)
            cases[f"ei_parts_dynamic_{key}"] = with_rng(lambda s, e=est: dei.ei_parts(
                *SIGMOID, samples=3000, out_range="dynamic", out_bins="dynamic", **s, **e, **QUIET), seed=4)
            cases[f"ei_{key}"] = with_rng(lambda s, e=est: dei.ei(*RELU, samples=5000, **s, **e, **QUIET), seed=5)
            cases[f"ei_converged_{key}"] = with_rng(lambda s, e=est: dei.ei(
                *net(3, 2, nn.Sigmoid, 3), in_bins=4, out_bins=4, max_samples=80000, **s, **e, **QUIET), seed=6)
            cases[f"ei_vector_passes_{key}"] = with_rng(lambda s, e=est: dei.ei(
                *SIGMOID, samples=3000, memory_bound=(e["shuffles"] + 1) * 300000, **s, **e, **QUIET), seed=7)
            cases[f"eis_between_groups_{key}"] = with_rng(lambda s, e=est: dei.eis_between_groups(
                *SIGMOID, [((0, 1), (2,)), ((3, 4, 5), (0, 1))], samples=4000, **SMALL_BINS, **s, **e, **QUIET), seed=8)
            cases[f"vector_and_pairwise_ei_{key}"] = with_rng(lambda s, e=est: dei.vector_and_pairwise_ei(
                *RELU, samples=4000, **SMALL_BINS, **s, **e, **QUIET), seed=9)
            cases[f"vector_and_pairwise_ei_converged_{key}"] = with_rng(lambda s, e=est: dei.vector_and_pairwise_ei(
                *net(3, 2, nn.Tanh, 5), in_bins=4, out_bins=4, max_samples=80000, **s, **e, **QUIET), seed=10)
            cases[f"sensitivity_{key}"] = with_rng(lambda s, e=est: dei.sensitivity(
                *SIGMOID, samples=500, **s, **e, **QUIET), seed=11)
            cases[f"sensitivity_matrix_dynamic_{key}"] = with_rng(lambda s, e=est: dei.sensitivity_matrix(
                *RELU, samples=500, out_range="dynamic", out_bins="dynamic", **s, **e, **QUIET), seed=12)
            cases[f"sensitivity_matrix_tiled_{key}"] = with_rng(lambda s, e=est: dei.sensitivity_matrix(
                *SIGMOID, samples=700, memory_bound=(e["shuffles"] + 1) * (8192 + 1000) if e["estimator"] == "shuffle"
                else 1000, **SMALL_BINS, **s, **e, **QUIET), seed=13)
            cases[f"pairwise_stats_{key}"] = with_rng(lambda s, e=est: dei.pairwise_stats(
                *SIGMOID, samples=4000, **SMALL_BINS, **s, **e, **QUIET), seed=14)
            cases[f"pairwise_stats_tiled_{key}"] = with_rng(lambda s, e=est: dei.pairwise_stats(
                *SIGMOID, samples=4000, memory_bound=(e["shuffles"] + 1) * (8192 + TILED) if e["estimator"] == "shuffle"
                else TILED, **SMALL_BINS, **s, **e, **QUIET), seed=14)
            cases[f"vector_stats_{key}"] = with_rng(lambda s, e=est: dei.vector_stats(
                *RELU, samples=4000, **SMALL_BINS, **s, **e, **QUIET), seed=15)
            cases[f"vector_stats_groups_{key}"] = with_rng(lambda s, e=est: dei.vector_stats(
                *SIGMOID, samples=4000, groups=[((0,), (1, 2)), ((2, 3), (4,))], **SMALL_BINS, **s, **e, **QUIET),
                seed=16)
            cases[f"sensitivity_stats_{key}"] = with_rng(lambda s, e=est: dei.sensitivity_stats(
                *SIGMOID, samples=500, **SMALL_BINS, **s, **e, **QUIET), seed=17)
            for errors in (False, True):
                cases[f"causal_plane_{key}_errors{errors}"] = with_rng(lambda s, e=est, errors=errors: dei.causal_plane(
                    plane_model(), torch.zeros((1, 6)), samples=3000, sensitivity_samples=300, **SMALL_BINS,
                    standard_errors=errors, **s, **e, **QUIET).to_dataframe().drop(columns=["seconds"]).to_dict("list"),
                    seed=18)
        for function in ("ei_parts_matrix", "pairwise_stats", "ei_parts"):
            cases[f"{function}_checkpointed_{tag}"] = lambda f=function, e=est: checkpointed(f, e)
    cases["ei_parts_extrapolated"] = lambda: dei.ei_parts(*RELU, extrapolate=True, seed=19, in_bins=4, out_bins=4,
                                                          **QUIET)
    cases["ei_parts_converged_default"] = lambda: dei.ei_parts(*SIGMOID, seed=20, **QUIET)
    return cases


def checkpointed(function, estimator):
    """(first run into a fresh checkpoint, the run resumed from it, a run after deleting half the
    tiles), tiled."""
    measure = getattr(dei, function)
    bound = (estimator["shuffles"] + 1) * (8192 + TILED) if estimator["estimator"] == "shuffle" else TILED
    args = dict(samples=3000, seed=21, memory_bound=bound, **SMALL_BINS, **estimator, **QUIET)
    with tempfile.TemporaryDirectory() as folder:
        first = measure(*SIGMOID, checkpoint=folder, **args)
        again = measure(*SIGMOID, checkpoint=folder, **args)
        tiles = sorted(name for name in os.listdir(folder) if name.startswith("tile."))
        for name in tiles[::2]:
            os.unlink(os.path.join(folder, name))
        resumed = measure(*SIGMOID, checkpoint=folder, **args)
        return first, again, resumed, len(tiles)


def plain(value):
    """value with dataclasses and named tuples made dicts and tuples (so pickles of two
    checkouts compare without their classes)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"__type__": type(value).__name__,
                **{f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    if isinstance(value, tuple):
        return tuple(plain(v) for v in value)
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, torch.Tensor):
        return value.numpy()
    return value


def measure_all():
    values = {}
    for name, call in estimator_cases().items():
        try:
            values[name] = plain(call())
        except Exception as error:  # a refusal is a value too
            values[name] = ("raised", type(error).__name__, str(error))
        print(name, flush=True)
    return values


def distributed(folder):
    """Each rank's pickled results of tests/distributed_worker.py's "cases" mode (2 gloo ranks),
    run in `folder` (emptied first: its checkpoints must start empty; the messages name it, so
    two snapshots compare when they used the same path)."""
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=ROOT + os.pathsep + os.path.join(ROOT, "tests"))
    worker = os.path.join(ROOT, "tests", "distributed_worker.py")
    processes = [subprocess.Popen([sys.executable, worker, "cases", str(rank), "2", port, folder], cwd=ROOT, env=env)
                 for rank in range(2)]
    for process in processes:
        if process.wait() != 0:
            raise RuntimeError(f"a distributed worker failed (exit {process.returncode})")
    results = []
    for rank in range(2):
        with open(os.path.join(folder, f"rank{rank}.pkl"), "rb") as stream:
            result = pickle.load(stream)
        for case in result["checkpoint"].values():
            case.pop("mtimes")  # times, not values
        results.append(plain(result))
    return results


def differences(a, b, where):
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return [f"{where}: keys differ: {sorted(set(a) ^ set(b))}"]
        return [d for k in a for d in differences(a[k], b[k], f"{where}[{k!r}]")]
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b) or type(a) is not type(b):
            return [f"{where}: {type(a).__name__} of {len(a)} vs {type(b).__name__} of {len(b)}"]
        return [d for k, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{where}[{k}]")]
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape or a.dtype != b.dtype:
            return [f"{where}: array {a.dtype}{a.shape} vs {b.dtype}{b.shape}"]
        if a.dtype.kind == "f":
            same = np.array_equal(a, b, equal_nan=True) and np.array_equal(np.signbit(a), np.signbit(b))
            return [] if same else [f"{where}: arrays differ (largest difference {np.nanmax(np.abs(a - b)):g})"]
        return [] if np.array_equal(a, b) else [f"{where}: arrays differ"]
    if isinstance(a, float) and isinstance(b, float):
        return [] if (a == b or (math.isnan(a) and math.isnan(b))) else [f"{where}: {a!r} != {b!r}"]
    return [] if a == b and type(a) is type(b) else [f"{where}: {a!r} != {b!r}"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", metavar="FILE")
    parser.add_argument("--distributed", metavar="DIR", help="with --write: also the two-rank worker's results")
    parser.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"))
    args = parser.parse_args()
    if args.compare:
        loaded = []
        for path in args.compare:
            with open(path, "rb") as stream:
                loaded.append(pickle.load(stream))
        both = [key for key in ("values", "distributed") if all(key in snapshot for snapshot in loaded)]
        found = [d for key in both for d in differences(loaded[0][key], loaded[1][key], key)]
        print("\n".join(found) or f"identical: {len(loaded[0]['values'])} cases"
              + (", and the distributed worker's results" if "distributed" in both else ""))
        sys.exit(1 if found else 0)
    if not args.write:
        parser.error("give --write FILE or --compare BEFORE AFTER")
    torch.set_num_threads(2)
    snapshot = {"values": measure_all()}
    if args.distributed:
        snapshot["distributed"] = distributed(args.distributed)
    with open(args.write, "wb") as stream:
        pickle.dump(snapshot, stream)


if __name__ == "__main__":
    main()
