"""The experiments (deep_ei_fast/apps/experiments): each run at a tiny size and what it writes
checked; the pieces with known answers (intervals, paired differences, the scales); the recurrent
transition against nn.RNN's own step and against a plain numpy plug-in MI on the same samples;
dropout off when measuring. No timing here: the default runs are timed in docs/experiments/."""
import csv
import math

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from deep_ei_fast.apps.experiments import PLANS, Options, run_experiment
from deep_ei_fast.apps.experiments.options import Scale, check_options
from deep_ei_fast.apps.experiments.recurrent_measurement import measure_transition
from deep_ei_fast.apps.experiments.recurrent_transition import fixed_input_transition, noise_input_transition
from deep_ei_fast.apps.experiments.runs import recording_epochs
from deep_ei_fast.apps.experiments.summary import interval, paired_difference
from deep_ei_fast.apps.networks import paper_network

from helpers import run_cli

TINY = Options(seeds=2, epochs=2, recordings=2, samples=1000, sensitivity_samples=50, progress=False)
# configurations x layers of each experiment (the tiny runs train 2 seeds and record epochs 0 and 2)
EXPECTED_ROWS_PER_RECORDING = {
    "paper": 3 * 3 + 3 * 4,  # iris 3 layers, digits 4, each with 3 activations
    "dropout": 4 * 3,  # rates 0, 0.1, 0.3, 0.5 of the 3-layer 25-32-32-5 network
    "memorization": 2 * 3,  # true and shuffled labels, 3 layers
    "depth": sum(d + 1 for d in (2, 3, 4, 5, 6)),
    "recurrent": 3,  # input held at -1, at +1, input as noise
}
COMMON_FILES = ("rows.csv", "summary.csv", "report.md", "accuracy.png")
REPORT_SECTIONS = ("## What was measured", "## What this shows and what it does not", "- command:",
                   "- machine:", "load average")


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    """Each experiment once at the tiny size: {name: (folder, Result)}."""
    results = {}
    for name in PLANS:
        folder = tmp_path_factory.mktemp(name)
        results[name] = folder, run_experiment(name, str(folder), TINY, log=lambda line: None)
    return results


def read_rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("name", list(EXPECTED_ROWS_PER_RECORDING))
def test_each_experiment_writes_its_folder(tiny_runs, name):
    folder, result = tiny_runs[name]
    for file in COMMON_FILES:
        assert (folder / file).stat().st_size > 0, file
    pngs, gifs = sorted(folder.glob("*.png")), sorted(folder.glob("*.gif"))
    assert any(p.name.startswith("plane") for p in pngs) and gifs
    for image in pngs + gifs:
        with Image.open(image) as opened:
            assert opened.size[0] > 100 and opened.size[1] > 100, image.name
    with Image.open(gifs[0]) as gif:
        assert gif.n_frames == 2  # one frame per recorded epoch
    assert set(result.files.values()) == {str(p) for p in (*pngs, *gifs)} | {
        str(folder / f) for f in ("rows.csv", "summary.csv", "report.md")}

    rows = read_rows(folder / "rows.csv")
    per_recording = EXPECTED_ROWS_PER_RECORDING[name]
    assert len(rows) == per_recording * 2 * 2  # 2 seeds x epochs 0 and 2
    assert {int(r["training_seed"]) for r in rows} == {0, 1}
    assert {int(r["seed"]) for r in rows} == {1000, 1001}  # the measurement's philox seed
    last = 16 if name == "paper" else 2  # the paper's iris trains 8 times the digits epochs
    assert {int(r["epoch"]) for r in rows} == ({0, 2, last} if name == "paper" else {0, 2})
    for column in ("ei", "ei_parts", "sensitivity", "degeneracy", "train_accuracy", "test_accuracy", "loss"):
        assert all(math.isfinite(float(r[column])) for r in rows), column
    assert {r["estimator"] for r in rows} == {"shuffle"} and {int(r["samples"]) for r in rows} == {1000}
    assert all(float(r["degeneracy"]) == pytest.approx(float(r["sensitivity"]) - float(r["ei"])) for r in rows)

    summary = read_rows(folder / "summary.csv")
    assert len(summary) == per_recording * 2 and {int(r["seeds"]) for r in summary} == {2}
    report = (folder / "report.md").read_text()
    for section in REPORT_SECTIONS:
        assert section in report, section
    assert "±" in report and "2 seeds, 2 epochs, 2 recordings per run" in report


def test_summary_is_the_mean_of_the_rows(tiny_runs):
    _, result = tiny_runs["dropout"]
    entry = result.entries[-1]
    values = [r["ei_parts"] for r in result.rows if r["dropout"] == entry["dropout"]
              and r["epoch"] == entry["epoch"] and r["layer"] == entry["layer"]]
    assert len(values) == 2 and entry["ei_parts"] == pytest.approx(np.mean(values))
    assert entry["ei_parts_ci95"] == pytest.approx(12.7062047 * np.std(values, ddof=1) / math.sqrt(2), rel=1e-6)


