"""samples=None with max_samples: deep-ei's doubling rule, stopped at max_samples with a
ConvergenceWarning and the last estimate; unchanged when the rule is met first."""
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from helpers import make_net

PAIRWISE = ["ei_parts", "ei_parts_matrix"]
VECTOR = ["ei", "eis_between_groups", "vector_and_pairwise_ei"]


def issue_layer(dei):
    """Issue 8's layer: 4 -> 5, weights [4 * I; ones], bias -2, sigmoid; with 64 bins its vector
    EI is still growing by more than 0.05 bits per round at 40k samples."""
    layer = nn.Linear(4, 5)
    with torch.no_grad():
        layer.weight.copy_(torch.cat([4 * torch.eye(4), torch.ones(1, 4)]))
        layer.bias.fill_(-2.0)
    return layer, dei.topology_of(nn.Sequential(layer, nn.Sigmoid()), torch.zeros(1, 4))


def call(dei, name, layer, top, **kw):
    whole = [(tuple(range(layer.in_features)), tuple(range(layer.out_features)))]
    args = (layer, top, whole) if name == "eis_between_groups" else (layer, top)
    return getattr(dei, name)(*args, progress=False, seed=3, **kw)


def same(a, b):
    return np.array_equal(np.asarray(a, dtype=float), np.asarray(b, dtype=float))


def test_warning_is_a_top_level_user_warning(dei):
    assert issubclass(dei.ConvergenceWarning, UserWarning)
    assert dei.DEFAULT_MAX_SAMPLES == 10_000_000


@pytest.mark.parametrize("cap", [40_000, 30_000])  # a whole round, and a round cut short
@pytest.mark.parametrize("name", VECTOR + PAIRWISE)
def test_cap_returns_the_estimate_at_max_samples(dei, name, cap):
    layer, top = issue_layer(dei)
    with pytest.warns(dei.ConvergenceWarning) as caught:
        capped = call(dei, name, layer, top, max_samples=cap)
    # The rounds are drawn from one counter-based stream, so the estimate after `cap` samples
    # in rounds is the estimate of `cap` samples at once (bit-identical).
    assert same(capped, call(dei, name, layer, top, samples=cap))
    message = str(caught[0].message)
    for part in (name, "Linear 4->5", f"{cap:,} samples drawn", "last change", "threshold 0.05"):
        assert part in message, message


def test_warning_reports_the_last_change(dei):
    layer, top = issue_layer(dei)
    estimates = [call(dei, "ei", layer, top, samples=n) for n in (20_000, 40_000)]
    with pytest.warns(dei.ConvergenceWarning) as caught:
        call(dei, "ei", layer, top, max_samples=40_000)
    assert f"last change {abs(estimates[1] - estimates[0]):.4g}" in str(caught[0].message)


@pytest.mark.parametrize("name", VECTOR + PAIRWISE)
def test_rule_met_before_the_cap_changes_nothing(dei, name):
    # A 3 -> 2 layer at 8 bins converges within a few rounds: the default cap and no cap give
    # the same result, without a warning.
    net, lin = make_net(3, 2, "sigmoid", seed=0)
    top = dei.topology_of(net, torch.zeros(1, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error", dei.ConvergenceWarning)
        default = call(dei, name, lin, top, in_bins=8, out_bins=8)
        uncapped = call(dei, name, lin, top, in_bins=8, out_bins=8, max_samples=None)
    assert same(default, uncapped)


def test_causal_plane_converged_column(dei):
    net = nn.Sequential(nn.Linear(4, 5, bias=False), nn.Sigmoid())
    with torch.no_grad():
        net[0].weight.copy_(torch.cat([4 * torch.eye(4), torch.ones(1, 4)]))
    fixed = dei.causal_plane(net, torch.zeros(1, 4), samples=20_000, sensitivity_samples=100, seed=1,
                             progress=False)
    assert [r.converged for r in fixed] == [True]  # fixed samples count as converged
    with pytest.warns(dei.ConvergenceWarning, match="causal_plane: layer Linear 4->5"):
        capped = dei.causal_plane(net, torch.zeros(1, 4), max_samples=20_000, sensitivity_samples=100,
                                  seed=1, progress=False)
    assert [(r.converged, r.samples) for r in capped] == [(False, 20_000)]
    assert capped[0].ei == fixed[0].ei
    assert "converged" in capped.to_csv().splitlines()[0].split(",")
    assert capped.to_csv().splitlines()[1].split(",")[list(capped.to_dataframe().columns).index("converged")] == "False"


def test_recorder_passes_max_samples(dei, tmp_path):
    net = nn.Sequential(nn.Linear(4, 5, bias=False), nn.Sigmoid())
    with torch.no_grad():
        net[0].weight.copy_(torch.cat([4 * torch.eye(4), torch.ones(1, 4)]))
    path = tmp_path / "run.csv"
    recorder = dei.CausalPlaneRecorder(net, torch.zeros(1, 4), str(path), max_samples=20_000,
                                       sensitivity_samples=100, seed=1, progress=False)
    with pytest.warns(dei.ConvergenceWarning):
        recorder.record(0)
    resumed = dei.CausalPlaneRecorder(net, torch.zeros(1, 4), str(path), max_samples=20_000,
                                      sensitivity_samples=100, seed=1, progress=False)
    assert [(r["converged"], r["samples"]) for r in resumed.rows] == [(False, 20_000)]
