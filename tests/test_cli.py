"""The command line: exit codes and messages for bad arguments and files; each subcommand runs."""
import csv
import os
import subprocess
import sys

import pytest
import torch
import torch.nn as nn

from deep_ei_fast.apps.cli import EXIT_MODEL, EXIT_OK, EXIT_USAGE
from deep_ei_fast.apps.networks import paper_network as build_network

from helpers import run_cli as run

FAST = ["--samples", "2000", "--sensitivity-samples", "20"]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    net = build_network((6, 4, 3), seed=0)
    paths = {"state": folder / "state.pt", "module": folder / "module.pt", "text": folder / "text.pt",
             "tensor": folder / "tensor.pt", "batchnorm": folder / "bn.pt"}
    torch.save(net.state_dict(), paths["state"])
    torch.save(net, paths["module"])
    paths["text"].write_text("not a model")
    torch.save(torch.zeros(3), paths["tensor"])
    torch.save(nn.Sequential(nn.Linear(6, 4), nn.BatchNorm1d(4), nn.Linear(4, 3)), paths["batchnorm"])
    return paths


@pytest.mark.parametrize("command", [[], ["demo"], ["measure"], ["benchmark"]])
def test_help(capsys, command):
    code, out, _ = run(capsys, *command, "--help")
    assert code == EXIT_OK and "usage: deep-ei-fast" in out


