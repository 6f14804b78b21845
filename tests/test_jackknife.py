"""A toy estimator added as any estimator is added: one new file (this one: the class and its
tests) and one entry in estimators/registry.ESTIMATORS (the ``registered`` fixture's line).

The jackknife: the plug-in MI with its bias estimated by leaving one sample out. With I the
plug-in MI of N samples and I_(i) that of the N - 1 others, I_JK = N I - (N - 1) mean_i I_(i)
= I + (N - 1) (I - mean_i I_(i)) (Efron & Stein 1981). I_(i) depends only on the cell (x, y)
sample i fell in: with S = sum n log n over the joint cells minus that over each marginal,
I = log N + S / N, and leaving a sample of cell (x, y) out changes S by g(n_x) + g(n_y) -
g(n_xy), g(n) = n log n - (n - 1) log(n - 1). So every I_(i) comes from the counts: pair tables
a tile at a time, vector tables from their aligned rows (n_xy, n_x, n_y).

Checked against a plain reference that leaves each sample out literally (the plug-in MI of the
table with that sample's cell decremented, recomputed from scratch), on pair tables (with dropped
samples, several pairs per tile, chunked), on vector rows, and through the public functions (the
engine's counts of the same samples); then on cases whose answer is known.
"""
import math
from collections import Counter

import numpy as np
import pytest
import torch

import deep_ei_fast as dei
from deep_ei_fast.api.prepare import open_measurement
from deep_ei_fast.engine.checkpoint import TILE_PATTERN
from deep_ei_fast.engine.noise_streams import PhiloxStream
from deep_ei_fast.engine.settings import MeasurementSettings
from deep_ei_fast.estimators import count_tables, registry
from deep_ei_fast.estimators.count_tables import BITS_PER_NAT
from deep_ei_fast.estimators.estimator import Estimator
from deep_ei_fast.estimators.plugin import pairwise_mi_bits

from helpers import make_net

LN2 = math.log(2.0)


# --- the estimator ----------------------------------------------------------------------------

def _n_log_n(counts):
    """n log n elementwise (0 for n = 0), float64."""
    return torch.where(counts > 0, counts * torch.log(counts.clamp_min(1.0)), 0.0)


def _change(counts):
    """g(n) = n log n - (n - 1) log(n - 1): what leaving one sample out of a cell of n removes
    from sum n log n (0 for an empty cell, which no sample leaves)."""
    return _n_log_n(counts) - _n_log_n((counts - 1.0).clamp_min(0.0))


def jackknife_nats(cells, samples, s, s_change, cell_dims):
    """The jackknife MI in nats from float64 cell counts ``cells``, their total ``samples`` N,
    S = S_xy - S_x - S_y (both with the cell dimensions ``cell_dims`` summed out, kept as size
    1) and ``s_change`` (shaped like ``cells``): S with one sample of each cell left out, minus S.
    Fewer than 2 samples: the plug-in value (0 for none)."""
    n = samples.clamp_min(1.0)
    plugin = torch.log(n) + s / n
    rest = (samples - 1.0).clamp_min(1.0)
    left_out = torch.log(rest) + (s + s_change) / rest
    mean_left_out = (cells * left_out).sum(dim=cell_dims, keepdim=True) / n
    value = plugin + (samples - 1.0) * (plugin - mean_left_out)
    return torch.where(samples >= 2, value, torch.where(samples > 0, plugin, 0.0))


