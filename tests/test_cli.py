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
             "tensor": folder / "tensor.pt", "batchnorm": folder / "bn.pt", "conv": folder / "conv.pt",
             "named": folder / "named.pt", "unchained": folder / "unchained.pt"}
    torch.save(net.state_dict(), paths["state"])
    torch.save(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten()).state_dict(), paths["conv"])
    torch.save({"fc1.weight": torch.zeros(4, 6)}, paths["named"])
    torch.save({"0.weight": torch.zeros(4, 6), "2.weight": torch.zeros(3, 5)}, paths["unchained"])
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
    ("state", ["--arch", "6,5,3"], "does not fit --arch 6,5,3 (bias=False, as in the file)"),
    ("conv", [], "'0.weight' is [2, 1, 3, 3], not a Linear's [out, in] (a Conv2d's: its stride"),
    ("named", [], "its key 'fc1.weight' is not '<index>.weight'"),
    ("unchained", [], "'2.weight' takes 5 inputs but '0.weight' gives 4 outputs"),
    ("state", ["--bias"], "--bias, but the state dict has no 0.bias, 2.bias"),
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
    monkeypatch.setattr(saved_model, "mlp_from_layout", lambda *a, **k: built.append(a) or 1 / 0)
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
    assert "layer 0 ('0', Linear 6->4): input (-10, 10) [topology], output (0, 1) [topology]" in out
    assert "layer 1 ('2', Linear 4->3): input (0, 1) [topology], output (0, 1) [topology]" in out
    code, out, _ = run(capsys, "measure", str(saved["state"]), "--arch", "6,4,3", "--in-range", "0,1", *FAST)
    assert "layer 0 ('0', Linear 6->4): input (0, 1) [--in-range]" in out


def test_torch_rng_seeds_torch(capsys, saved):
    first = run(capsys, "measure", str(saved["state"]), "--arch", "6,4,3", "--rng", "torch", "--seed", "3", *FAST)
    second = run(capsys, "measure", str(saved["state"]), "--arch", "6,4,3", "--rng", "torch", "--seed", "3", *FAST)
    assert first[0] == EXIT_OK and first[1] == second[1]


def test_rng_has_help(capsys):
    _, out, _ = run(capsys, "measure", "--help")
    assert "deep-ei 0.7.0's own draws" in out


# -- issue 21: the CLI agrees with itself and with PyTorch's defaults ------------------------