def test_module_entry_point_runs():
    result = subprocess.run([sys.executable, "-m", "deep_ei_fast", "--help"], capture_output=True,
                            text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0 and "demo" in result.stdout and "measure" in result.stdout


@pytest.mark.parametrize("argv, message", [
    ([], "required"),
    (["frobnicate"], "invalid choice"),
    (["measure", "x.pt", "--samples", "0"], "--samples: expected a positive integer, got '0'"),
    (["measure", "x.pt", "--samples", "1.5"], "--samples: expected a positive integer"),
    (["measure", "x.pt", "--in-range", "1,0"], "--in-range: expected LOW < HIGH, got '1,0'"),
    (["measure", "x.pt", "--arch", "25,a"], "--arch: expected comma-separated integers"),
    (["measure", "x.pt", "--activation", "gelu"], "invalid choice: 'gelu'"),
    (["demo", "--tasks", "mnist"], "--tasks: unknown task(s) ['mnist']"),
    (["demo", "--epochs", "-2"], "--epochs: expected a positive integer"),
])
def test_bad_arguments_exit_2(capsys, argv, message):
    code, _, err = run(capsys, *argv)
    assert code == EXIT_USAGE
    assert message in err


def test_bad_bins_is_a_usage_error(capsys, saved):
    code, _, err = run(capsys, "measure", str(saved["state"]), "--arch", "6,4,3", "--bins", "70000", *FAST)
    assert code == EXIT_USAGE and "in_bins" in err and "70000" in err


@pytest.mark.parametrize("key, extra, message", [
    ("missing", [], "no such file"),
    ("text", [], "not a file saved with torch.save"),
    ("tensor", [], "holds a Tensor"),
    ("state", [], "holds a state dict; describe its network with --arch"),
    ("state", ["--arch", "6,5,3"], "does not fit --arch 6,5,3"),
    ("state", ["--arch", "6,4,3", "--bias"], "does not fit --arch 6,4,3 (bias=True)"),
    ("module", [], "pass --allow-pickle"),
])
def test_unusable_model_files_exit_3(capsys, saved, tmp_path, key, extra, message):
    path = str(tmp_path / "missing.pt") if key == "missing" else str(saved[key])
    code, _, err = run(capsys, "measure", path, *extra, *FAST)
    assert code == EXIT_MODEL
    assert message in err and path in err


def test_a_model_that_is_not_a_chain_is_measured(capsys, saved):
    # Linear, BatchNorm1d, Linear: each Linear measured on its own (the library traces the model)
    code, out, _ = run(capsys, "measure", str(saved["batchnorm"]), "--allow-pickle", *FAST)
    assert code == EXIT_OK and "Linear 6->4" in out and "Linear 4->3" in out


def test_a_folder_is_not_a_model(capsys, tmp_path):
    code, _, err = run(capsys, "measure", str(tmp_path), *FAST)
    assert code == EXIT_MODEL and "not a file" in err


@pytest.mark.parametrize("source", ["state", "module"])
def test_measure_prints_and_writes_csv(capsys, saved, tmp_path, source):
    extra = ["--arch", "6,4,3"] if source == "state" else ["--allow-pickle"]
    out_csv = tmp_path / "plane.csv"
    code, out, _ = run(capsys, "measure", str(saved[source]), *extra, "--in-range", "0,1",
                       "--out-range", "0,1", "--csv", str(out_csv), *FAST)
    assert code == EXIT_OK and "Linear 6->4" in out and "Linear 4->3" in out
    rows = list(csv.DictReader(out_csv.open()))
    assert [r["module"] for r in rows] == ["Linear 6->4", "Linear 4->3"]
    assert all(float(r["samples"]) == 2000 for r in rows)


def test_demo_writes_every_file(capsys, tmp_path):
    out = tmp_path / "demo"
    code, stdout, _ = run(capsys, "demo", "--out", str(out), "--tasks", "iris", "--epochs", "2",
                          "--every", "1", *FAST)
    assert code == EXIT_OK
    for name in ("iris.csv", "iris_plane.png", "iris_measures.png", "iris_plane.gif"):
        assert (out / name).stat().st_size > 0, name
    rows = list(csv.DictReader((out / "iris.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert "test acc" in stdout and "Linear 4->5" in stdout
    assert "loss nan" not in stdout and "epoch     0: loss " in stdout  # the initial loss
    assert float(rows[0]["loss"]) > 0
    assert "iris: final train accuracy " in stdout and ", test accuracy " in stdout


def test_demo_out_must_be_a_folder(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = run(capsys, "demo", "--out", str(blocker), "--epochs", "1", *FAST)
    assert code == EXIT_USAGE and "--out" in err


def test_benchmark_reports_agreement(capsys, tmp_path):
    report = tmp_path / "bench.md"
    code, out, _ = run(capsys, "benchmark", "--samples", "3000", "--sensitivity-samples", "20",
                       "--repeats", "1", "--torch-samples", "500", "--output", str(report))
    assert code == EXIT_OK
    text = report.read_text()
    assert "| philox | 3,000 | causal_plane |" in text and "| torch | 500 | causal_plane |" in text
    assert "in both (relative 1e-12): True" in text


# -- issue 8 ---------------------------------------------------------------------------------

HUGE = ["--samples", "1000000000000", "--sensitivity-samples", "1000000000"]  # never finishes


@pytest.mark.parametrize("where", ["folder", "missing_folder"])
def test_bad_csv_path_exits_2_before_measuring(capsys, saved, tmp_path, where):
    target = tmp_path if where == "folder" else tmp_path / "nowhere" / "plane.csv"
    code, out, err = run(capsys, "measure", str(saved["state"]), "--arch", "6,4,3", "--csv", str(target), *HUGE)
    assert code == EXIT_USAGE and "--csv" in err and str(target if where == "folder" else target.parent) in err
    assert out == ""  # nothing measured


@pytest.mark.parametrize("shape", ["1,7", "2,3,4"])
def test_wrong_input_shape_exits_3_without_traceback(capsys, saved, shape):
    code, _, err = run(capsys, "measure", str(saved["state"]), "--arch", "6,4,3", "--input-shape", shape, *HUGE)
    assert code == EXIT_MODEL and f"--input-shape {shape} does not fit the model" in err
    assert "Traceback" not in err


def test_arch_checked_against_the_state_dict_before_building(capsys, saved, monkeypatch):
    from deep_ei_fast.apps import saved_model
    built = []
    monkeypatch.setattr(saved_model, "build_mlp", lambda *a, **k: built.append(a) or 1 / 0)
    code, _, err = run(capsys, "measure", str(saved["state"]), "--arch", "30000,30000", *HUGE)
    assert code == EXIT_MODEL and not built  # refused before a 3.6 GB model was built
    # The whole message: every key and shape that differs, not torch's first line.
    assert "0.weight is [4, 6] in the file, [30000, 30000] for --arch" in err
    assert "unexpected 2.weight" in err


def test_state_dict_mismatch_message_is_whole(capsys, saved):
    code, _, err = run(capsys, "measure", str(saved["state"]), "--arch", "6,5,2", *FAST)
    assert code == EXIT_MODEL
    assert "0.weight is [4, 6] in the file, [5, 6] for --arch" in err
    assert "2.weight is [3, 4] in the file, [2, 5] for --arch" in err
    assert not err.rstrip().endswith(":")


@pytest.fixture(scope="module")
def pickled(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pickled")
    net = build_network((6, 4, 3), seed=0)
    legacy = folder / "legacy.pt"
    torch.save(net, legacy, _use_new_zipfile_serialization=False)
    archive = folder / "archive.zip"
    import zipfile
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("readme.txt", "not torch")
    return {"legacy": legacy, "zip": archive}


def test_pickle_classification_by_file_layout(capsys, saved, pickled, monkeypatch):
    code, _, err = run(capsys, "measure", str(pickled["legacy"]), *FAST)
    assert code == EXIT_MODEL and "pass --allow-pickle" in err
    code, out, _ = run(capsys, "measure", str(pickled["legacy"]), "--allow-pickle", *FAST)
    assert code == EXIT_OK and "Linear 6->4" in out
    code, _, err = run(capsys, "measure", str(pickled["zip"]), *FAST)
    assert code == EXIT_MODEL and "not a file saved with torch.save" in err
    # torch's message texts do not matter: a weights-only refusal worded otherwise still
    # classifies a module file as pickled and a text file as not torch's.
    import pickle
    real_load = torch.load

    def load(path, *args, weights_only=True, **kw):
        if weights_only:
            raise pickle.UnpicklingError("reworded by a future torch")
        return real_load(path, *args, weights_only=False, **kw)
    monkeypatch.setattr(torch, "load", load)
    code, _, err = run(capsys, "measure", str(saved["module"]), *FAST)
    assert code == EXIT_MODEL and "pass --allow-pickle" in err
    code, _, err = run(capsys, "measure", str(saved["text"]), *FAST)
    assert code == EXIT_MODEL and "not a file saved with torch.save" in err


def test_measure_prints_the_ranges_used(capsys, saved):
    code, out, _ = run(capsys, "measure", str(saved["state"]), "--arch", "6,4,3", *FAST)
    assert code == EXIT_OK
    assert "0: Linear 6->4: input (-10, 10) [topology], output (0, 1) [topology]" in out
    assert "2: Linear 4->3: input (0, 1) [topology], output (0, 1) [topology]" in out
    code, out, _ = run(capsys, "measure", str(saved["state"]), "--arch", "6,4,3", "--in-range", "0,1", *FAST)
    assert "0: Linear 6->4: input (0, 1) [--in-range]" in out


def test_torch_rng_seeds_torch(capsys, saved):
    first = run(capsys, "measure", str(saved["state"]), "--arch", "6,4,3", "--rng", "torch", "--seed", "3", *FAST)
    second = run(capsys, "measure", str(saved["state"]), "--arch", "6,4,3", "--rng", "torch", "--seed", "3", *FAST)
    assert first[0] == EXIT_OK and first[1] == second[1]


def test_rng_has_help(capsys):
    _, out, _ = run(capsys, "measure", "--help")
    assert "deep-ei 0.7.0's own draws" in out
