"""process_group: two local gloo processes (one thread each) against one process, bit for bit.

tests/distributed_worker.py runs every case on each rank twice, with the group and without it;
both ranks' sharded results must equal the one-process result exactly (== on floats, NaN equal
to NaN), except the one documented rule: an EI_parts standard error (a float sum over ranks of
Phi, docs/distributed.rst) agrees to 1e-12 relative. A rank that dies, or stops, makes the other
raise one clear RuntimeError within the group's timeout.
"""
import dataclasses
import os
import pickle
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

import deep_ei_fast as dei

from helpers import make_net

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKER = os.path.join(ROOT, "tests", "distributed_worker.py")
WORLD = 2
# Fields that are float sums over the ranks' Phi (the one documented non-bit-identical value).
SUMMED_OVER_RANKS = {"ei_parts_standard_error"}


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_group(tmp_path, mode, timeout_s=None, wait_s=300, others_wait_s=None):
    """Starts WORLD workers in `mode`; returns their pickled results (rank order), the
    processes (finished, or killed by us: rank 0 after wait_s, the others after others_wait_s
    more) and their output."""
    port = str(_free_port())
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    extra = [] if timeout_s is None else [str(timeout_s)]
    processes = [subprocess.Popen([sys.executable, WORKER, mode, str(rank), str(WORLD), port, str(tmp_path), *extra],
                                  cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                 for rank in range(WORLD)]
    outputs = []
    for rank, p in enumerate(processes):
        try:
            waited = wait_s if rank == 0 or others_wait_s is None else others_wait_s
            outputs.append(p.communicate(timeout=waited)[0].decode(errors="replace"))
        except subprocess.TimeoutExpired:
            p.kill()  # one of our own workers, by its handle
            outputs.append(p.communicate()[0].decode(errors="replace"))
    results = []
    for rank in range(WORLD):
        path = tmp_path / f"rank{rank}.pkl"
        results.append(pickle.loads(path.read_bytes()) if path.exists() else None)
    return results, processes, outputs


@pytest.fixture(scope="module")
def group_results(tmp_path_factory):
    results, processes, outputs = _run_group(tmp_path_factory.mktemp("distributed"), "cases")
    for rank, (p, result) in enumerate(zip(processes, results)):
        assert p.returncode == 0 and result is not None, f"rank {rank} failed:\n{outputs[rank][-4000:]}"
    return results


def _differences(expected, got, where="result", close=False):
    """Where `got` differs from `expected` (exactly; to 1e-12 relative under `close`)."""
    if dataclasses.is_dataclass(expected):
        return [d for f in dataclasses.fields(expected) for d in _differences(
            getattr(expected, f.name), getattr(got, f.name), f"{where}.{f.name}",
            close or f.name in SUMMED_OVER_RANKS)]
    if isinstance(expected, dict):
        if set(expected) != set(got):
            return [f"{where}: keys {sorted(expected)} != {sorted(got)}"]
        return [d for k in expected for d in _differences(expected[k], got[k], f"{where}[{k!r}]",
                                                          close or k in SUMMED_OVER_RANKS)]
    if isinstance(expected, (list, tuple)):
        if len(expected) != len(got):
            return [f"{where}: length {len(expected)} != {len(got)}"]
        return [d for k, (e, g) in enumerate(zip(expected, got)) for d in _differences(e, g, f"{where}[{k}]", close)]
    if isinstance(expected, (np.ndarray, float, np.floating)):
        e, g = np.asarray(expected), np.asarray(got)
        if e.shape != g.shape or e.dtype != g.dtype:
            return [f"{where}: {e.shape} {e.dtype} != {g.shape} {g.dtype}"]
        same = np.allclose(e, g, rtol=1e-12, atol=0, equal_nan=True) if close else np.array_equal(e, g, equal_nan=True)
        return [] if same else [f"{where}: {expected!r} != {got!r}"]
    return [] if expected == got else [f"{where}: {expected!r} != {got!r}"]


CASES = ["ei_parts_matrix", "ei_parts_matrix_columns_shuffle", "ei_parts_matrix_tiled",
         "ei_parts_matrix_miller_madow", "ei_parts_matrix_seed_none", "ei_parts_matrix_single_pair",
         "ei_parts_converged", "ei_parts_dynamic_tiled_shuffle", "ei", "ei_converged", "ei_shuffle",
         "eis_between_groups", "vector_and_pairwise_ei", "vector_and_pairwise_ei_converged_miller_madow",
         "sensitivity", "sensitivity_matrix_shuffle_dynamic", "sensitivity_single_input",
         "pairwise_stats", "vector_stats", "vector_stats_groups", "sensitivity_stats", "causal_plane",
         "ei_vector_passes", "ei_shuffle_vector_passes", "eis_between_groups_vector_passes",
         "vector_and_pairwise_ei_vector_passes", "ei_converged_vector_passes",
         "vector_stats_vector_passes", "vector_stats_over_capacity", "ei_broad", "ei_broad_vector_passes"]
# Each case counted in several passes over the samples (a small memory_bound) and its case
# without a bound: the same numbers, bit for bit.
BOUNDED_TWINS = {"ei_vector_passes": "ei", "ei_shuffle_vector_passes": "ei_shuffle",
                 "eis_between_groups_vector_passes": "eis_between_groups",
                 "vector_and_pairwise_ei_vector_passes": "vector_and_pairwise_ei",
                 "ei_converged_vector_passes": "ei_converged", "vector_stats_vector_passes": "vector_stats",
                 "ei_broad_vector_passes": "ei_broad"}


@pytest.mark.parametrize("case", CASES)
def test_every_rank_returns_the_one_process_result(group_results, case):
    for rank, results in enumerate(group_results):
        sharded, alone = results[case]
        assert _differences(alone, sharded) == [], f"rank {rank}"


def test_the_cases_measure_something(group_results):
    """Guards the comparison above against vacuous cases (all-zero matrices, empty tables)."""
    rank0 = group_results[0]
    assert np.asarray(rank0["ei_parts_matrix"][1]).min() > 0
    assert rank0["ei"][1] > 0 and all(v > 0 for v in rank0["eis_between_groups"][1])
    assert rank0["ei_broad"][1] > 10  # 3000 samples of 100 inputs: close to log2(3000)
    assert rank0["sensitivity"][1] > 0 and rank0["pairwise_stats"][1].ei_parts_standard_error > 0
    assert set(CASES) == set(rank0) - {"refused", "passes", "checkpoint"}


@pytest.mark.parametrize("bounded", sorted(BOUNDED_TWINS))
def test_vector_tables_in_several_passes_give_the_unbounded_result(group_results, bounded):
    """Sharded, the tables are counted in key ranges merged over the ranks
    (engine/merged_ranges.py); each rank's own table holds fewer rows a pass than one
    process's, so it makes more passes, yet every count vector is the one-process one."""
    for rank, results in enumerate(group_results):
        sharded, alone = results[bounded]
        unbounded = results[BOUNDED_TWINS[bounded]][1]
        assert _differences(unbounded, sharded) == [] and _differences(unbounded, alone) == [], f"rank {rank}"
        passes_sharded, passes_alone = results["passes"][bounded]
        assert passes_sharded > 2 and passes_sharded >= passes_alone, (rank, passes_sharded, passes_alone)
        # vector_stats needs its table whole: its bound fits one process's table in one pass
        assert passes_alone == 1 if bounded.startswith("vector_stats") else passes_alone > 2


def test_a_standard_error_of_a_table_over_one_pass_is_refused_alike(group_results):
    for results in group_results:
        sharded, alone = results["vector_stats_over_capacity"]
        assert sharded == alone and sharded[0] == "ValueError", sharded
        assert "memory_bound=" in sharded[1] and "standard error needs the whole" in sharded[1]


@pytest.mark.parametrize("function", ["ei_parts_matrix", "pairwise_stats"])
def test_a_shared_checkpoint_resumes_every_rank_without_counting(group_results, function):
    """Two ranks save their own regions' tiles in one directory; the same call again loads
    them (no tile counted, no file rewritten) and returns the identical result, equal to one
    process's; one process is refused that directory (its tiles would be planned otherwise)."""
    for rank, results in enumerate(group_results):
        run = results["checkpoint"][function]
        assert _differences(run["alone"], run["first"]) == [], f"rank {rank}"
        assert pickle.dumps(run["first"]) == pickle.dumps(run["again"]), f"rank {rank}"  # every bit
        counted_first, counted_again = run["counted"]
        assert counted_first > 1 and counted_again == 0, (rank, run["counted"])
        before, after = run["mtimes"]
        assert len(before) > counted_first and before == after  # both ranks' tiles, untouched
        kind, message = run["alone_resumed"]
        assert kind == "ValueError" and "process_group_size is 2 there and 1 in this run" in message


def test_bad_group_arguments_are_refused(group_results):
    for results in group_results:
        refused = results["refused"]
        assert refused["rng_torch"][0] == "ValueError" and "rng='torch'" in refused["rng_torch"][1]
        assert refused["not_a_group"][0] == "ValueError" and "process_group" in refused["not_a_group"][1]
        assert set(refused) == {"rng_torch", "not_a_group"}


def test_without_distributed_a_group_is_refused():
    net, layer = make_net(3, 2)
    with pytest.raises(ValueError, match="process_group=.*not initialized"):
        dei.ei(layer, dei.topology_of(net, torch.zeros((1, 3))), samples=10, process_group=object(), progress=False)


@pytest.mark.parametrize("mode, timeout_s", [("killed", 20), ("stalled", 6)])
def test_a_lost_rank_stops_the_other_within_the_timeout(tmp_path, mode, timeout_s):
    """Rank 1 dies (killed) or stops taking part (stalled) inside ei_parts_matrix; rank 0 must
    raise the RuntimeError naming itself, the operation and the timeout, within timeout_s
    (plus 15 s for the rest of its own work and a loaded machine)."""
    start = time.perf_counter()
    results, processes, outputs = _run_group(tmp_path, mode, timeout_s, wait_s=timeout_s + 60, others_wait_s=5)
    assert results[0] is not None, outputs[0][-4000:]
    kind, message = results[0]["error"]
    assert kind == "RuntimeError"
    assert "rank 0 of 2" in message and f"timeout of {timeout_s} s" in message and "gathering" in message
    assert results[0]["seconds"] < timeout_s + 15
    if mode == "killed":
        assert processes[1].returncode == 3
    assert time.perf_counter() - start < timeout_s + 60
