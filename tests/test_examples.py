"""The example scripts run (with tiny settings) and record what their docstrings say."""
import csv
import importlib.util
import os

import pytest

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def load(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(EXAMPLES, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_transformer_digits_records_one_row_per_linear(tmp_path, capsys):
    pytest.importorskip("sklearn")
    example = load("transformer_digits")
    out = tmp_path / "plane.csv"
    example.main(["--epochs", "1", "--every", "1", "--samples", "2000", "--sensitivity-samples", "20",
                  "--out", str(out)])
    rows = list(csv.DictReader(out.open()))
    names = ["embed", "encoder.linear1", "encoder.linear2", "head"]
    assert [(r["epoch"], r["name"]) for r in rows] == [(str(e), n) for e in (0, 1) for n in names]
    by_name = {r["name"]: r for r in rows[:4]}
    assert by_name["encoder.linear1"]["module"] == "Linear 16->32"
    assert (float(by_name["encoder.linear1"]["out_low"]), float(by_name["encoder.linear1"]["out_high"])) == (0, 10)
    assert (float(by_name["encoder.linear2"]["in_low"]), float(by_name["encoder.linear2"]["out_low"])) == (0, -10)
    assert "wrote" in capsys.readouterr().out
    # run again: the recording resumes and measures nothing new
    resumed = example.main(["--epochs", "1", "--every", "1", "--samples", "2000", "--sensitivity-samples", "20",
                            "--out", str(out)])
    assert resumed.steps == [0, 1]