def _default_mlp(seed=0):
    """What a user writes: nn.Linear with its default bias=True."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 4))


def _plane_of(model, **kwargs):
    import deep_ei_fast as dei
    return dei.causal_plane(model, torch.zeros(1, 8), samples=2000, sensitivity_samples=20, in_bins=8,
                            out_bins=8, seed=0, progress=False, **kwargs)


def test_state_dict_of_default_linears_is_read_with_its_biases(capsys, tmp_path):
    model = _default_mlp()
    path = tmp_path / "default.pt"
    torch.save(model.state_dict(), path)
    out_csv = tmp_path / "plane.csv"
    code, out, _ = run(capsys, "measure", path, "--activation", "relu", "--csv", out_csv, *FAST)
    assert code == EXIT_OK
    assert "a state dict of Linear layers 8,8,4 (biases: yes), each followed by relu" in out
    # The numbers are those of the user's own model (biases included), row for row, with the
    # activation --activation puts after every Linear (the last one's too).
    expected = _plane_of(nn.Sequential(*model, nn.ReLU()))
    rows = list(csv.DictReader(out_csv.open()))
    assert [float(r["ei"]) for r in rows] == [r.ei for r in expected]
    assert [float(r["sensitivity"]) for r in rows] == [r.sensitivity for r in expected]
    assert [r["name"] for r in rows] == ["0", "2"] and [int(r["layer"]) for r in rows] == [0, 1]


def test_state_dict_layout_keeps_each_linears_place(tmp_path):
    # Linear, ReLU, Dropout, Linear: the keys are 0 and 3; without biases on the second.
    from deep_ei_fast.apps.saved_model import load_model
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Dropout(0.1), nn.Linear(4, 2, bias=False))
    path = tmp_path / "gaps.pt"
    torch.save(model.state_dict(), path)
    loaded = load_model(str(path), activation="relu")
    assert isinstance(loaded.model[0], nn.Linear) and isinstance(loaded.model[3], nn.Linear)
    assert loaded.model[3].bias is None and loaded.input_shape == (1, 5)
    assert "5,4,2 (biases: some layers)" in loaded.description
    x = torch.rand(7, 5)
    model.eval()
    assert torch.equal(loaded.model(x), torch.relu(model(x)))  # relu also after the last layer


def test_one_numbering_of_layers_in_measure_and_matrix(capsys, tmp_path):
    path = tmp_path / "default.pt"
    torch.save(_default_mlp().state_dict(), path)
    code, out, _ = run(capsys, "measure", path, *FAST)
    table = [line.split() for line in out.splitlines() if line.strip().startswith(("0 ", "1 "))]
    assert [row[:4] for row in table] == [["0", "0", "Linear", "8->8"], ["1", "2", "Linear", "8->4"]]
    code, out, _ = run(capsys, "matrix", path, "--layer", "1", "--out", tmp_path / "m", "--samples", "2000",
                       "--quiet")
    assert code == EXIT_OK and "layer 1 ('2', Linear 8->4): EI_parts" in out
    code, _, err = run(capsys, "matrix", path, "--layer", "2", "--out", tmp_path / "m2")
    assert code == EXIT_USAGE
    assert "--layer 2: the model has 2 measured layers (0: ('0', Linear 8->8), 1: ('2', Linear 8->4))" in err


def test_every_option_that_help_mentions_is_accepted(capsys):
    import re

    from deep_ei_fast.apps.cli import build_parser
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    for command, sub in subparsers.choices.items():
        accepted = {flag for action in sub._actions for flag in action.option_strings}
        mentioned = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", sub.format_help()))
        assert mentioned <= accepted, (command, mentioned - accepted)
    code, out, _ = run(capsys, "measure", "--help")
    assert "--rng torch" in out  # measure has --rng, and its seed help says what it does


def test_help_lists_every_exit_code(capsys):
    from deep_ei_fast.apps.cli import EXIT_CODES
    _, out, _ = run(capsys, "--help")
    text = " ".join(out.split())
    for code, meaning in EXIT_CODES.items():
        assert f"{code} {' '.join(meaning.split())}" in text.replace("- ", "-")


def test_docs_cli_page_matches_the_parser():
    """docs/cli.rst shows each command's synopsis as synopsis() makes it from the parser, and
    the exit codes of EXIT_CODES."""
    import re

    from deep_ei_fast.apps.cli import EXIT_CODES, build_parser, synopsis
    page = open(os.path.join(ROOT, "docs", "cli.rst")).read()
    flat = " ".join(page.split())
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    for command in subparsers.choices:
        assert f"``{synopsis(parser, command)}``" in flat, f"docs/cli.rst: the synopsis of {command}"
    listed = [int(code) for code in re.findall(r"^- (\d+): ", page.split("Exit codes")[-1], re.M)]
    assert listed == list(EXIT_CODES)


def test_benchmark_summary_lines(capsys, monkeypatch):
    from deep_ei_fast.apps import plane_benchmark
    lines = []
    report, same = plane_benchmark.run(samples=2000, sensitivity_samples=20, repeats=1, torch_samples=200,
                                       log=lines.append)
    assert same is True
    assert "1 timing of each way" in lines[0] and "repeats" not in lines[0]
    assert "same values: None" not in "\n".join(lines)
    assert lines[1].endswith("; same values") and "rng=philox" in lines[1]
    assert lines[2].endswith("; not compared: fresh noise per call") and "rng=torch" in lines[2]
    assert "median" not in lines[1]  # one timing is not a median


# -- issue 16 (item 4, the CLI part) and 17 (item 3): any model, the model's device ------------

MODELS_MODULE = '''
import torch
from torch import nn


class ChainNet(nn.Module):
    """A chain, written as a class with its own forward."""

    def __init__(self, width=5):
        super().__init__()
        self.fc1 = nn.Linear(6, width)
        self.fc2 = nn.Linear(width, 3)

    def forward(self, x):
        return torch.sigmoid(self.fc2(torch.sigmoid(self.fc1(x))))


class ChainModules(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(6, 5), nn.Sigmoid(), nn.Linear(5, 3), nn.Sigmoid())

    def forward(self, x):
        return self.body(x)


class ResidualMLP(nn.Module):
    """x + fc2(relu(fc1(x))) on token inputs (1, 5, 12): not a chain."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(12, 20)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(20, 12)

    def forward(self, x):
        return x + self.fc2(self.act(self.fc1(x)))


