"""Across seeds: means with 95% intervals, and paired differences between configurations.

Each training seed gives one independent value of a quantity (its measurement seed differs too,
so the spread over seeds holds both the training's and the measurement's variation). A mean's
uncertainty is its standard error over seeds, s / sqrt(n), and its 95% interval the Student t
one, mean +- t(0.975, n - 1) s / sqrt(n): with 3 seeds t is 4.30, not 1.96. Two configurations
trained from the same seed share their initial weights, data split and batch order, so they are
compared by the mean of their per-seed differences (a paired t interval), which removes the
seed-to-seed variation they share.
"""
import math
from collections import defaultdict

import numpy as np

from ...plane.plots import ERROR_COLUMNS, INTERVAL_Z
from ...plane.rows import MEASURE_COLUMNS

METRICS = ("loss", "train_accuracy", "test_accuracy")
QUANTITIES = (*MEASURE_COLUMNS, *METRICS)
MEASUREMENT_ERRORS = ("ei_standard_error", "ei_parts_standard_error", "sensitivity_standard_error")


def interval(values):
    """(mean, standard error, 95% half-width, n) of independent values (NaNs dropped); the
    half-width is Student t's, nan with fewer than two values."""
    values = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    n = len(values)
    if n == 0:
        return math.nan, math.nan, math.nan, 0
    mean = float(values.mean())
    if n < 2:
        return mean, math.nan, math.nan, n
    error = float(values.std(ddof=1) / math.sqrt(n))
    from scipy import stats  # imported here: the command line loads this module for every command
    return mean, error, float(stats.t.ppf(0.975, n - 1) * error), n


def format_interval(mean, half, digits=3):
    """"1.234 ± 0.056" (the mean alone when the half-width is not known)."""
    if math.isnan(half):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {half:.{digits}f}"


def configurations(rows, keys):
    """The distinct values of the ``keys`` columns, in order of first appearance."""
    seen = []
    for row in rows:
        config = tuple(row[k] for k in keys)
        if config not in seen:
            seen.append(config)
    return seen


def aggregate(rows, keys, quantities=QUANTITIES):
    """One dict per (configuration, epoch, layer): the ``keys`` columns, epoch, layer, name,
    module, seeds (how many), and per quantity q: q (the mean over seeds), q_sem and q_ci95 (the
    t interval's half-width); plus the mean of each run's own measurement standard errors
    (``*_standard_error`` as the rows carry them), for comparison with the spread over seeds."""
    groups = defaultdict(list)
    for row in rows:
        groups[tuple(row[k] for k in keys), row["epoch"], row["layer"]].append(row)
    result = []
    for (config, epoch, layer), members in groups.items():
        first = members[0]
        entry = {**dict(zip(keys, config)), "epoch": epoch, "layer": layer, "name": first["name"],
                 "module": first["module"], "n_in": first["n_in"], "seeds": len(members)}
        for q in quantities:
            mean, error, half, _ = interval(m.get(q) for m in members)
            entry[q], entry[f"{q}_sem"], entry[f"{q}_ci95"] = mean, error, half
        for column in MEASUREMENT_ERRORS:  # nan where the rows carry none
            known = [m[column] for m in members if m[column] is not None]
            entry[f"mean_{column}"] = float(np.mean(known)) if known else math.nan
        result.append(entry)
    return result


def select(entries, **match):
    """The entries whose columns equal ``match``."""
    return [e for e in entries if all(e[k] == v for k, v in match.items())]


def plane_rows(entries):
    """The aggregated entries of one configuration as rows the plane plots draw: the means, and
    standard-error columns set to (95% t half-width) / 1.96, so that the plots' 95% normal bars
    (1.96 standard errors) are the t intervals over seeds."""
    rows = []
    for e in sorted(entries, key=lambda e: (e["epoch"], e["layer"])):
        row = {"epoch": e["epoch"], "layer": e["layer"], "name": e["name"], "module": e["module"]}
        for q in QUANTITIES:
            row[q] = e[q]
        for measure, column in ERROR_COLUMNS.items():
            row[column] = e[f"{measure}_ci95"] / INTERVAL_Z
        rows.append(row)
    return rows


def per_seed(rows, keys_values, quantity, epoch, layer):
    """{seed: value} of one configuration's quantity at one epoch and layer."""
    return {r["training_seed"]: r[quantity] for r in rows if r["epoch"] == epoch and r["layer"] == layer
            and all(r[k] == v for k, v in keys_values.items())}


def paired_difference(a, b):
    """(mean, standard error, 95% half-width, n) of a[seed] - b[seed] over the seeds both have."""
    common = sorted(set(a) & set(b))
    return interval(a[s] - b[s] for s in common)


def final_epoch(rows):
    return max(r["epoch"] for r in rows)
