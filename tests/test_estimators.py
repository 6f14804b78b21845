"""Bias-corrected estimators, standard errors and p-values (estimators/, api/statistics.py).

Layers are small (at most 6 neurons, 8 bins) and seeds fixed (philox), so every statistical
test is deterministic; each tolerance says why it holds.
"""
import math

import numpy as np
import pytest
import scipy.stats
import torch
import torch.nn as nn

import deep_ei_fast as dei
from deep_ei_fast.engine.null_pairing import block_shift
from deep_ei_fast.engine.pair_counts import COUNTER_SET_BYTES
from deep_ei_fast.estimators import count_tables, miller_madow, plugin, uncertainty
from deep_ei_fast.estimators.registry import ESTIMATORS

BINS = 8
LN2 = math.log(2.0)


def _diagonal(k, scale):
    layer = nn.Linear(k, k, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.eye(k) * scale)
    return layer, dei.topology_of(nn.Sequential(layer), torch.zeros(1, k))


def _ranges(scale):
    # Outputs scale * x binned over (0, scale): the same bins as the inputs.
    return dict(in_range=(0, 1), out_range=(0, scale), in_bins=BINS, out_bins=BINS, progress=False)


# --- identity and diagonal layers: k * log2(bins) -------------------------------------------

@pytest.mark.parametrize("scale", [1.0, 2.0])
@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_diagonal_layer_ei_parts_is_k_log2_bins(estimator, scale):
    k, n = 4, 20000
    layer, top = _diagonal(k, scale)
    value = dei.ei_parts(layer, top, samples=n, seed=1, estimator=estimator, **_ranges(scale))
    # Independent off-diagonal pairs bias the plug-in up by (B-1)^2 / (2 N ln 2) each
    # (k(k-1) of them: 0.021 bits); the corrections remove it. The shuffle's null of a
    # deterministic diagonal pair is that same bias while the pair's own plug-in is biased
    # down by (B-1) / (2 N ln 2), so it over-corrects each diagonal pair by
    # B(B-1) / (2 N ln 2) = 0.002 bits (0.008 in all). Sampling noise of the
    # sum: 12 independent pairs of SE ~5e-4 each, ~0.002. Tolerances: plug-in 0.04 around
    # its bias-free value, corrected estimators 0.012.
    tolerance = 0.04 if estimator == "plugin" else 0.012
    assert value == pytest.approx(k * math.log2(BINS), abs=tolerance)
    if estimator == "plugin":  # the bias the others remove is really there
        assert value - k * math.log2(BINS) > 0.01


def test_vector_ei_of_identity_layer():
    k, bins = 2, 4
    layer, top = _diagonal(k, 1.0)
    kw = dict(in_range=(0, 1), out_range=(0, 1), in_bins=bins, out_bins=bins, progress=False)
    for estimator in ESTIMATORS:
        result = dei.vector_stats(layer, top, samples=20000, seed=2, estimator=estimator, **kw)
        # 16 equally likely states seen ~1250 times each: plug-in H is within 16/(2N ln2) =
        # 6e-4 bits of 4; the shuffle's null removes 15^2/(2N ln2) ~ 0.008 more (a deterministic map).
        assert result.value == pytest.approx(k * math.log2(bins), abs=0.02)
        assert 0 <= result.standard_error < 0.05
        assert result.samples == 20000
        assert result.plugin == pytest.approx(dei.ei(layer, top, samples=20000, seed=2, **kw), abs=1e-12)


# --- independent pairs: corrected means ~ 0, p-values uniform --------------------------------

def _off_diagonal_stats(estimator, seeds, k=6, n=20000):
    layer, top = _diagonal(k, 1.0)
    upper = np.triu(np.ones((k, k), dtype=bool), 1)  # (i, j) and (j, i) are the same two inputs
    results = [dei.pairwise_stats(layer, top, samples=n, seed=s, estimator=estimator, **_ranges(1.0))
               for s in seeds]
    return results, upper


@pytest.mark.parametrize("estimator", ["miller_madow", "shuffle"])
def test_independent_pairs_corrected_mean_is_zero(estimator):
    results, upper = _off_diagonal_stats(estimator, range(6))
    values = np.concatenate([r.mi[upper] for r in results])  # 90 independent pairs
    plug = np.concatenate([r.plugin_mi[upper] for r in results])
    standard_error = values.std(ddof=1) / math.sqrt(values.size)
    assert abs(values.mean()) < 3 * standard_error
    # The same pairs' plug-in is biased by (B-1)^2/(2 N ln 2) = 0.0018 bits, far outside.
    assert plug.mean() > 3 * standard_error + abs(values.mean())
    assert plug.mean() == pytest.approx((BINS - 1) ** 2 / (2 * 20000 * LN2), rel=0.15)