@pytest.mark.parametrize("name, key", [("dropout", "dropout"), ("memorization", "labels")])
def test_paired_configurations_start_identical(tiny_runs, name, key):
    """A seed's configurations share initial weights and measurement noise: at epoch 0 their planes
    are the same numbers (dropout is off when measuring; the labels are not used yet)."""
    _, result = tiny_runs[name]
    start = {}
    for r in result.rows:
        if r["epoch"] == 0:
            start.setdefault((r["training_seed"], r["layer"]), set()).add((r["ei"], r["ei_parts"], r["sensitivity"]))
    assert start and all(len(values) == 1 for values in start.values())
    assert len({r[key] for r in result.rows}) > 1


def test_dropout_is_off_when_measured():
    """A network with dropout measures as the same network without it (causal_plane measures in
    eval mode), and its modes are restored after."""
    from deep_ei_fast.apps.experiments.measurement import PlaneSettings, chain_ranges, linear_layers, measure_layers
    settings, sizes = PlaneSettings(2000, 50, 8), (25, 6, 6, 5)
    plain, dropped = paper_network(sizes, 3), paper_network(sizes, 3, dropout=0.5)
    dropped.train()
    got = [measure_layers(net, torch.zeros(1, 25), linear_layers(net), chain_ranges(sizes, "sigmoid"), settings, 7)
           for net in (plain, dropped)]
    for a, b in zip(*got):
        assert (a.ei, a.ei_parts, a.sensitivity) == (b.ei, b.ei_parts, b.sensitivity)
    assert all(m.training for m in dropped.modules())


def test_interval_known_values():
    mean, error, half, n = interval([1.0, 2.0, 3.0])
    assert (mean, n) == (2.0, 3)
    assert error == pytest.approx(1 / math.sqrt(3))
    assert half == pytest.approx(4.302652729911275 / math.sqrt(3))  # t(0.975, 2) s / sqrt(n)
    assert interval([5.0])[:1] == (5.0,) and math.isnan(interval([5.0])[2])
    assert math.isnan(interval([float("nan")])[0])
    # paired: the seeds' shared offset (10, 20, 30) cancels; only common seeds count
    mean, error, half, n = paired_difference({0: 11.0, 1: 21.5, 2: 30.5, 3: 99.0}, {0: 10.0, 1: 20.0, 2: 30.0})
    assert (mean, n) == (1.0, 3) and error == pytest.approx(0.5 / math.sqrt(3))


def test_scales_and_option_checks():
    default, full = Scale(3, 10, 5, 100, 10), Scale(5, 50, 26, 10_000_000, 5000)
    assert Options().scale(default, full) == default
    assert Options(full=True).scale(default, full) == full
    assert Options(full=True, seeds=2).scale(default, full) == Scale(2, 50, 26, 10_000_000, 5000)
    assert recording_epochs(300, 9) == [0, 5, 19, 42, 75, 117, 169, 230, 300]  # quadratic
    assert recording_epochs(2, 5) == [0, 1, 2]  # fewer epochs than recordings: each epoch once
    for bad, message in [(Options(seeds=0), "seeds must be a positive integer, got 0"),
                         (Options(recordings=1), "recordings must be at least 2"),
                         (Options(bins=1), "bins must be an integer of at least 2"),
                         (Options(device="tpu"), "device")]:
        with pytest.raises(ValueError, match=message):
            check_options(bad)
    with pytest.raises(ValueError, match="experiment 'sleep' is not one of paper, dropout"):
        run_experiment("sleep", "/nonexistent")


def test_out_dir_that_is_a_file_is_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match="exists and is not a folder"):
        run_experiment("recurrent", str(blocker), TINY)


@pytest.mark.parametrize("argv, message", [
    (["experiment", "sleep"], "invalid choice: 'sleep'"),
    (["experiment", "depth", "--seeds", "0"], "--seeds: expected a positive integer, got '0'"),
    (["experiment", "depth", "--recordings", "1"], "--recordings must be at least 2"),
    (["experiment", "depth", "--device", "tpu"], "--device must be"),
])
def test_experiment_command_bad_arguments_exit_2(capsys, argv, message):
    code, _, err = run_cli(capsys, *argv)
    assert code == 2 and message in err


def test_experiment_command_runs(capsys, tmp_path):
    out = tmp_path / "rec"
    code, stdout, _ = run_cli(capsys, "experiment", "recurrent", "--out", out, "--seeds", "1", "--epochs", "1",
                              "--recordings", "2", "--samples", "500", "--sensitivity-samples", "20", "--no-gif",
                              "--quiet")
    assert code == 0 and f"wrote {out / 'report.md'}" in stdout
    assert (out / "rows.csv").exists() and not list(out.glob("*.gif"))
    assert "1 seeds, 1 epochs" in (out / "report.md").read_text()


# -- the recurrent transition ------------------------------------------------------------------------

