"""One rank of tests/test_distributed.py's gloo process group (run as a script, not collected).

    python3 tests/distributed_worker.py MODE RANK WORLD PORT OUT_DIR [TIMEOUT_S]

MODE "cases": every case of CASES is measured with process_group=WORLD and, on the same rank,
with process_group=None (the one-process reference); {name: (sharded, reference)} is pickled to
OUT_DIR/rank<RANK>.pkl, with "passes" (the vector tables' most passes, sharded and alone, per
case), "refused" and "checkpoint" (checkpointed(): runs sharing OUT_DIR/checkpoint_*).
MODE "killed": rank 1 exits inside the measurement; "stalled": rank 1 stops taking part (sleeps).
Rank 0 then pickles the error it got and the seconds it took.
"""
import contextlib
import datetime
import os
import pickle
import sys
import time

import torch
import torch.nn as nn

import deep_ei_fast as dei
from deep_ei_fast.engine import noise_streams, pair_counts, settings, vector_counts

# Small blocks (2048 samples), so that a few thousand samples already make several blocks for
# the ranks to deal (results never depend on the block size; the reference runs with it too).
noise_streams.BLOCK_LIMITS["cpu"] = (16 * 2**20, 2048)


def net(n_in, n_out, seed):
    g = torch.Generator().manual_seed(seed)
    layer = nn.Linear(n_in, n_out)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(n_out, n_in, generator=g) * 1.5)
        layer.bias.copy_(torch.randn(n_out, generator=g) * 0.3)
    model = nn.Sequential(layer, nn.Sigmoid())
    return layer, dei.topology_of(model, torch.zeros((1, n_in)))


TALL = net(8, 6, 0)  # pairs split by input rows
WIDE = net(5, 9, 1)  # pairs split by output columns
SINGLE_PAIR = net(1, 1, 2)  # rank 1 gets no pair and no input neuron
BROAD = net(100, 96, 20)  # vector keys of 10 + 10 words at 64 bins (more than 960 varying bits)
QUIET = dict(progress=False)
TILED = 4 * 65 * 65 * 4  # bytes: tiles of 3 pairs, codes regenerated (not cached)


def plane(group):
    g = torch.Generator().manual_seed(4)
    model = nn.Sequential(nn.Linear(6, 5), nn.Sigmoid(), nn.Linear(5, 3), nn.Tanh())
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
    rows = dei.causal_plane(model, torch.zeros((1, 6)), samples=6000, sensitivity_samples=300,
                            seed=5, progress=False, standard_errors=True, process_group=group).to_dataframe()
    return rows.drop(columns=["seconds"]).to_dict("list")


def seedless(group):
    # Each rank's generator differs; the reference alone draws from rank 0's.
    torch.manual_seed(100 + (0 if group is None else RANK))
    return dei.ei_parts_matrix(*TALL, samples=3000, progress=False, process_group=group)


GROUPS = [((0, 1, 2), (0, 1)), ((3, 4, 5, 6, 7), (2, 3, 4, 5))]
ROW_BYTES = vector_counts.ROW_COST * 8 * 3  # a table row's share of memory_bound (2-word keys)
# Vector tables of 500 rows a pass (a quarter of the ~2000-9000 distinct rows) force several
# passes: one process counts ranges of 500 rows, each rank its own of 145 rows
# (engine/merged_ranges.py); vector_and_pairwise_ei gives the vector table half its bound.
VECTOR_PASSES = 500 * ROW_BYTES
BROAD_ROW_BYTES = vector_counts.ROW_COST * 8 * 21  # 20-word keys


@contextlib.contextmanager
def default_memory_bound(bound):
    """vector_stats takes no memory_bound: the device's default bound is lowered instead."""
    saved, settings.DEFAULT_MEMORY_BOUND = settings.DEFAULT_MEMORY_BOUND, bound
    try:
        yield
    finally:
        settings.DEFAULT_MEMORY_BOUND = saved


def vector_stats_bounded(group, rows):
    # shuffle: the real and the null table share the bound, each part with its bookkeeping
    with default_memory_bound(2 * (rows * ROW_BYTES + vector_counts.TABLE_BYTES)):
        return outcome(lambda: dei.vector_stats(*WIDE, samples=6000, seed=17, in_bins=6, out_bins=6,
                                                process_group=group, **QUIET))


def outcome(call, *args):
    """call(*args)'s result, or the (type name, message) of the error it raised."""
    try:
        return call(*args)
    except Exception as error:
        return type(error).__name__, str(error)