def test_g_test_p_values_are_uniform_under_independence():
    results, upper = _off_diagonal_stats("shuffle", range(20))
    p = np.concatenate([r.p_value[upper] for r in results])  # 300 independent null pairs
    # Fixed seeds make this deterministic; alpha = 0.01 is the level it is checked at.
    assert scipy.stats.kstest(p, "uniform").pvalue > 0.01
    for r in results:
        assert (np.diag(r.p_value) < 1e-12).all()  # the dependent pairs
        assert np.diag(r.significant).all()
    false_discoveries = sum(int(r.significant[~np.eye(6, dtype=bool)].sum()) for r in results)
    # BH at q = 0.05 with 6 true effects among 36: expected false discoveries < q * 36 / ... ;
    # over 20 runs at most ~ 0.05 * 20 * 6 / 0.95 ~ 6 in expectation; allow 3x.
    assert false_discoveries <= 20


# --- interval coverage ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_sigmoid_layer():
    generator = torch.Generator().manual_seed(3)
    layer = nn.Linear(3, 3)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(3, 3, generator=generator) * 1.7)
        layer.bias.copy_(torch.randn(3, generator=generator) * 0.5)
    top = dei.topology_of(nn.Sequential(layer, nn.Sigmoid()), torch.zeros(1, 3))
    kw = dict(in_range=(0, 1), out_range=(0, 1), in_bins=BINS, out_bins=BINS, progress=False)
    # Reference: Miller-Madow at 4e6 samples (bias O(1/N^2); standard error ~1e-3 bits).
    reference = dei.pairwise_stats(layer, top, samples=4_000_000, seed=999, estimator="miller_madow", **kw)
    return layer, top, kw, reference.ei_parts


@pytest.mark.parametrize("estimator", ["miller_madow", "shuffle"])
def test_95_percent_intervals_cover_the_reference(small_sigmoid_layer, estimator):
    layer, top, kw, reference = small_sigmoid_layer
    covered, spread, errors = 0, [], []
    for seed in range(40):
        r = dei.pairwise_stats(layer, top, samples=20000, seed=seed, estimator=estimator, **kw)
        low, high = r.interval()
        covered += low <= reference <= high
        spread.append(r.ei_parts)
        errors.append(r.ei_parts_standard_error)
    # At least 36 of 40 (90%): a calibrated 95% interval fails that with probability ~5%, and
    # the seeds are fixed. The standard error also matches the seeds' spread within 30%.
    assert covered >= 36
    assert np.mean(errors) == pytest.approx(np.std(spread, ddof=1), rel=0.3)


# --- each formula against a plain numpy implementation ----------------------------------------

