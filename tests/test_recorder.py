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
    assert ([without_seconds(r) for r in read_csv(path)]
            == [without_seconds(r) for r in csv.DictReader(text.splitlines())])
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


# -- issue 8: resuming only what this recorder would have written ----------------------------

def _recorded(tmp_path, net=None, steps=2, **measure):
    path = tmp_path / "run.csv"
    rec = CausalPlaneRecorder(net or build_network((4, 5, 5, 3), seed=1), torch.zeros((1, 4)), path,
                              **{**MEASURE, **measure})
    for step in range(steps):
        rec.record(step)
    return path


def test_same_row_count_other_widths_refused(tmp_path):
    # The case: 4-6-6-3 rows resumed by a 4-5-5-3 loop (3 rows per step in both).
    path = _recorded(tmp_path, build_network((4, 6, 6, 3), seed=1))
    with pytest.raises(ValueError) as exc:
        CausalPlaneRecorder(build_network((4, 5, 5, 3), seed=1), torch.zeros((1, 4)), path, **MEASURE)
    message = str(exc.value)
    assert str(path) in message and "line 2" in message
    assert "module = 'Linear 4->6'" in message and "'Linear 4->5'" in message


@pytest.mark.parametrize("change,column", [
    (dict(in_bins=16, out_bins=16), "in_bins"),
    (dict(out_bins=16), "out_bins"),
    (dict(in_range=(0, 2)), "in_high"),
    (dict(out_range=(-1, 1)), "out_low"),
    (dict(samples=4000), "samples"),
    (dict(sensitivity_samples=50), "sensitivity_samples"),
    (dict(seed=5), "seed"),
    (dict(rng="torch", seed=None), "rng"),
])
def test_other_settings_refused(tmp_path, change, column):
    # A 16-bin (or otherwise different) recording resumed with MEASURE's settings, and back.
    path = _recorded(tmp_path, **change)
    with pytest.raises(ValueError, match=rf"cannot resume: line 2 \(layer 0\) has {column} = "):
        CausalPlaneRecorder(build_network((4, 5, 5, 3), seed=1), torch.zeros((1, 4)), path, **MEASURE)
    again = CausalPlaneRecorder(build_network((4, 5, 5, 3), seed=1), torch.zeros((1, 4)), path,
                                **{**MEASURE, **change})
    assert again.steps == [0, 1]  # the same settings resume


def test_corrupted_numeric_cell_refused_with_its_line(tmp_path):
    path = _recorded(tmp_path)
    lines = path.read_text().split("\n")
    header = lines[0].split(",")
    cells = lines[5].split(",")
    cells[header.index("ei")] = "1.2.3"
    lines[5] = ",".join(cells)
    path.write_text("\n".join(lines))
    with pytest.raises(ValueError, match=r"line 6: column 'ei' holds '1\.2\.3'"):
        CausalPlaneRecorder(build_network((4, 5, 5, 3), seed=1), torch.zeros((1, 4)), path, **MEASURE)


def test_out_of_order_steps_refused_with_their_line(tmp_path):
    path = _recorded(tmp_path, steps=3)
    lines = path.read_text().split("\n")
    lines[1:4], lines[4:7] = lines[4:7], lines[1:4]  # epoch 1's rows before epoch 0's
    path.write_text("\n".join(lines))
    with pytest.raises(ValueError, match=r"line 5: epoch 0 comes after epoch 1"):
        CausalPlaneRecorder(build_network((4, 5, 5, 3), seed=1), torch.zeros((1, 4)), path, **MEASURE)
    lines = _recorded(tmp_path / "..", steps=1).read_text().split("\n")  # a fresh one-step file
    lines[1], lines[2] = lines[2], lines[1]  # layers out of order within a step
    path.write_text("\n".join(lines))
    with pytest.raises(ValueError, match=r"line 2: layer 1 where layer 0"):
        CausalPlaneRecorder(build_network((4, 5, 5, 3), seed=1), torch.zeros((1, 4)), path, **MEASURE)


@pytest.mark.parametrize("garbage", [bytes(range(256)) * 4, b"epoch,\x00\x00\x00\n"])
def test_binary_garbage_refused_with_the_file_name(tmp_path, garbage):
    path = tmp_path / "weights.bin"
    path.write_bytes(garbage)
    with pytest.raises(ValueError, match="not a text CSV file") as exc:
        CausalPlaneRecorder(new_net(), torch.zeros((1, 4)), path, **MEASURE)
    assert str(path) in str(exc.value)


def test_text_metrics_round_trip(tmp_path):
    path = tmp_path / "run.csv"
    notes = ['a,b\nc', 'say "hi"', "tab\there", "cr\rlf\r\n", "ünï"]
    rec = CausalPlaneRecorder(new_net(), torch.zeros((1, 4)), path, **MEASURE)
    for step, note in enumerate(notes[:3]):
        rec.record(step, note=note)
    resumed = CausalPlaneRecorder(new_net(), torch.zeros((1, 4)), path, **MEASURE)
    assert [r["note"] for r in resumed.rows[::2]] == notes[:3]
    for step, note in enumerate(notes[3:], start=3):
        resumed.record(step, note=note)
    again = CausalPlaneRecorder(new_net(), torch.zeros((1, 4)), path, **MEASURE)
    assert [r["note"] for r in again.rows[::2]] == notes
    assert again.rows == resumed.rows


def test_cut_inside_a_quoted_metric_is_dropped(tmp_path):
    path = tmp_path / "run.csv"
    rec = CausalPlaneRecorder(new_net(), torch.zeros((1, 4)), path, **MEASURE)
    rec.record(0, note="first")
    rec.record(1, note="x\ny")
    text = path.read_text()
    path.write_text(text[: text.rindex("x\ny") + 2])  # cut inside the last row's quoted note
    resumed = CausalPlaneRecorder(new_net(), torch.zeros((1, 4)), path, **MEASURE)
    assert resumed.steps == [0]  # step 1 lost a row: measured again
    assert path.read_text() == text[: len(path.read_text())]


@pytest.mark.parametrize("typo,suggestion", [("samles", "samples"), ("in_bin", "in_bins"), ("colour", None)])
def test_keyword_typo_caught_at_construction(typo, suggestion):
    with pytest.raises(TypeError) as exc:
        CausalPlaneRecorder(new_net(), torch.zeros((1, 4)), None, **{typo: 8})
    assert repr(typo) in str(exc.value)
    if suggestion:
        assert f"did you mean {suggestion!r}" in str(exc.value)
