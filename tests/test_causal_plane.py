"""causal_plane: each row equals the direct calls it stands for, on chains and on other models;
unbounded activations and bad arguments fail clearly."""
import csv
import io

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from deep_ei_fast.apps.networks import paper_network as build_network
from deep_ei_fast.plane.rows import PLANE_COLUMNS

SETTINGS = dict(in_range=(0, 1), out_range=(0, 1), in_bins=8, out_bins=8, progress=False)


@pytest.fixture(scope="module")
def trained_net():
    """The paper's Iris shape with weights large enough that every measure is non-zero."""
    net = build_network((4, 5, 5, 3), seed=3)
    with torch.no_grad():
        for module in net:
            if isinstance(module, nn.Linear):
                module.weight.mul_(12.0)
    return net


def direct_rows(dei, net, samples, sensitivity_samples, **kw):
    topology = dei.topology_of(net, torch.zeros((1, net[0].in_features)))
    rows = []
    for layer in [m for m in net if isinstance(m, nn.Linear)]:
        ei, parts = dei.vector_and_pairwise_ei(layer, topology, samples=samples, **SETTINGS, **kw)
        sens = dei.sensitivity(layer, topology, samples=sensitivity_samples, **SETTINGS, **kw)
        rows.append((ei, parts, sens))
    return rows


def test_rows_equal_direct_calls_philox(dei, trained_net):
    plane = dei.causal_plane(trained_net, torch.zeros((1, 4)), samples=20000, sensitivity_samples=300,
                             seed=11, **SETTINGS)
    expected = direct_rows(dei, trained_net, 20000, 300, seed=11)
    assert len(plane) == 3
    for row, (ei, parts, sens) in zip(plane, expected):
        # Same seed, same noise, same kernels: identical floats.
        assert (row.ei, row.ei_parts, row.sensitivity) == (ei, parts, sens)
        assert row.degeneracy == sens - ei and row.degeneracy_parts == sens - parts
        assert row.integration == ei - parts
        assert row.samples == 20000 and row.sensitivity_samples == 300 and row.seed == 11
        assert sens > 0 and ei > 0 and parts > 0  # a real measurement, not an all-zero table
    assert [r.module for r in plane] == ["Linear 4->5", "Linear 5->5", "Linear 5->3"]
    assert [r.name for r in plane] == ["0", "2", "4"]
    assert [(r.n_in, r.n_out) for r in plane] == [(4, 5), (5, 5), (5, 3)]


def test_rows_equal_direct_calls_torch_rng(dei, trained_net):
    """rng="torch": the plane draws from the global generator in the order of the direct calls."""
    torch.manual_seed(5)
    plane = dei.causal_plane(trained_net, torch.zeros((1, 4)), samples=3000, sensitivity_samples=100,
                             rng="torch", batch_size=100, **SETTINGS)
    torch.manual_seed(5)
    expected = direct_rows(dei, trained_net, 3000, 100, rng="torch", batch_size=100)
    assert [(r.ei, r.ei_parts, r.sensitivity) for r in plane] == expected
    assert all(r.seed == "" and r.rng == "torch" for r in plane)


def test_seed_none_draws_one_seed_from_torch(dei, trained_net):
    torch.manual_seed(0)
    first = dei.causal_plane(trained_net, torch.zeros((1, 4)), samples=5000, sensitivity_samples=50, **SETTINGS)
    torch.manual_seed(0)
    second = dei.causal_plane(trained_net, torch.zeros((1, 4)), samples=5000, sensitivity_samples=50, **SETTINGS)
    assert len({r.seed for r in first}) == 1 and isinstance(first[0].seed, int)
    assert [r.ei for r in first] == [r.ei for r in second]


def test_samples_none_records_the_converged_count(dei, trained_net):
    plane = dei.causal_plane(trained_net, torch.zeros((1, 4)), sensitivity_samples=50, seed=1,
                             threshold=0.5, **SETTINGS)
    for row in plane:
        # deep-ei's doubling rounds give totals 10000 * 2^k, at least two rounds.
        rounds = row.samples // 10000
        assert row.samples % 10000 == 0 and rounds >= 2 and rounds & (rounds - 1) == 0


def test_dataframe_and_csv(dei, trained_net):
    plane = dei.causal_plane(trained_net, torch.zeros((1, 4)), samples=5000, sensitivity_samples=50,
                             seed=2, **SETTINGS)
    frame = plane.to_dataframe()
    assert list(frame.columns) == list(PLANE_COLUMNS)
    assert frame["ei"].tolist() == [r.ei for r in plane]
    parsed = list(csv.DictReader(io.StringIO(plane.to_csv())))
    assert [float(p["sensitivity"]) for p in parsed] == [r.sensitivity for r in plane]  # repr round-trips
    assert "EI_parts" in str(plane) and "Linear 4->5" in str(plane)