def elman(nonlinearity="tanh", bias=True, hidden=5, inputs=2, seed=0):
    torch.manual_seed(seed)
    rnn = nn.RNN(inputs, hidden, nonlinearity=nonlinearity, bias=bias, batch_first=True)
    with torch.no_grad():
        for p in rnn.parameters():
            p.mul_(3.0)  # weights large enough to use the activation's range
    return rnn


@pytest.mark.parametrize("nonlinearity, bias", [("tanh", True), ("tanh", False), ("relu", True)])
def test_transition_modules_are_the_rnn_step(nonlinearity, bias):
    rnn = elman(nonlinearity, bias)
    generator = torch.Generator().manual_seed(1)
    h = torch.rand(16, 5, generator=generator) * 2 - 1
    x = torch.rand(2, generator=generator) * 2 - 1
    with torch.no_grad():
        expected = rnn(x.expand(16, 1, 2), h.unsqueeze(0))[1][0]  # one step from h with input x
        fixed = fixed_input_transition(rnn, x)(h)
        noise = noise_input_transition(rnn)(torch.cat([h, x.expand(16, 2)], dim=1))
    torch.testing.assert_close(fixed, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(noise, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("module, message", [
    (nn.GRU(2, 4), "GRU: its step multiplies gates"),
    (nn.LSTM(2, 4), "LSTM: its step multiplies gates"),
    (nn.RNN(2, 4, num_layers=2), "one layer, one direction"),
    (nn.RNN(2, 4, bidirectional=True), "one layer, one direction"),
    (nn.Linear(2, 4), "rnn must be a torch.nn.RNN, got Linear"),
])
def test_transition_refuses_other_recurrent_modules(module, message):
    with pytest.raises(ValueError, match=message):
        noise_input_transition(module)


def numpy_vector_mi(x, y, in_range, out_range, bins):
    """Plug-in I(X; Y) in bits of whole vectors, deep-ei's vector binning (float32 codes, a sample
    kept only if every code is below bins), in numpy."""
    def codes(v, low, high):
        return np.floor((v - np.float32(low)) / np.float32(high - low + 0.0001) * np.float32(bins)).astype(np.int32)
    cx, cy = codes(x, *in_range), codes(y, *out_range)
    keep = (cx < bins).all(axis=1) & (cy < bins).all(axis=1)
    cx, cy = cx[keep], cy[keep]

    def entropy(c):
        counts = np.unique(c, axis=0, return_counts=True)[1].astype(np.float64)
        p = counts / counts.sum()
        return float(-(p * np.log2(p)).sum())
    return entropy(cx) + entropy(cy) - entropy(np.concatenate([cx, cy], axis=1))


def test_state_ei_with_input_noise_matches_numpy_plugin(dei):
    """I(h_t; h_{t+1}) with the input as noise: the engine's eis_between_groups on the transition
    module against numpy's plug-in MI of the same samples (deep-ei's torch draws)."""
    rnn = elman(hidden=3, inputs=2)
    transition = noise_input_transition(rnn)
    samples, batch = 20000, 500
    torch.manual_seed(5)
    with torch.no_grad():
        noise = torch.cat([2 * torch.rand((batch, 5)) - 1 for _ in range(samples // batch)])
        out = transition(noise)
    expected = numpy_vector_mi(noise[:, :3].numpy(), out.numpy(), (-1, 1), (-1, 1), 4)
    topology = dei.topology_of(transition, torch.zeros(1, 5))
    torch.manual_seed(5)
    got = dei.eis_between_groups(transition[0], topology, [((0, 1, 2), (0, 1, 2))], samples=samples,
                                 batch_size=batch, in_range=(-1, 1), out_range=(-1, 1), in_bins=4, out_bins=4,
                                 rng="torch", progress=False)[0]
    assert got == pytest.approx(expected, rel=1e-9)  # the same samples and formula: rounding only
    assert 0.5 < got < 3 * 2  # informative, below the state's 3 x log2(4) bits


def test_measured_transition_rows():
    """measure_transition's rows: one per held input and one with the input as noise; with W_ih = 0
    the input does nothing, so every row is the same map and, under one philox seed, the same
    counts: EI (the state group's vector EI for the noise row), EI_parts and sensitivity agree."""
    from deep_ei_fast.apps.experiments.measurement import PlaneSettings
    rnn = elman(hidden=4, inputs=1)
    with torch.no_grad():
        rnn.weight_ih_l0.zero_()
    rows = measure_transition(rnn, (-1.0, 1.0), PlaneSettings(5000, 200, 8), seed=11)
    assert [r.name for r in rows] == ["input held at -1", "input held at +1", "input as noise"]
    assert [r.layer for r in rows] == [0, 1, 2] and all(r.n_in == 4 for r in rows)
    for r in rows[1:]:
        assert r.ei == pytest.approx(rows[0].ei, rel=1e-9)
        assert r.ei_parts == pytest.approx(rows[0].ei_parts, rel=1e-9)
        assert r.sensitivity == pytest.approx(rows[0].sensitivity, rel=1e-9)
    assert rows[0].ei > 0.1 and rows[0].ei_standard_error is not None
    assert rows[2].ei_standard_error is None  # eis_between_groups gives no standard error
