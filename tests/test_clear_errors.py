"""Issue 22's unclear errors, each now a clear one before any work: the argument (or layer) named,
with its value, instead of an error from deep inside (max() of an empty sequence, torch's
channel mismatch, AttributeError, a raw op's shape check, an OverflowError traceback), and
output paths checked before the measurement rather than after it."""
import os

import numpy as np
import pytest
import torch
import torch.nn as nn

import deep_ei_fast as dei
from deep_ei_fast.apps.cli import EXIT_USAGE
from deep_ei_fast.engine.noise_streams import PhiloxStream

from helpers import make_net, run_cli


@pytest.fixture
def no_samples(monkeypatch):
    def refuse(*args):
        raise AssertionError("samples were drawn before the refusal")
    monkeypatch.setattr(PhiloxStream, "generate", refuse)


@pytest.fixture
def layer():
    net, lin = make_net(4, 3, "sigmoid", seed=1)
    return net, lin, dei.topology_of(net, torch.zeros(1, 4))


FAST = dict(samples=1000, seed=0, progress=False)


def test_no_groups(layer, no_samples):
    net, lin, top = layer
    with pytest.raises(ValueError, match=r"groups must hold at least one \(in_indices, out_indices\) pair, got \[\]"):
        dei.eis_between_groups(lin, top, groups=[], **FAST)


def test_a_grouped_convolution_is_measured_over_every_input_channel():
    # The topology recorded weight.shape[1] = C_in / groups channels: torch's channel mismatch.
    conv = nn.Conv2d(4, 4, 3, groups=2)
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=torch.Generator().manual_seed(0)))
    model = nn.Sequential(conv, nn.Sigmoid())
    top = dei.topology_of(model, torch.zeros(1, 4, 5, 5))
    assert top.nodes[conv]["input"]["shape"] == (1, 4, 3, 3)
    matrix = dei.ei_parts_matrix(conv, top, samples=20000, in_bins=4, out_bins=4, seed=0, progress=False,
                                 estimator="shuffle")
    assert matrix.shape == (36, 4)
    # Input channels 0-1 feed outputs 0-1 only, 2-3 outputs 2-3: the other pairs are independent,
    # and the shuffle estimator gives them about 0 (its null removes the plug-in's bias; the
    # spread of an independent pair at 20000 samples and 4 x 4 bins is ~1e-4 bits).
    group = (np.arange(36) // 9 // 2)[:, None] == (np.arange(4) // 2)[None, :]
    assert np.abs(matrix[~group]).max() < 3e-3 and matrix[group].mean() > 30 * np.abs(matrix[~group]).mean()


def test_an_activation_that_returns_no_tensor(layer, no_samples):
    net, lin, top = layer
    with pytest.raises(TypeError, match=r"activation=.* returned list, not a tensor, for the output of Linear 4->3"):
        dei.ei_parts(lin, top, activation=lambda t: [t], **FAST)


def test_a_layer_whose_weight_changed_shape(no_samples):
    # It reached the raw op's "weight must be [3, 4]"; refused in Python now (LayerSpec.check_weights).
    net, lin = make_net(4, 3, "sigmoid", seed=1)
    top = dei.topology_of(net, torch.zeros(1, 4))
    lin.weight = nn.Parameter(torch.zeros(3, 5))  # more inputs than recorded
    with pytest.raises(ValueError, match=r"its weight is \[3, 5\], but the layer was resolved as 4 inputs "
                                         r"\(shape \(4,\)\) -> 3 outputs .* needs a weight of \[3, 4\]"):
        dei.ei_parts(lin, top, **FAST)
    lin.weight, lin.bias = nn.Parameter(torch.zeros(5, 4)), nn.Parameter(torch.zeros(5))  # more outputs
    with pytest.raises(ValueError, match=r"its weight is \[5, 4\], but the layer was resolved as 4 inputs"):
        dei.ei(lin, top, **FAST)


@pytest.mark.parametrize("x, message", [
    (["a", "b"], "x must be a 1-dimensional series of real numbers, got list"),
    (3.0, "x must be 1-dimensional, got shape"),
    (torch.tensor([1j, 2j]), "x must hold real numbers, got dtype torch.complex64"),
])
def test_mi_of_things_that_are_not_series(x, message):
    with pytest.raises((TypeError, ValueError), match=message):
        dei.MI(x, [0.5, 0.25])


def test_topology_of_something_that_is_not_a_module():
    with pytest.raises(TypeError, match="model must be a torch.nn.Module, got str"):
        dei.topology_of("model", torch.zeros(1, 4))


@pytest.mark.parametrize("where, message", [
    ("missing/run.csv", "the folder .*missing' does not exist"),
    ("/dev/full", "is not a regular file"),
    (".", "is a folder; give a file name"),
])
def test_the_recorder_checks_its_path_when_made(layer, tmp_path, where, message, no_samples):
    net, _, _ = layer
    path = where if where.startswith("/") else str(tmp_path / where)
    with pytest.raises(ValueError, match=f"path={path!r} {message}" if not where.startswith("missing")
                       else message):
        dei.CausalPlaneRecorder(net, torch.zeros(1, 4), path, samples=1000)
    recorder = dei.CausalPlaneRecorder(net, torch.zeros(1, 4), str(tmp_path / "new.csv"), samples=1000)
    assert recorder.path and not os.path.exists(tmp_path / "new.csv")  # checked, nothing left behind


@pytest.fixture
def saved(tmp_path):
    net, _ = make_net(4, 3, "sigmoid", seed=1)
    path = tmp_path / "model.pt"
    torch.save(net.state_dict(), path)
    return path


@pytest.mark.parametrize("argv, message", [
    (["--samples", "inf"], "argument --samples: expected a positive integer, got 'inf'"),
    (["--samples", "1e400"], "argument --samples: expected a positive integer, got '1e400'"),
    (["--samples", "nan"], "argument --samples: expected a positive integer, got 'nan'"),
    (["--rng", "torch", "--seed", str(2**70)], "argument --seed: expected an integer in \\[0, 2\\*\\*64\\)"),
    (["--seed", "-1"], "argument --seed: expected an integer in \\[0, 2\\*\\*64\\)"),
    (["--in-range", "0,inf"], "argument --in-range: expected finite LOW and HIGH"),
    (["--csv", "/dev/full"], "--csv='/dev/full' is not a regular file"),
])
def test_the_command_line_refuses_numbers_out_of_range(capsys, saved, argv, message, no_samples):
    code, out, err = run_cli(capsys, "measure", saved, "--arch", "4,3", "--bias", "--samples", "1000",
                             "--sensitivity-samples", "100", *argv)
    assert code == EXIT_USAGE
    last = err.strip().splitlines()[-1]
    assert "Traceback" not in err and __import__("re").search(message, last), err


def test_a_csv_that_fails_to_write_is_one_line(capsys, saved, tmp_path, monkeypatch):
    from deep_ei_fast.plane import rows

    def full(self, path=None):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(rows.CausalPlane, "to_csv", full)
    code, out, err = run_cli(capsys, "measure", saved, "--arch", "4,3", "--bias", "--samples", "1000",
                             "--sensitivity-samples", "100", "--csv", tmp_path / "rows.csv")
    assert code == EXIT_USAGE and "Traceback" not in err
    assert err.strip().splitlines() == [f"deep-ei-fast measure: error: --csv '{tmp_path / 'rows.csv'}': cannot "
                                        "write the rows (No space left on device); they are printed above"]
    assert "EI" in out  # the rows were printed
