"""The command line: exit codes and messages for bad arguments and files; each subcommand runs."""
import csv
import os
import subprocess
import sys

import pytest
import torch
import torch.nn as nn

from deep_ei_fast.apps.cli import EXIT_MODEL, EXIT_OK, EXIT_USAGE, main
from deep_ei_fast.apps.networks import paper_network as build_network

FAST = ["--samples", "2000", "--sensitivity-samples", "20"]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(capsys, *argv):
    """main(argv) -> (exit code, stdout, stderr); argparse's own exits are caught."""
    try:
        code = main(list(argv))
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


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
    ("batchnorm", ["--allow-pickle"], "(BatchNorm1d) is not supported"),
])
def test_unusable_model_files_exit_3(capsys, saved, tmp_path, key, extra, message):
    path = str(tmp_path / "missing.pt") if key == "missing" else str(saved[key])
    code, _, err = run(capsys, "measure", path, *extra, *FAST)
    assert code == EXIT_MODEL
    assert message in err and path in err


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