def _random_tables(seed, na=3, nb=4, rows=6, cols=5):
    """int32 [na, nb, rows + 1, cols + 1]: random counts with empty cells, and dropped samples
    in the extra last row / column that no estimate may use."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 30, size=(na, nb, rows + 1, cols + 1))
    counts[rng.random(counts.shape) < 0.3] = 0
    counts[0, 0, 2, :] = 0  # an empty input bin
    counts[1, 1] = 0  # an empty pair
    return torch.from_numpy(counts.astype(np.int32))


def _numpy_pair(table):
    c = table[:-1, :-1].astype(np.float64)
    n = c.sum()
    if n == 0:
        return dict(n=0, mi=0.0, rx=0, ry=0, rxy=0)
    p = c / n
    px, py = p.sum(1), p.sum(0)
    mask = p > 0
    log_ratio = np.log2(p[mask] / np.outer(px, py)[mask])
    return dict(n=n, mi=float((p[mask] * log_ratio).sum()), rx=int((px > 0).sum()),
                ry=int((py > 0).sum()), rxy=int(mask.sum()))


def _numpy_log_ratio(table, i, j):
    """L = log2(p_xy / (p_x p_y)) at cell (i, j) of a full table (0: dropped or empty)."""
    c = table[:-1, :-1].astype(np.float64)
    if i >= c.shape[0] or j >= c.shape[1] or c[i, j] == 0:
        return 0.0
    return float(np.log2(c[i, j] * c.sum() / (c[i].sum() * c[:, j].sum())))


def _sample_codes(counts, seed, m=50):
    rng = np.random.default_rng(seed)  # codes up to the dropped index (the last row / column)
    return (rng.integers(0, counts.shape[2], size=(counts.shape[0], m)),
            rng.integers(0, counts.shape[3], size=(counts.shape[1], m)))


def _bins_of(counts):
    return counts.shape[2] - 1, torch.full((counts.shape[1],), counts.shape[3] - 1, dtype=torch.int32)


@pytest.mark.parametrize("seed", range(5))
def test_pair_formulas_match_numpy(seed):
    counts = _random_tables(seed)
    in_bins, out_bins = _bins_of(counts)
    x, y = _sample_codes(counts, seed)
    summary, phi = count_tables.pair_summaries(counts, in_bins, out_bins, torch.from_numpy(x).to(torch.uint8),
                                               torch.from_numpy(y).to(torch.uint8))
    summary, phi = summary.numpy(), phi.numpy()
    mm = miller_madow.pairwise_mi_bits(counts, in_bins, out_bins).numpy()
    expected_phi = np.zeros(x.shape[1])
    for a in range(counts.shape[0]):
        for b in range(counts.shape[1]):
            table = counts[a, b].numpy()
            ref = _numpy_pair(table)
            s = summary[a, b]
            assert s[uncertainty.MI] == pytest.approx(ref["mi"], abs=1e-12)
            assert (s[uncertainty.N], s[uncertainty.RX], s[uncertainty.RY], s[uncertainty.RXY]) == \
                (ref["n"], ref["rx"], ref["ry"], ref["rxy"])
            log_ratios = [_numpy_log_ratio(table, x[a, k], y[b, k]) for k in range(x.shape[1])]
            expected_phi += log_ratios
            # L is computed in float64 and rounded to float32 (per-sample values for a
            # variance): relative 1e-5 (float32's 6e-8, with margin for the variance's cancellation).
            assert s[uncertainty.L_VARIANCE] == pytest.approx(np.var(log_ratios, ddof=1), rel=1e-5, abs=1e-9)
            correction = (((ref["rx"] - 1) + (ref["ry"] - 1) - (ref["rxy"] - 1)) / (2 * ref["n"] * LN2)
                          if ref["n"] else 0.0)
            assert mm[a, b] == pytest.approx(ref["mi"] + correction, abs=1e-12)
            df = max(ref["rx"] - 1, 0) * max(ref["ry"] - 1, 0)
            p = uncertainty.g_test_p_values(np.array([ref["mi"]]), np.array([ref["n"]]), np.array([df]))[0]
            expected = scipy.stats.chi2.sf(2 * ref["n"] * LN2 * ref["mi"], df) if df > 0 else 1.0
            assert p == pytest.approx(expected, rel=1e-9, abs=1e-300)
    np.testing.assert_allclose(phi, expected_phi, rtol=1e-5, atol=1e-5)


def test_benjamini_hochberg_matches_plain_implementation():
    rng = np.random.default_rng(0)
    p = np.concatenate([rng.random(40), rng.random(10) * 1e-3])
    for q in (0.01, 0.05, 0.2):
        order = np.sort(p)
        passing = [k for k in range(1, p.size + 1) if order[k - 1] <= q * k / p.size]
        threshold = order[max(passing) - 1] if passing else -1.0
        np.testing.assert_array_equal(uncertainty.benjamini_hochberg(p, q), p <= threshold)


def test_vector_formulas_match_numpy():
    rng = np.random.default_rng(3)
    xy = torch.from_numpy(rng.integers(1, 20, size=12).astype(np.int64))
    x_of = np.repeat(np.arange(4), 3)  # 4 X values, 3 Y values each
    y_of = np.tile(np.arange(3), 4)
    xc = np.bincount(x_of, weights=xy.numpy())
    yc = np.bincount(y_of, weights=xy.numpy())
    n = xy.sum().item()
    p = xy.numpy() / n
    log_ratio = np.log2(xy.numpy() * n / (xc[x_of] * yc[y_of]))
    mi = (p * log_ratio).sum()
    rows = (xy, torch.from_numpy(xc[x_of]).long(), torch.from_numpy(yc[y_of]).long())
    assert uncertainty.vector_first_order_variance(rows) == pytest.approx(
        ((p * log_ratio**2).sum() - mi**2) / n, abs=1e-15)

    def marginals():  # JointCodeCounts.marginal_counts: (total, an iterator of pieces)
        return n, iter([("x", torch.from_numpy(xc).long()), ("y", torch.from_numpy(yc).long()), ("xy", xy)])
    assert plugin.vector_mi_bits(marginals()) == pytest.approx(mi, abs=1e-12)
    assert miller_madow.vector_mi_bits(marginals()) == pytest.approx(
        mi + (4 - 1 + 3 - 1 - (12 - 1)) / (2 * n * LN2), abs=1e-12)


def test_error_bars_are_the_same_for_every_thread_count(restore_threads):
    """Standard errors and p-values are floats of the counts alone: the same bits for 1 to 4
    threads. The vector case has about 140,000 distinct rows (2e5 draws of 8^6 equally likely
    input vectors; the outputs are a function of them), over the 32768 elements above which
    torch splits a float sum by thread: its standard error differed in the last digit at 4
    threads before it was summed in numpy."""
    torch.manual_seed(0)
    vector_net = nn.Sequential(nn.Linear(6, 5), nn.Sigmoid())
    pair_net = nn.Sequential(nn.Linear(24, 16), nn.Sigmoid())
    vector_top = dei.topology_of(vector_net, torch.zeros(1, 6))
    pair_top = dei.topology_of(pair_net, torch.zeros(1, 24))
    seen = []
    for threads in (1, 2, 3, 4):
        torch.set_num_threads(threads)
        v = dei.vector_stats(vector_net[0], vector_top, samples=200_000, in_bins=8, out_bins=8,
                             seed=1, estimator="shuffle")
        s = dei.pairwise_stats(pair_net[0], pair_top, samples=20_000, in_bins=16, out_bins=16,
                               seed=1, estimator="shuffle")
        seen.append((v, s.ei_parts_standard_error, s.standard_error.tobytes(), s.p_value.tobytes()))
    assert all(case == seen[0] for case in seen[1:])


# --- the shuffle's null pairing and the memory bound ------------------------------------------

@pytest.mark.parametrize("block", [2, 3, 7, 100])
def test_block_shift_is_a_derangement(block):
    for k in range(1, 9):
        shift = block_shift(block, k)
        assert 1 <= shift < block
    assert block_shift(1, 1) == 0  # a single sample cannot be paired with another


def test_shuffle_is_the_same_tiled_and_whole():
    k = 6
    layer, top = _diagonal(k, 1.0)
    kw = dict(samples=30000, seed=4, estimator="shuffle", shuffles=2, **_ranges(1.0))
    whole = dei.ei_parts_matrix(layer, top, **kw)
    pair_bytes = (BINS + 1) ** 2 * 4
    # 3 counters (real + 2 nulls) share the bound: each gets its bookkeeping and 4 pairs'
    # counters in 3/4 of the rest.
    tiled = dei.ei_parts_matrix(layer, top, memory_bound=3 * (COUNTER_SET_BYTES + pair_bytes * 4 * 4 // 3 + 1), **kw)
    np.testing.assert_array_equal(whole, tiled)


def test_nulls_share_the_memory_bound():
    from deep_ei_fast.api.prepare import open_measurement
    from deep_ei_fast.engine.settings import MeasurementSettings
    layer, top = _diagonal(6, 1.0)
    bound = 4 * (COUNTER_SET_BYTES + 10 * (BINS + 1) ** 2 * 4)  # 4 parts: bookkeeping, 10 pairs
    settings = MeasurementSettings(samples=100, in_range=(0, 1), out_range=(0, 1), in_bins=BINS,
                                   out_bins=BINS, progress=False, memory_bound=bound,
                                   estimator="shuffle", shuffles=3)
    with open_measurement(layer, top, settings, dynamic_out=True) as m:
        pairs = m.pair_counts(m.pair_binning(100))  # under the settings' bound
    assert len(pairs.nulls) == 3
    for counts in [pairs.counts, *pairs.nulls]:
        largest = max((a1 - a0) * (b1 - b0) for a0, a1, b0, b1 in counts.tiles)
        # four of them fit together, with their bookkeeping and cached codes
        assert 4 * (COUNTER_SET_BYTES + largest * (BINS + 1) ** 2 * 4 + counts.cache_limit) <= bound
        assert 4 * largest * (BINS + 1) ** 2 * 4 <= bound * 3 // 4


# --- the drop-in functions -----------------------------------------------------------------------

@pytest.mark.parametrize("rng", ["philox", "torch"])
def test_plugin_is_the_default_bit_for_bit(rng):
    layer, top = _diagonal(3, 1.0)
    kw = dict(samples=3000, rng=rng, **_ranges(1.0))
    torch.manual_seed(5)
    default = dei.ei_parts_matrix(layer, top, seed=5 if rng == "philox" else None, **kw)
    torch.manual_seed(5)
    explicit = dei.ei_parts_matrix(layer, top, seed=5 if rng == "philox" else None, estimator="plugin", **kw)
    np.testing.assert_array_equal(default, explicit)
    torch.manual_seed(5)
    stats = dei.pairwise_stats(layer, top, seed=5 if rng == "philox" else None, estimator="plugin", **kw)
    np.testing.assert_array_equal(stats.plugin_mi, default)


def test_every_function_takes_the_estimator():
    layer, top = _diagonal(3, 1.0)
    kw = dict(seed=6, **_ranges(1.0))
    plug = dei.ei_parts(layer, top, samples=5000, **kw)
    for estimator in ("miller_madow", "shuffle"):
        assert dei.ei_parts(layer, top, samples=5000, estimator=estimator, **kw) < plug
        # One input firing: the diagonal pairs are deterministic (the plug-in is biased down
        # there, Miller-Madow raises it) and the others constant (MI 0 under every estimator).
        sens = dei.sensitivity(layer, top, samples=2000, estimator=estimator, **kw)
        plug_sens = dei.sensitivity(layer, top, samples=2000, **kw)
        assert (sens > plug_sens) if estimator == "miller_madow" else (sens < plug_sens)
        ei, parts = dei.vector_and_pairwise_ei(layer, top, samples=5000, estimator=estimator, **kw)
        assert parts < plug and math.isfinite(ei)
        assert len(dei.eis_between_groups(layer, top, [((0,), (0,))], samples=5000,
                                          estimator=estimator, **kw)) == 1
        assert math.isfinite(dei.ei(layer, top, samples=5000, estimator=estimator, **kw))
    sens = dei.sensitivity_stats(layer, top, samples=2000, estimator="plugin", **kw)
    assert sens.ei_parts == pytest.approx(dei.sensitivity_matrix(layer, top, samples=2000, **kw).sum(), abs=1e-9)
    assert sens.ei_parts_standard_error > 0


@pytest.mark.parametrize("function", [dei.ei, dei.ei_parts, dei.ei_parts_matrix, dei.sensitivity,
                                      dei.sensitivity_matrix, dei.vector_and_pairwise_ei,
                                      dei.pairwise_stats, dei.vector_stats, dei.sensitivity_stats])
def test_unknown_estimator_is_refused_before_work(function):
    layer, top = _diagonal(2, 1.0)
    with pytest.raises(ValueError,
                       match=r"estimator must be one of \('plugin', 'miller_madow', 'shuffle'\), got 'nsb'"):
        function(layer, top, samples=10, estimator="nsb", progress=False)
    with pytest.raises(ValueError, match="shuffles must be at least 1, got 0"):
        function(layer, top, samples=10, estimator="shuffle", shuffles=0, progress=False)


def test_bad_q_is_refused():
    layer, top = _diagonal(2, 1.0)
    with pytest.raises(ValueError, match="q must be a number in"):
        dei.pairwise_stats(layer, top, samples=10, q=1.5, progress=False)


# --- causal plane, recorder, command line ---------------------------------------------------------

def _plane_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 2), nn.Sigmoid())


def test_causal_plane_rows_carry_estimator_and_standard_errors():
    net = _plane_net()
    kw = dict(samples=20000, sensitivity_samples=500, in_range=(0, 1), out_range=(0, 1), in_bins=BINS,
              out_bins=BINS, progress=False, seed=3)
    plain = dei.causal_plane(net, torch.zeros(1, 3), **kw)[0]
    assert plain.estimator == "plugin" and plain.ei_parts_standard_error is None
    row = dei.causal_plane(net, torch.zeros(1, 3), estimator="shuffle", standard_errors=True, **kw)[0]
    assert row.estimator == "shuffle"
    layer, top = net[0], dei.topology_of(net, torch.zeros(1, 3))
    stats = dei.pairwise_stats(layer, top, estimator="shuffle", samples=20000, seed=3,
                               **{k: kw[k] for k in ("in_range", "out_range", "in_bins", "out_bins", "progress")})
    # The same samples (same philox seed) behind the row and pairwise_stats.
    assert row.ei_parts == pytest.approx(stats.ei_parts, abs=1e-12)
    assert row.ei_parts_standard_error == pytest.approx(stats.ei_parts_standard_error, rel=1e-12)
    for value in (row.ei_standard_error, row.sensitivity_standard_error):
        assert 0 < value < 0.5
    # The differences' errors: the sums of their terms' (a bound for correlated terms).
    assert row.degeneracy_standard_error == row.sensitivity_standard_error + row.ei_standard_error
    assert row.degeneracy_parts_standard_error == row.sensitivity_standard_error + row.ei_parts_standard_error
    assert row.integration_standard_error == row.ei_standard_error + row.ei_parts_standard_error
    assert plain.degeneracy_standard_error is None and plain.integration_standard_error is None


def test_recorder_csv_round_trips_the_new_columns(tmp_path):
    path = tmp_path / "run.csv"
    kw = dict(samples=5000, sensitivity_samples=200, in_range=(0, 1), out_range=(0, 1), in_bins=4,
              out_bins=4, progress=False, seed=3, estimator="miller_madow", standard_errors=True)
    recorder = dei.CausalPlaneRecorder(_plane_net(), torch.zeros(1, 3), str(path), **kw)
    written = recorder.record(0, loss=1.0)[0]
    again = dei.CausalPlaneRecorder(_plane_net(), torch.zeros(1, 3), str(path), **kw).rows[0]
    assert again["estimator"] == "miller_madow"
    for column in ("ei_parts_standard_error", "degeneracy_standard_error", "degeneracy_parts_standard_error",
                   "integration_standard_error"):
        assert written[column] > 0
        assert again[column] == pytest.approx(written[column], rel=1e-12)


def test_cli_measure_takes_the_estimator(tmp_path, capsys):
    from deep_ei_fast.apps.cli import main
    model = tmp_path / "m.pt"
    torch.save(_plane_net().state_dict(), model)
    csv_path = tmp_path / "rows.csv"
    assert main(["measure", str(model), "--arch", "3,2", "--bias", "--samples", "5000",
                 "--sensitivity-samples", "200", "--estimator", "shuffle", "--standard-errors",
                 "--csv", str(csv_path)]) == 0
    header, first = csv_path.read_text().splitlines()[:2]
    row = dict(zip(header.split(","), first.split(",")))
    assert row["estimator"] == "shuffle" and float(row["ei_parts_standard_error"]) > 0


def _synthetic_rows(with_errors):
    rows = []
    for epoch in range(3):
        for layer in range(2):
            row = dict(epoch=epoch, layer=layer, module="Linear 3->2", ei=1.0 + epoch, ei_parts=0.5,
                       sensitivity=3.0 + layer, degeneracy=2.0 + layer - epoch, integration=0.5 + epoch)
            if with_errors:
                row.update(ei_standard_error=0.1, ei_parts_standard_error=0.05,
                           sensitivity_standard_error=0.2)
            rows.append(row)
    return rows


def test_plots_draw_bands_and_error_bars(tmp_path):
    pytest.importorskip("matplotlib")
    from deep_ei_fast.plane import plots
    recording = plots._Recording(_synthetic_rows(True))
    # Differences without recorded errors: the bound from their terms' (sum of the errors).
    assert recording.error(0, "degeneracy") == pytest.approx(np.full(3, 0.1 + 0.2))
    assert recording.error(0, "integration") == pytest.approx(np.full(3, 0.1 + 0.05))
    recorded = _synthetic_rows(True)
    for row in recorded:
        row.update(degeneracy_standard_error=0.7, integration_standard_error=0.4)
    assert plots._Recording(recorded).error(1, "degeneracy") == pytest.approx(np.full(3, 0.7))
    assert plots._Recording(recorded).error(1, "integration") == pytest.approx(np.full(3, 0.4))
    assert plots._Recording(_synthetic_rows(False)).error(0, "ei") is None
    images = {}
    for with_errors in (False, True):
        for draw in (plots.plot_measures, plots.plot_causal_plane):
            path = tmp_path / f"{draw.__name__}_{with_errors}.png"
            draw(_synthetic_rows(with_errors), str(path))
            images[draw.__name__, with_errors] = path.read_bytes()
    for name in ("plot_measures", "plot_causal_plane"):  # the bands / bars change the picture
        assert images[name, True] != images[name, False]