def test_layers_argument_and_conv(dei):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 2, 2), nn.Sigmoid(), nn.Flatten(), nn.Linear(8, 3), nn.Sigmoid())
    plane = dei.causal_plane(net, torch.zeros((1, 1, 3, 3)), samples=4000, sensitivity_samples=50,
                             seed=0, **SETTINGS)
    # Flatten is passed through; the conv is measured on one receptive field (4 -> 2).
    assert [(r.module, r.n_in, r.n_out) for r in plane] == [("Conv2d 4->2", 4, 2), ("Linear 8->3", 8, 3)]
    only = dei.causal_plane(net, torch.zeros((1, 1, 3, 3)), layers=[net[3]], samples=4000,
                            sensitivity_samples=50, seed=0, **SETTINGS)
    assert len(only) == 1 and only[0].ei == plane[1].ei


def test_eval_mode_during_measurement_and_modes_restored(dei):
    net = nn.Sequential(nn.Linear(3, 4), nn.Sigmoid(), nn.Dropout(0.5), nn.Linear(4, 2), nn.Sigmoid())
    net.train()
    plane = dei.causal_plane(net, torch.zeros((1, 3)), samples=2000, sensitivity_samples=20, seed=0, **SETTINGS)
    assert len(plane) == 2
    assert net.training and all(m.training for m in net.modules())


class FunctionalActivation(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(3, 3), nn.Linear(3, 2)

    def forward(self, x):
        return self.b(F.relu(self.a(x)))  # a functional activation: found in the trace


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(3, 3)

    def forward(self, x):
        return x + torch.sigmoid(self.a(x))


class PositiveBias(FunctionalActivation):
    """F.relu after a layer whose outputs at input 0 are all positive: the trace records the
    relu although it changes nothing on the example input (zeros)."""

    def __init__(self):
        super().__init__()
        with torch.no_grad():
            self.a.bias.fill_(0.5)


def test_unbounded_activation_fails_clearly(dei):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 3), nn.GELU(), nn.Linear(3, 2)).eval()
    with pytest.raises(ValueError, match=r"layer '0' \(Linear\) is followed by GELU module in the model, "
                                         r"whose outputs are unbounded: give out_range"):
        dei.causal_plane(net, torch.zeros((2, 3)), samples=10**12, sensitivity_samples=10**9, progress=False)


class BatchNormed(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.norm, self.b = nn.Linear(3, 3), nn.BatchNorm1d(3), nn.Linear(3, 2)

    def forward(self, x):
        return self.b(self.norm(self.a(x)))


@pytest.mark.parametrize("make_net, activation", [
    (BatchNormed, None),  # a is followed by the normalisation: measured on its own output
    (FunctionalActivation, nn.ReLU),
    (PositiveBias, nn.ReLU),
    (Residual, nn.Sigmoid),
])
def test_models_outside_chains_are_measured_with_their_traced_activation(dei, make_net, activation):
    """Each row equals the same Linear measured alone with the activation the model applies
    after it, in its module form (bit for bit: the same noise and the same kernel)."""
    torch.manual_seed(0)
    net = make_net().eval()
    plane = dei.causal_plane(net, torch.zeros((2, 3)), layers=["a"], samples=3000, sensitivity_samples=30,
                             seed=4, in_range=(0, 1), out_range=(0, 1), in_bins=8, out_bins=8, progress=False)
    chain = nn.Sequential(net.a, *([activation()] if activation else []))
    top = dei.topology_of(chain, torch.zeros((1, 3)))
    kw = dict(in_range=(0, 1), out_range=(0, 1), in_bins=8, out_bins=8, seed=4, progress=False)
    assert [r.name for r in plane] == ["a"]
    assert (plane[0].ei, plane[0].ei_parts) == dei.vector_and_pairwise_ei(net.a, top, samples=3000, **kw)
    assert plane[0].sensitivity == dei.sensitivity(net.a, top, samples=30, **kw)


@pytest.mark.parametrize("kwargs, name", [
    (dict(sensitivity_samples=0), "sensitivity_samples"),
    (dict(samples=-1), "samples"),
    (dict(in_bins=0), "in_bins"),
    (dict(threshold=0), "threshold"),
    (dict(rng="mt"), "rng"),
    (dict(memory_bound=0), "memory_bound"),
])
def test_bad_arguments_fail_before_work(dei, trained_net, kwargs, name):
    with pytest.raises((ValueError, TypeError), match=name):
        dei.causal_plane(trained_net, torch.zeros((1, 4)), **{"samples": 10**12, **kwargs})


def test_bad_model_and_layers(dei, trained_net):
    with pytest.raises(TypeError, match="model must be a torch.nn.Module"):
        dei.causal_plane(lambda x: x, torch.zeros((1, 4)))
    with pytest.raises(ValueError, match="layers: .* not a node"):
        dei.causal_plane(trained_net, torch.zeros((1, 4)), layers=[nn.Linear(4, 5)], samples=10**12)