def broken():
    raise RuntimeError("no GPU here")


NOT_CALLABLE = 3
'''


@pytest.fixture
def user_models(tmp_path, monkeypatch):
    """A module of the user's models in the current folder, importable as user_models_fh."""
    (tmp_path / "user_models_fh.py").write_text(MODELS_MODULE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("user_models_fh", None)


def test_measure_a_class_with_its_weights(capsys, user_models):
    from user_models_fh import ChainModules
    torch.manual_seed(3)
    trained = ChainModules()
    torch.save(trained.state_dict(), user_models / "weights.pt")
    code, out, err = run(capsys, "measure", "user_models_fh:ChainModules", "--weights", "weights.pt",
                         "--input-shape", "1,6", "--csv", "plane.csv", *FAST)
    assert code == EXIT_OK, err
    assert "user_models_fh:ChainModules: a class called with no arguments, with the weights of weights.pt" in out
    import deep_ei_fast as dei
    expected = dei.causal_plane(trained, torch.zeros(1, 6), samples=2000, sensitivity_samples=20,
                                in_bins=8, out_bins=8, seed=0, progress=False)
    rows = list(csv.DictReader((user_models / "plane.csv").open()))
    assert [r["name"] for r in rows] == ["body.0", "body.2"]
    assert [float(r["ei_parts"]) for r in rows] == [r.ei_parts for r in expected]


def test_measure_a_class_with_keyword_arguments_and_default_input_shape(capsys, user_models):
    code, out, _ = run(capsys, "matrix", "user_models_fh:ChainModules", "--layer", "1", "--out", "m",
                       "--samples", "2000", "--quiet")
    assert code == EXIT_OK and "layer 1 ('body.2', Linear 5->3)" in out
    from deep_ei_fast.apps.saved_model import load_model
    loaded = load_model("user_models_fh:ChainNet", model_kwargs={"width": 7})
    assert loaded.model.fc1.out_features == 7 and loaded.input_shape == (1, 6)
    assert 'a class called with --model-kwargs {"width": 7}, with its initial weights' in loaded.description


@pytest.mark.parametrize("argv, message", [
    (["no_such_module_fh:Net"], "cannot import no_such_module_fh (ModuleNotFoundError"),
    (["user_models_fh:Missing"], "user_models_fh has no Missing"),
    (["user_models_fh:NOT_CALLABLE"], "NOT_CALLABLE is a int, not a class or function"),
    (["user_models_fh:broken"], "raised RuntimeError: no GPU here"),
    (["user_models_fh:ChainNet", "--model-kwargs", '{"depth": 2}'], "calling it with --model-kwargs"),
    (["user_models_fh:ChainNet", "--weights", "none.pt"], "none.pt: no such file"),
    (["user_models_fh:ChainNet", "--arch", "6,5,3"], "--arch and --bias describe a state dict file"),
])
def test_class_models_that_cannot_be_used_exit_3(capsys, user_models, argv, message):
    code, _, err = run(capsys, "measure", *argv, *FAST)
    assert code == EXIT_MODEL and message in err and "Traceback" not in err


def test_class_weights_that_do_not_fit_exit_3(capsys, user_models):
    torch.save({"fc1.weight": torch.zeros(2, 2)}, user_models / "bad.pt")
    code, _, err = run(capsys, "measure", "user_models_fh:ChainNet", "--weights", "bad.pt", *FAST)
    assert code == EXIT_MODEL and "--weights bad.pt: does not fit user_models_fh:ChainNet" in err
    assert "Missing key(s)" in err


def test_model_kwargs_must_be_a_json_object(capsys):
    code, _, err = run(capsys, "measure", "m:C", "--model-kwargs", "[1]")
    assert code == EXIT_USAGE and "--model-kwargs: expected a JSON object" in err


def test_a_residual_model_loads_for_measure(user_models):
    from deep_ei_fast.apps.saved_model import load_model
    loaded = load_model("user_models_fh:ResidualMLP", input_shape=(1, 5, 12))
    assert loaded.input_shape == (1, 5, 12) and loaded.device_type == "cpu"
    assert [name for name, m in loaded.model.named_modules() if isinstance(m, nn.Linear)] == ["fc1", "fc2"]


def test_measure_a_residual_class_on_token_inputs(capsys, user_models):
    code, out, err = run(capsys, "measure", "user_models_fh:ResidualMLP", "--input-shape", "1,5,12",
                         "--out-range", "0,10", "--csv", "plane.csv", *FAST)
    assert code == EXIT_OK, err
    rows = list(csv.DictReader((user_models / "plane.csv").open()))
    assert [(r["name"], r["module"]) for r in rows] == [("fc1", "Linear 12->20"), ("fc2", "Linear 20->12")]
    assert "layer 0 ('fc1', Linear 12->20)" in out


def test_device_defaults_to_where_the_model_was_saved(capsys, saved, tmp_path, monkeypatch):
    from deep_ei_fast.apps import saved_model
    code, out, _ = run(capsys, "measure", str(saved["state"]), *FAST)
    assert code == EXIT_OK and "measured on cpu" in out
    # A file saved on a GPU (its tensors' locations say cuda): without a usable GPU the CLI
    # says so and measures on the CPU; --device still chooses.
    real_load = torch.load

    def load_from_cuda(path, *args, map_location=None, **kwargs):
        content = real_load(path, *args, **kwargs)
        for value in content.values():
            map_location(value.untyped_storage(), "cuda:0")
        return content
    monkeypatch.setattr(saved_model.torch, "load", load_from_cuda)
    assert saved_model.load_model(str(saved["state"])).device_type == "cuda"
    code, out, err = run(capsys, "measure", str(saved["state"]), *FAST)
    if torch.cuda.is_available() and __import__("deep_ei_fast").build_info().cuda:
        assert code == EXIT_OK and "measured on cuda" in out
    else:
        assert code == EXIT_OK and "the model's tensors are on cuda" in err and "measured on cpu" in out
    code, out, _ = run(capsys, "measure", str(saved["state"]), "--device", "cpu", *FAST)
    assert code == EXIT_OK and "measured on cpu" in out and "note:" not in out


def test_demo_draws_the_rotated_plane_with_labelled_metrics(capsys, tmp_path, monkeypatch):
    from deep_ei_fast.apps import demo
    calls = {}

    def recording(name, function):
        def wrapper(*args, **kwargs):
            calls[name] = kwargs
            return function(*args, **kwargs)
        return wrapper
    for name in ("plot_causal_plane", "plot_measures", "animate_causal_plane"):
        monkeypatch.setattr(demo, name, recording(name, getattr(demo, name)))
    code, out, _ = run(capsys, "demo", "--out", tmp_path, "--tasks", "iris", "--epochs", "1", "--every", "1", *FAST)
    assert code == EXIT_OK
    negative = [r for r in csv.DictReader((tmp_path / "iris.csv").open()) if float(r["degeneracy"]) < 0]
    assert negative  # the untrained network's, explained in the output:
    assert "Degeneracy is negative where EI exceeds the sensitivity" in out
    assert calls["plot_causal_plane"]["rotated"] is True and calls["animate_causal_plane"]["rotated"] is True
    assert calls["plot_measures"]["labels"]["test_accuracy"] == "test accuracy (fraction correct)"