def pair_tables_bits(counts):
    """Jackknife MI in bits of every pair table of counts [na, nb, RX, RY] (the last row and
    column: dropped samples, left out): float64 [na, nb], a chunk of rows of pairs at a time."""
    na, nb, rows, cols = counts.shape
    step = max(1, count_tables.CHUNK_ELEMENTS // max(1, nb * rows * cols))
    parts = []
    for a0 in range(0, na, step):
        cells = counts[a0:a0 + step, :, :-1, :-1].to(torch.float64)
        n_x, n_y = cells.sum(dim=3, keepdim=True), cells.sum(dim=2, keepdim=True)
        samples = n_x.sum(dim=2, keepdim=True)
        s = (_n_log_n(cells).sum(dim=(2, 3), keepdim=True) - _n_log_n(n_x).sum(dim=2, keepdim=True)
             - _n_log_n(n_y).sum(dim=3, keepdim=True))
        s_change = _change(n_x) + _change(n_y) - _change(cells)
        parts.append(jackknife_nats(cells, samples, s, s_change, (2, 3))[:, :, 0, 0] * BITS_PER_NAT)
    return torch.cat(parts) if parts else torch.zeros((0, nb), dtype=torch.float64, device=counts.device)


def rows_bits(rows):
    """Jackknife MI in bits from aligned rows (count of each distinct (X, Y), of its X, of its
    Y: JointCodeCounts.row_marginal_counts; None: no samples, 0.0). Each X's n_x log n_x is
    the sum over its rows of n_xy log n_x (and so for Y)."""
    if rows is None:
        return 0.0
    cells, n_x, n_y = (t.to(torch.float64) for t in rows)
    samples = cells.sum().reshape(1)
    s = (_n_log_n(cells).sum() - (cells * torch.log(n_x)).sum() - (cells * torch.log(n_y)).sum()).reshape(1)
    s_change = _change(n_x) + _change(n_y) - _change(cells)
    return float(jackknife_nats(cells, samples, s, s_change, (0,))[0]) * BITS_PER_NAT


class Jackknife(Estimator):
    """The plug-in MI corrected by its leave-one-out jackknife bias estimate."""
    name = "jackknife"

    def pair_values(self, tile, summary=None):
        return pair_tables_bits(tile.counts)

    def vector_values(self, vector_counts):
        return [rows_bits(rows) for rows in vector_counts.row_marginal_counts()]


# --- its tests: a plain reference, then known answers --------------------------------------

def plugin_nats(table):
    """Plug-in MI in nats of a 2-d count table (numpy), from its frequencies."""
    table = np.asarray(table, dtype=np.float64)
    n = table.sum()
    if n == 0:
        return 0.0
    p = table / n
    px, py = p.sum(axis=1, keepdims=True), p.sum(axis=0, keepdims=True)
    nonzero = p > 0
    return float((p[nonzero] * np.log(p[nonzero] / (px @ py)[nonzero])).sum())


def reference_bits(table):
    """The jackknife MI in bits by its definition: N I - (N - 1) mean_i I_(i), each I_(i) the
    plug-in MI of the table without sample i (the same for every sample of a cell)."""
    table = np.asarray(table, dtype=np.int64)
    n = int(table.sum())
    if n < 2:
        return plugin_nats(table) / LN2
    left_out = 0.0
    for (x, y), count in np.ndenumerate(table):
        if count:
            without = table.copy()
            without[x, y] -= 1
            left_out += count * plugin_nats(without)
    return (n * plugin_nats(table) - (n - 1) * left_out / n) / LN2


def with_dropped(table, rng):
    """The table as the engine's counters hold it: an extra last row and column of samples
    dropped as out of range (which no estimate may read)."""
    rows, cols = table.shape
    held = np.zeros((rows + 1, cols + 1), dtype=np.int32)
    held[:rows, :cols] = table
    held[rows, :] = rng.integers(0, 5, cols + 1)
    held[:, cols] = rng.integers(0, 5, rows + 1)
    return held


@pytest.fixture(autouse=True)
def registered(monkeypatch):
    monkeypatch.setitem(registry.ESTIMATORS, "jackknife", Jackknife)  # the registry line


def test_unregistered_it_is_refused(monkeypatch):
    monkeypatch.delitem(registry.ESTIMATORS, "jackknife")
    net, lin = make_net(3, 2, "sigmoid", seed=1)
    with pytest.raises(ValueError, match="estimator must be one of .* got 'jackknife'"):
        dei.ei_parts(lin, dei.topology_of(net, torch.zeros((1, 3))), samples=10, estimator="jackknife")


def test_pair_tables_match_the_literal_leave_one_out(monkeypatch):
    rng = np.random.default_rng(0)
    tables = [rng.integers(0, 6, (5, 4)),  # every cell occupied or not, small N
              np.pad(np.diag([30, 1, 0, 7]), ((0, 1), (0, 0))),  # deterministic: a 1-sample cell, empty rows
              np.zeros((5, 4), dtype=np.int64),  # no samples: 0
              np.pad([[1]], ((0, 4), (0, 3))),  # one sample: 0
              rng.multinomial(200, np.full(20, 1 / 20)).reshape(5, 4),
              np.outer([1, 2, 3, 4, 5], [3, 1, 1, 2])]
    tile = torch.from_numpy(np.stack([with_dropped(t, rng) for t in tables]).reshape(2, 3, 6, 5))
    expected = np.array([reference_bits(t) for t in tables]).reshape(2, 3)
    got = pair_tables_bits(tile).numpy()
    # float64 sums of a few hundred terms, N I and (N - 1) mean I_(i) of about N nats each
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert got[0, 2] == 0.0 and got[1, 0] == 0.0  # no samples, one sample
    monkeypatch.setattr(count_tables, "CHUNK_ELEMENTS", 1)  # a row of pairs per chunk: the same bits
    assert np.array_equal(pair_tables_bits(tile).numpy(), got)
    assert np.array_equal(pair_tables_bits(tile.to(torch.int64)).numpy(), got)


def test_vector_rows_match_the_literal_leave_one_out():
    rng = np.random.default_rng(1)
    xs = [tuple(v) for v in rng.integers(0, 3, (300, 2))]
    ys = [(int(x[0] + x[1] + rng.integers(0, 2)) % 4,) for x in xs]
    joint, x_counts, y_counts = Counter(zip(xs, ys)), Counter(xs), Counter(ys)
    cells = list(joint)
    rows = tuple(torch.tensor(v, dtype=torch.int64) for v in (
        [joint[c] for c in cells], [x_counts[c[0]] for c in cells], [y_counts[c[1]] for c in cells]))
    # the same samples as a 2-d table of X codes by Y codes
    x_index, y_index = {x: k for k, x in enumerate(x_counts)}, {y: k for k, y in enumerate(y_counts)}
    table = np.zeros((len(x_index), len(y_index)), dtype=np.int64)
    for (x, y), count in joint.items():
        table[x_index[x], y_index[y]] = count
    assert rows_bits(rows) == pytest.approx(reference_bits(table), abs=1e-12)
    assert rows_bits(None) == 0.0


def engine_counts(lin, top, **settings):
    """The engine's pair tables (numpy [n_in, n_out, RX, RY]) of a measurement's samples."""
    with open_measurement(lin, top, MeasurementSettings(**settings), dynamic_out=True) as m:
        pairs = m.pair_counts(m.pair_binning(settings["samples"]))
        with m.bar(settings["samples"]) as bar:
            m.feed(settings["samples"], [pairs], bar)
        (tile,) = pairs.counts.each_tile()
        return tile.counts.numpy().copy()


def test_public_functions_match_the_reference_on_the_engines_counts():
    net, lin = make_net(4, 3, "tanh", seed=2)
    top = dei.topology_of(net, torch.zeros((1, 4)))
    kw = dict(samples=3000, seed=5, in_bins=6, out_bins=6, out_range=(-1, 1), progress=False)
    counts = engine_counts(lin, top, **kw)
    expected = np.array([[reference_bits(counts[a, b, :-1, :-1]) for b in range(3)] for a in range(4)])
    matrix = dei.ei_parts_matrix(lin, top, estimator="jackknife", **kw)
    np.testing.assert_allclose(matrix, expected, rtol=0, atol=1e-10)  # N I is about 1e4 nats
    stats = dei.pairwise_stats(lin, top, estimator="jackknife", **kw)
    assert np.array_equal(stats.mi, matrix)  # the same values, with standard errors beside them
    assert np.array_equal(stats.plugin_mi, dei.ei_parts_matrix(lin, top, **kw))
    tiled = dei.ei_parts_matrix(lin, top, estimator="jackknife", memory_bound=4 * 49 * 4, **kw)
    assert np.array_equal(tiled, matrix)  # 4 tiles: a row of pairs each
    assert dei.ei_parts(lin, top, estimator="jackknife", **kw) == pytest.approx(matrix.sum(), abs=1e-12)
    vector = dei.vector_stats(lin, top, estimator="jackknife", **kw)
    assert vector.value == dei.ei(lin, top, estimator="jackknife", **kw)
    assert dei.vector_and_pairwise_ei(lin, top, estimator="jackknife", **kw) == (vector.value, dei.ei_parts(
        lin, top, estimator="jackknife", **kw))
    one_hot = dict(kw, samples=400)
    sensitivity = dei.sensitivity_matrix(lin, top, estimator="jackknife", **one_hot)
    assert np.array_equal(dei.sensitivity_stats(lin, top, estimator="jackknife", **one_hot).mi, sensitivity)


def test_bias_of_independent_tables_nearly_removed():
    # Independent uniform 8 x 8 tables of N = 400: the plug-in's bias is about
    # (B - 1)^2 / (2 N ln 2) = 0.088 bits; the jackknife removes its 1/N term, leaving O(1/N^2)
    # plus noise. Over 400 tables the means' standard errors are about 0.003 bits (the plug-in's
    # spread, sqrt(2 df) / (2 N ln 2) = 0.018, over sqrt(400)); tolerances 0.01 bits.
    rng = np.random.default_rng(3)
    tables = np.stack([with_dropped(rng.multinomial(400, np.full(64, 1 / 64)).reshape(8, 8), rng)
                       for _ in range(400)]).reshape(20, 20, 9, 9)
    counts = torch.from_numpy(tables)
    plugin_mean = float(pairwise_mi_bits(counts, 8, torch.full((20,), 8, dtype=torch.int32)).mean())
    jackknife_mean = float(pair_tables_bits(counts).mean())
    assert plugin_mean == pytest.approx(49 / (2 * 400 * LN2), abs=0.01)
    assert abs(jackknife_mean) < 0.01


def test_deterministic_pairs_give_log2_bins():
    # A diagonal layer: each output is its input (8 bins each) and the other pairs independent:
    # EI_parts = 3 log2(8) = 9 bits; the independent pairs' plug-in bias (6 x 0.0018 bits) is
    # removed and the diagonal's (downward, 3 x 0.00025) too; sampling noise of the sum ~0.002.
    layer = torch.nn.Linear(3, 3, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.eye(3))
    top = dei.topology_of(torch.nn.Sequential(layer), torch.zeros(1, 3))
    kw = dict(in_range=(0, 1), out_range=(0, 1), in_bins=8, out_bins=8, samples=20000, seed=1, progress=False)
    assert dei.ei_parts(layer, top, estimator="jackknife", **kw) == pytest.approx(9.0, abs=0.008)
    assert dei.ei_parts(layer, top, **kw) - 9.0 > 0.008  # the bias it removes is really there


def test_checkpoint_tiles_are_keyed_by_its_name(tmp_path, monkeypatch):
    net, lin = make_net(4, 3, "sigmoid", seed=1)
    top = dei.topology_of(net, torch.zeros((1, 4)))
    kw = dict(samples=2000, seed=3, in_bins=8, out_bins=8, memory_bound=1000, estimator="jackknife", progress=False)
    expected = dei.ei_parts_matrix(lin, top, **kw)
    assert np.array_equal(dei.ei_parts_matrix(lin, top, checkpoint=tmp_path, **kw), expected)
    names = [name for name in tmp_path.iterdir() if TILE_PATTERN.match(name.name)]
    assert names and all(TILE_PATTERN.match(n.name)[2] == "jackknife_pairwise_mi_bits" for n in names)

    def refuse(*args):
        raise AssertionError("samples were drawn: a tile was counted again, not loaded")
    monkeypatch.setattr(PhiloxStream, "generate", refuse)  # the resumed run must load every tile
    assert np.array_equal(dei.ei_parts_matrix(lin, top, checkpoint=tmp_path, **kw), expected)
