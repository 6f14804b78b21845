"""CausalPlaneRecorder: rows equal direct causal_plane calls; the CSV resumes without loss or
duplication, also after a write cut short."""
import csv

import pytest
import torch
import torch.nn as nn

import deep_ei_fast.plane.recorder as recorder_module
from deep_ei_fast import CausalPlaneRecorder, causal_plane
from deep_ei_fast.apps.networks import paper_network as build_network
from deep_ei_fast.plane.rows import PLANE_COLUMNS

MEASURE = dict(samples=3000, sensitivity_samples=40, in_range=(0, 1), out_range=(0, 1), in_bins=8,
               out_bins=8, seed=4, progress=False)


def new_net():
    return build_network((4, 5, 3), seed=1)


def train_step(net, step):
    """A deterministic change of the weights standing in for an epoch of training."""
    with torch.no_grad():
        for module in net:
            if isinstance(module, nn.Linear):
                module.weight.mul_(1.0 + 0.5 * step)


def read_csv(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def without_seconds(row):
    return {k: v for k, v in row.items() if k != "seconds"}


def test_rows_equal_direct_calls(tmp_path):
    net = new_net()
    rec = CausalPlaneRecorder(net, torch.zeros((1, 4)), tmp_path / "run.csv", every=2, **MEASURE)
    expected = {}
    for epoch in range(5):
        train_step(net, epoch)
        rows = rec.record(epoch, loss=1.0 / (epoch + 1))
        if epoch % 2 == 0:
            expected[epoch] = causal_plane(net, torch.zeros((1, 4)), **MEASURE)
            assert len(rows) == 2
        else:
            assert rows == []
    assert rec.steps == [0, 2, 4]
    for row in rec.rows:
        direct = expected[row["epoch"]][row["layer"]]
        for column in ("ei", "ei_parts", "sensitivity", "degeneracy", "degeneracy_parts", "integration",
                       "samples", "module", "n_in", "n_out"):
            assert row[column] == getattr(direct, column)
        assert row["loss"] == 1.0 / (row["epoch"] + 1)
    on_disk = read_csv(tmp_path / "run.csv")
    assert list(on_disk[0].keys()) == ["epoch", "loss", *PLANE_COLUMNS]
    assert [float(r["ei"]) for r in on_disk] == [r["ei"] for r in rec.rows]


def test_resume_continues_without_loss_or_duplication(tmp_path, monkeypatch):
    path = tmp_path / "run.csv"
    net = new_net()
    first = CausalPlaneRecorder(net, torch.zeros((1, 4)), path, **MEASURE)
    for epoch in range(3):
        first.record(epoch, loss=float(epoch))
    before = read_csv(path)

    calls = []
    original = recorder_module.causal_plane
    monkeypatch.setattr(recorder_module, "causal_plane",
                        lambda *a, **k: calls.append(1) or original(*a, **k))
    resumed = CausalPlaneRecorder(net, torch.zeros((1, 4)), path, **MEASURE)
    assert resumed.steps == [0, 1, 2] and resumed.next_step == 3
    assert resumed.rows == first.rows  # read back exactly, types included
    for epoch in range(6):  # a training loop replayed from the start
        resumed.record(epoch, loss=float(epoch))
    assert len(calls) == 3  # only epochs 3, 4, 5 were measured
    after = read_csv(path)
    assert after[: len(before)] == before
    assert [int(r["epoch"]) for r in after] == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]


@pytest.mark.parametrize("cut", ["mid_line", "mid_step"])
def test_resume_after_a_cut_write_measures_the_step_again(tmp_path, cut):
    path = tmp_path / "run.csv"
    net = new_net()
    rec = CausalPlaneRecorder(net, torch.zeros((1, 4)), path, **MEASURE)
    for epoch in range(3):
        rec.record(epoch)
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    if cut == "mid_line":
        damaged = "".join(lines[:-1]) + lines[-1][:10]  # the last row half written
    else:
        damaged = "".join(lines[:-1])  # step 2 has one of its two rows
    path.write_text(damaged)
    resumed = CausalPlaneRecorder(net, torch.zeros((1, 4)), path, **MEASURE)
    assert resumed.steps == [0, 1]
    assert resumed.record(2)  # measured again
    # The same file as if nothing had been cut (but for the wall times of the new rows).
    assert [without_seconds(r) for r in read_csv(path)] == [without_seconds(r) for r in csv.DictReader(text.splitlines())]
    kept = 1 + 2 * 2  # the header and the two rows of epochs 0 and 1, kept byte for byte
    assert path.read_text().splitlines()[:kept] == text.splitlines()[:kept]


def test_metrics_must_stay_the_same(tmp_path):
    rec = CausalPlaneRecorder(new_net(), torch.zeros((1, 4)), tmp_path / "run.csv", **MEASURE)
    rec.record(0, loss=1.0)
    with pytest.raises(ValueError, match="metrics"):
        rec.record(1, accuracy=0.5)
    with pytest.raises(ValueError, match="clashes"):
        CausalPlaneRecorder(new_net(), torch.zeros((1, 4)), None, **MEASURE).record(0, ei=1.0)


def test_bad_arguments_and_foreign_files(tmp_path):
    with pytest.raises(ValueError, match="every"):
        CausalPlaneRecorder(new_net(), torch.zeros((1, 4)), every=0)
    with pytest.raises(ValueError, match="unit"):
        CausalPlaneRecorder(new_net(), torch.zeros((1, 4)), unit="ei")
    rec = CausalPlaneRecorder(new_net(), torch.zeros((1, 4)), None, **MEASURE)
    with pytest.raises(ValueError, match="step"):
        rec.record(-1)
    rec.record(3)
    with pytest.raises(ValueError, match="steps must increase"):
        rec.record(2)
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a causal-plane recording"):
        CausalPlaneRecorder(new_net(), torch.zeros((1, 4)), other, **MEASURE)


def test_recording_of_another_model_is_refused(tmp_path):
    path = tmp_path / "run.csv"
    rec = CausalPlaneRecorder(build_network((4, 5, 5, 3), seed=1), torch.zeros((1, 4)), path, **MEASURE)
    rec.record(0)
    rec.record(1)
    with pytest.raises(ValueError, match="another model"):
        CausalPlaneRecorder(new_net(), torch.zeros((1, 4)), path, **MEASURE)