CASES = {
    "ei_parts_matrix": lambda g: dei.ei_parts_matrix(*TALL, samples=9000, seed=1, process_group=g, **QUIET),
    "ei_parts_matrix_columns_shuffle": lambda g: dei.ei_parts_matrix(
        *WIDE, samples=9000, seed=2, estimator="shuffle", shuffles=2, process_group=g, **QUIET),
    "ei_parts_matrix_tiled": lambda g: dei.ei_parts_matrix(
        *TALL, samples=5000, seed=3, memory_bound=TILED, process_group=g, **QUIET),
    "ei_parts_matrix_miller_madow": lambda g: dei.ei_parts_matrix(
        *WIDE, samples=5000, seed=3, estimator="miller_madow", process_group=g, **QUIET),
    "ei_parts_matrix_seed_none": seedless,
    "ei_parts_matrix_single_pair": lambda g: dei.ei_parts_matrix(*SINGLE_PAIR, samples=4000, seed=4,
                                                                 process_group=g, **QUIET),
    "ei_parts_converged": lambda g: dei.ei_parts(*TALL, seed=5, process_group=g, **QUIET),
    "ei_parts_dynamic_tiled_shuffle": lambda g: dei.ei_parts(
        *WIDE, samples=5000, seed=6, out_range="dynamic", out_bins="dynamic", memory_bound=TILED,
        estimator="shuffle", process_group=g, **QUIET),
    "ei": lambda g: dei.ei(*TALL, samples=9000, seed=7, process_group=g, **QUIET),
    "ei_converged": lambda g: dei.ei(*net(3, 2, 3), seed=8, in_bins=4, out_bins=4, process_group=g, **QUIET),
    "ei_shuffle": lambda g: dei.ei(*WIDE, samples=9000, seed=9, estimator="shuffle", process_group=g, **QUIET),
    "eis_between_groups": lambda g: dei.eis_between_groups(
        *TALL, GROUPS, samples=9000, seed=10, in_bins=8, out_bins=8, process_group=g, **QUIET),
    "vector_and_pairwise_ei": lambda g: dei.vector_and_pairwise_ei(*TALL, samples=9000, seed=11,
                                                                   process_group=g, **QUIET),
    "vector_and_pairwise_ei_converged_miller_madow": lambda g: dei.vector_and_pairwise_ei(
        *net(3, 2, 5), seed=12, in_bins=4, out_bins=4, estimator="miller_madow", process_group=g, **QUIET),
    "sensitivity": lambda g: dei.sensitivity(*TALL, samples=400, seed=13, process_group=g, **QUIET),
    "sensitivity_matrix_shuffle_dynamic": lambda g: dei.sensitivity_matrix(
        *WIDE, samples=400, seed=14, out_range="dynamic", estimator="shuffle", process_group=g, **QUIET),
    "sensitivity_single_input": lambda g: dei.sensitivity_matrix(*SINGLE_PAIR, samples=400, seed=15,
                                                                 process_group=g, **QUIET),
    "pairwise_stats": lambda g: dei.pairwise_stats(*TALL, samples=6000, seed=16, process_group=g, **QUIET),
    "vector_stats": lambda g: dei.vector_stats(*WIDE, samples=6000, seed=17, in_bins=6, out_bins=6,
                                               process_group=g, **QUIET),
    "vector_stats_groups": lambda g: dei.vector_stats(*TALL, samples=6000, seed=18, groups=GROUPS,
                                                      process_group=g, **QUIET),
    "sensitivity_stats": lambda g: dei.sensitivity_stats(*WIDE, samples=300, seed=19, process_group=g, **QUIET),
    "causal_plane": plane,
    # The vector cases above again, counted in several passes (BOUNDED_TWINS in the test).
    "ei_vector_passes": lambda g: dei.ei(*TALL, samples=9000, seed=7, memory_bound=VECTOR_PASSES,
                                         process_group=g, **QUIET),
    "ei_shuffle_vector_passes": lambda g: dei.ei(*WIDE, samples=9000, seed=9, estimator="shuffle",
                                                 memory_bound=2 * VECTOR_PASSES, process_group=g, **QUIET),
    "eis_between_groups_vector_passes": lambda g: dei.eis_between_groups(
        *TALL, GROUPS, samples=9000, seed=10, in_bins=8, out_bins=8, memory_bound=len(GROUPS) * VECTOR_PASSES,
        process_group=g, **QUIET),
    "vector_and_pairwise_ei_vector_passes": lambda g: dei.vector_and_pairwise_ei(
        *TALL, samples=9000, seed=11, memory_bound=2 * VECTOR_PASSES, process_group=g, **QUIET),
    "ei_converged_vector_passes": lambda g: dei.ei(*net(3, 2, 3), seed=8, in_bins=4, out_bins=4,
                                                   memory_bound=64 * ROW_BYTES, process_group=g, **QUIET),
    # 5400 (null: 5978) distinct rows: 6000 fit one pass of one process (the standard error needs
    # the whole table), though each rank counts 1750 rows a pass; 1000 do not (refused alike).
    "vector_stats_vector_passes": lambda g: vector_stats_bounded(g, 6000),
    "vector_stats_over_capacity": lambda g: vector_stats_bounded(g, 1000),
    # A wide layer's 3000 distinct rows, unbounded and in passes of 500 rows (a rank: 145).
    "ei_broad": lambda g: dei.ei(*BROAD, samples=3000, seed=21, process_group=g, **QUIET),
    "ei_broad_vector_passes": lambda g: dei.ei(*BROAD, samples=3000, seed=21, memory_bound=500 * BROAD_ROW_BYTES,
                                               process_group=g, **QUIET),
}


