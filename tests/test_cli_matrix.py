"""`deep-ei-fast matrix`: the files it writes hold pairwise_stats' numbers exactly, a run
interrupted mid-way resumes from its checkpoint, bad arguments exit 2 before measuring, and
under torchrun only rank 0 writes the same numbers."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import deep_ei_fast as deep_ei
from deep_ei_fast.apps.cli import EXIT_INTERRUPTED, EXIT_MODEL, EXIT_OK, EXIT_USAGE
from deep_ei_fast.apps.matrix_command import ARRAYS, METADATA
from deep_ei_fast.apps.networks import paper_network
from deep_ei_fast.engine.checkpoint import TILE_PATTERN, TileStore
from deep_ei_fast.engine.pair_counts import COUNTER_SET_BYTES

from helpers import run_cli as run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARCH = (6, 4, 3)
# 2000 bytes of counters: layer 0's 6 x 4 pairs split into several tiles.
OPTIONS = ["--arch", "6,4,3", "--samples", "3000", "--memory-bound", "2000", "--quiet"]
HUGE = ["--samples", "1000000000000"]  # never finishes: errors must come before measuring


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    net = paper_network(ARCH, seed=0)
    path = tmp_path_factory.mktemp("model") / "state.pt"
    torch.save(net.state_dict(), path)
    return net, path


def memory_bound(estimator):
    """OPTIONS' --memory-bound, or for the shuffle's two counter sets as many bytes each
    besides their bookkeeping."""
    return 2000 if estimator != "shuffle" else 2 * (COUNTER_SET_BYTES + 2000)


def expected_stats(net, index=0, estimator="plugin"):  # the command's default estimator
    layer = [m for m in net.modules() if isinstance(m, torch.nn.Linear)][index]
    top = deep_ei.topology_of(net, torch.zeros(1, ARCH[0]))
    return deep_ei.pairwise_stats(layer, top, samples=3000, in_bins=8, out_bins=8, seed=0,
                                  progress=False, memory_bound=memory_bound(estimator), estimator=estimator)


def assert_files_hold(out, stats):
    for file, field in ARRAYS.items():
        assert np.array_equal(np.load(out / file), getattr(stats, field)), file


@pytest.mark.parametrize("estimator", ["plugin", "shuffle"])
def test_matrix_writes_pairwise_stats_numbers(capsys, model, tmp_path, estimator):
    net, path = model
    out = tmp_path / "out"
    code, stdout, _ = run(capsys, "matrix", path, "--layer", 0, "--out", out, "--estimator", estimator,
                          *OPTIONS, "--memory-bound", memory_bound(estimator))
    assert code == EXIT_OK and "Linear 6->4" in stdout and str(out) in stdout
    stats = expected_stats(net, estimator=estimator)
    assert_files_hold(out, stats)
    meta = json.loads((out / METADATA).read_text())
    assert meta["layer"] == {"index": 0, "name": "0", "module": repr(net[0]), "n_in": 6, "n_out": 4}
    assert meta["totals"]["ei_parts"] == stats.ei_parts
    assert meta["totals"]["ei_parts_standard_error"] == stats.ei_parts_standard_error
    assert meta["totals"]["samples"] == 3000 and meta["totals"]["pairs"] == 24
    assert meta["arguments"]["estimator"] == estimator and meta["arguments"]["seed"] == 0
    assert meta["files"]["ei_parts_matrix.npy"] == {"shape": [6, 4], "dtype": "float64"}
    assert meta["library_version"] == deep_ei.__version__ and meta["world_size"] == 1
    assert meta["seconds"] >= 0


def test_interrupted_matrix_resumes_from_its_checkpoint(capsys, model, tmp_path, monkeypatch):
    net, path = model
    checkpoint, out = tmp_path / "checkpoint", tmp_path / "out"
    argv = ["matrix", path, "--layer", 0, "--out", out, "--checkpoint", checkpoint, *OPTIONS]
    original, saved = TileStore.save, []

    def interrupted(self, *args):
        if len(saved) == 3:
            raise KeyboardInterrupt  # Ctrl-C after 3 tiles
        original(self, *args)
        saved.append(args)
    with monkeypatch.context() as patch:
        patch.setattr(TileStore, "save", interrupted)
        code, _, err = run(capsys, *argv)
    assert code == EXIT_INTERRUPTED and "interrupted" in err and not out.exists()
    assert len([n for n in os.listdir(checkpoint) if TILE_PATTERN.match(n)]) == 3
    code, _, _ = run(capsys, *argv)
    assert code == EXIT_OK
    assert_files_hold(out, expected_stats(net))
    assert len([n for n in os.listdir(checkpoint) if TILE_PATTERN.match(n)]) > 3


def test_a_checkpoint_of_other_arguments_exits_2(capsys, model, tmp_path):
    net, path = model
    checkpoint = tmp_path / "checkpoint"
    code, _, _ = run(capsys, "matrix", path, "--layer", 0, "--out", tmp_path / "a", "--checkpoint",
                     checkpoint, *OPTIONS)
    assert code == EXIT_OK
    code, out, err = run(capsys, "matrix", path, "--layer", 0, "--out", tmp_path / "b", "--checkpoint",
                         checkpoint, *OPTIONS, "--seed", "1")
    assert code == EXIT_USAGE and "philox_seed is 0 there and 1 in this run" in err
    assert not (tmp_path / "b" / METADATA).exists()


@pytest.mark.parametrize("extra, message", [
    (["--layer", "2"], "--layer 2: the model has 2 measured layers (0: ('0', Linear 6->4), 1: ('2', Linear 4->3))"),
    (["--layer", "0", "--q", "1.5"], "--q must be in (0, 1), got 1.5"),
    (["--layer", "0", "--seed", "-1"], "--seed: expected an integer in [0, 2**64), got '-1'"),
    (["--layer", "0", "--bins", "70000"], "in_bins"),
    (["--layer", "0", "--device", "tpu"], "--device"),
    (["--layer", "0", "--memory-bound", "0"], "--memory-bound: expected a positive integer"),
])
def test_bad_arguments_exit_2_before_measuring(capsys, model, tmp_path, extra, message):
    net, path = model
    code, out, err = run(capsys, "matrix", path, "--arch", "6,4,3", "--out", tmp_path / "out", *extra, *HUGE)
    assert code == EXIT_USAGE and message in err and out == ""


def test_out_and_checkpoint_must_be_folders(capsys, model, tmp_path):
    net, path = model
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = run(capsys, "matrix", path, "--layer", 0, "--out", blocker, *OPTIONS)
    assert code == EXIT_USAGE and f"--out {str(blocker)!r} exists and is not a folder" in err
    code, _, err = run(capsys, "matrix", path, "--layer", 0, "--out", tmp_path / "o",
                       "--checkpoint", blocker, *OPTIONS)
    assert code == EXIT_USAGE and "--checkpoint" in err and "is not a folder" in err
    code, _, err = run(capsys, "matrix", path, "--layer", 0, "--out", tmp_path / "no" / "such", *OPTIONS)
    assert code == EXIT_USAGE and "does not exist" in err


def test_missing_model_exits_3(capsys, tmp_path):
    code, _, err = run(capsys, "matrix", tmp_path / "none.pt", "--layer", 0, "--out", tmp_path / "o", *OPTIONS)
    assert code == EXIT_MODEL and "no such file" in err


def test_torchrun_two_ranks_write_the_single_process_numbers(model, tmp_path):
    net, path = model
    out = tmp_path / "out"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "deep_ei_fast", "matrix", str(path), "--layer", "0", "--out", str(out), *OPTIONS]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert_files_hold(out, expected_stats(net))
    assert json.loads((out / METADATA).read_text())["world_size"] == 2


TORCHRUN_SCRIPT = """
import sys
import torch.distributed as dist
from deep_ei_fast.apps import cli, matrix_command
measure = matrix_command.pairwise_stats

def sharded(*args, process_group=None, **kwargs):  # records what each rank was given
    assert process_group is dist.group.WORLD and dist.get_world_size() == 2
    assert dist.get_backend() == "gloo"
    open({marks!r} + str(dist.get_rank()), "w").write("measured")
    return measure(*args, process_group=process_group, **kwargs)
matrix_command.pairwise_stats = sharded
sys.exit(cli.main(sys.argv[1:]))
"""


def test_torchrun_starts_the_process_group_and_only_rank_0_writes(model, tmp_path):
    net, path = model
    out, marks = tmp_path / "out", str(tmp_path / "rank")
    script = tmp_path / "launch.py"
    script.write_text(TORCHRUN_SCRIPT.format(marks=marks))
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(script), "matrix", str(path), "--layer", "0", "--out", str(out), *OPTIONS]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": ROOT})
    assert result.returncode == 0, result.stderr[-3000:]
    assert os.path.exists(marks + "0") and os.path.exists(marks + "1")  # both ranks measured
    assert result.stdout.count("wrote ") == 1  # one rank wrote
    assert_files_hold(out, expected_stats(net))
    assert json.loads((out / METADATA).read_text())["world_size"] == 2