def refused(group):
    """The ValueErrors of bad process-group arguments, as (type name, message)."""
    return {
        "rng_torch": outcome(lambda: dei.ei_parts(*TALL, samples=100, rng="torch", process_group=group, **QUIET)),
        "not_a_group": outcome(lambda: dei.ei(*TALL, samples=100, process_group="world", **QUIET)),
    }


def passes_made(call, *args):
    """(call(*args), the most passes over the samples any vector table made in it)."""
    made, original = [0], vector_counts.JointCodeCounts.marginal_counts

    def counted(self):
        marginals = original(self)
        if marginals is None:
            return None
        pieces = list(marginals[1])  # passes are known once the pieces are taken
        made[0] = max(made[0], self.passes)
        return marginals[0], iter(pieces)

    vector_counts.JointCodeCounts.marginal_counts = counted
    try:
        return call(*args), made[0]
    finally:
        vector_counts.JointCodeCounts.marginal_counts = original


def tiles_counted(call, *args):
    """(call(*args), how many pair tiles it counted)."""
    counted, original = [0], pair_counts.PairCounts.counted_tiles

    def counting(self, skip=()):
        for tile in original(self, skip):
            counted[0] += 1
            yield tile

    pair_counts.PairCounts.counted_tiles = counting
    try:
        return call(*args), counted[0]
    finally:
        pair_counts.PairCounts.counted_tiles = original


def tile_mtimes(folder):
    return {name: os.stat(os.path.join(folder, name)).st_mtime_ns
            for name in sorted(os.listdir(folder)) if name.startswith("tile.")}


CHECKPOINTED = {
    "ei_parts_matrix": lambda g, path: dei.ei_parts_matrix(
        *TALL, samples=5000, seed=3, memory_bound=TILED, checkpoint=path, process_group=g, **QUIET),
    "pairwise_stats": lambda g, path: dei.pairwise_stats(
        *WIDE, samples=4000, seed=20, memory_bound=TILED, checkpoint=path, process_group=g, **QUIET),
}


def checkpointed(group, out):
    """Each CHECKPOINTED call by the group into a directory the ranks share, then again from it
    (every tile finished), the one-process result without a checkpoint, and a one-process
    call on the group's directory (refused: its tiles are planned by region)."""
    found = {}
    for name, call in CHECKPOINTED.items():
        folder = os.path.join(out, f"checkpoint_{name}")
        first, counted_first = tiles_counted(call, group, folder)
        torch.distributed.barrier(group)  # every rank's tiles are on disk
        mtimes_first = tile_mtimes(folder)
        again, counted_again = tiles_counted(call, group, folder)
        torch.distributed.barrier(group)
        found[name] = {"first": first, "again": again, "alone": call(None, None),
                       "counted": (counted_first, counted_again),
                       "mtimes": (mtimes_first, tile_mtimes(folder)),
                       "alone_resumed": one_rank_at_a_time(group, lambda c=call, f=folder: outcome(c, None, f))}
    return found


def one_rank_at_a_time(group, call):
    """call() on each rank in turn: one run at a time may open a checkpoint directory (its
    lock refuses a second while the first holds it)."""
    for rank in range(torch.distributed.get_world_size(group)):
        if rank == RANK:
            result = call()
        torch.distributed.barrier(group)
    return result


def run_cases(group, out):
    results, passes = {}, {}
    for name, case in CASES.items():
        sharded, passes_sharded = passes_made(case, group)
        alone, passes_alone = passes_made(case, None)
        results[name], passes[name] = (sharded, alone), (passes_sharded, passes_alone)
    results["passes"] = passes
    results["refused"] = refused(group)
    results["checkpoint"] = checkpointed(group, out)
    with open(os.path.join(out, f"rank{RANK}.pkl"), "wb") as f:
        pickle.dump(results, f)


def run_failing_peer(group, out, mode):
    if RANK == 1:
        def leave(*args, **kwargs):
            if mode == "killed":
                os._exit(3)  # dies inside the measurement, without a word to its peers
            time.sleep(3600)  # stalled: alive, never reaching the next collective
        pair_counts.PairCounts.add = leave
    start = time.perf_counter()
    try:
        dei.ei_parts_matrix(*TALL, samples=200000, seed=1, process_group=group, **QUIET)
        outcome = None
    except Exception as error:
        outcome = (type(error).__name__, str(error))
    with open(os.path.join(out, f"rank{RANK}.pkl"), "wb") as f:
        pickle.dump({"error": outcome, "seconds": time.perf_counter() - start}, f)


if __name__ == "__main__":
    MODE, RANK, WORLD, PORT, OUT = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
    TIMEOUT = float(sys.argv[6]) if len(sys.argv) > 6 else 120.0
    torch.set_num_threads(1)
    torch.distributed.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{PORT}", rank=RANK, world_size=WORLD,
        timeout=datetime.timedelta(seconds=TIMEOUT))
    if MODE == "cases":
        run_cases(torch.distributed.group.WORLD, OUT)
        torch.distributed.destroy_process_group()
    else:
        run_failing_peer(torch.distributed.group.WORLD, OUT, MODE)
        os._exit(0)  # a group with a lost peer may hang in its teardown
