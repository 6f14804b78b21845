"""deep-ei 0.7.0's sample-count rules: doubling rounds until convergence (capped by
max_samples), and extrapolation."""
import warnings
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

FIRST_ROUND = 10000
# samples=None stops at this many samples when deep-ei's rule has not been met by then. deep-ei
# has no cap: with 64 bins a 4-input layer has 64^4 input codes, its vector EI keeps growing,
# and the doubling ran for hours into tens of GB. 1e7 is the paper's sample count; the Iris
# network's causal plane reaches it in about 2 minutes on 2 cores (benchmarks/defaults_finish.py).
DEFAULT_MAX_SAMPLES = 10_000_000


class ConvergenceWarning(UserWarning):
    """``samples=None`` reached ``max_samples`` before deep-ei's convergence rule was met.

    The function returns its last estimate; the message names the function, the layer, the
    samples drawn, the last change and the threshold. :func:`causal_plane`'s rows (and a
    recorder's CSV) then have ``converged=False``. Not in deep-ei, whose rule has no cap.

    Examples
    --------
    A layer of 4 inputs with 64 bins each has 64**4 input codes: its EI keeps growing with the
    samples, and the rule does not hold within 10000 samples (the first round).

    >>> import warnings
    >>> import torch
    >>> import deep_ei_fast as deep_ei
    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 4))
    >>> topology = deep_ei.topology_of(model, torch.zeros(1, 4))
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     value = deep_ei.ei(model[0], topology, max_samples=10000, seed=0)
    >>> caught[0].category is deep_ei.ConvergenceWarning
    True
    >>> print(caught[0].message)  # doctest: +ELLIPSIS
    ei: layer Linear 4->4 did not converge within max_samples=10,000: 10,000 samples drawn, ...
    """
EXTRAPOLATION_ROUND = 100000
EXTRAPOLATION_POINTS = 20
EXTRAPOLATION_FIRST_FITTED = 4  # rounds 5..20 are fitted
EXTRAPOLATE_TO = 1e15


def doubling_rounds():
    """(samples drawn this round, total so far): 10k, 10k, 20k, 40k, ... new samples."""
    interval, total = FIRST_ROUND, FIRST_ROUND
    while True:
        yield interval, total
        interval = total
        total += interval


def ei_parts_converged(previous, current, interval, total, threshold):
    """deep-ei's rule: (EI_{k-1} - EI_k) / interval * total / EI_k <= threshold.

    deep-ei divides by zero when EI_k == 0; here a zero EI counts as converged.
    """
    if current == 0.0:
        return True
    return (previous - current) / interval * total / current <= threshold


def vector_ei_converged(previous, current, threshold):
    """deep-ei's vector rule: |EI_k - EI_{k-1}| < log2(2) * threshold."""
    return abs(current - previous) < np.log2(2) * threshold


class ConvergenceRule(NamedTuple):
    """A samples=None rule on two successive estimates: ``converged(previous, current,
    interval, total)``, the ``change(previous, current, interval, total)`` it compares with
    ``threshold`` (reported in the progress bar and the warning) and ``headline(estimate)``,
    the number the bar shows."""
    converged: Callable
    change: Callable
    headline: Callable
    threshold: float


def ei_parts_rule(threshold):
    """ei_parts' rule on the EI_parts of (EI_parts, matrix) estimates."""
    def change(previous, current, interval, total):
        return 0.0 if current[0] == 0.0 else (previous[0] - current[0]) / interval * total / current[0]
    return ConvergenceRule(
        lambda p, c, interval, total: ei_parts_converged(p[0], c[0], interval, total, threshold),
        change, lambda estimate: estimate[0], threshold)


def vector_rule(threshold):
    """ei's rule on lists of vector EIs: every one changed by less than threshold bits."""
    return ConvergenceRule(
        lambda p, c, interval, total: all(vector_ei_converged(a, b, threshold) for a, b in zip(p, c)),
        lambda p, c, interval, total: max((abs(b - a) for a, b in zip(p, c)), default=0.0),
        lambda estimate: estimate[0] if len(estimate) == 1 else None, threshold)


def extrapolate(eis):
    """Fits a / n^e + C (a, e, C >= 0) to rounds 5..20 and evaluates it at n = 1e15."""
    from scipy.optimize import curve_fit

    values = np.array(eis[EXTRAPOLATION_FIRST_FITTED:])
    sizes = np.array([(n + 1) * EXTRAPOLATION_ROUND for n in range(len(eis))][EXTRAPOLATION_FIRST_FITTED:])

    def curve(x, a, e, c):
        # x**e in float64: the fit's trial exponents overflow it to inf (a / inf = 0, as
        # intended), which numpy would warn about for every trial.
        with np.errstate(over="ignore"):
            return a / (np.asarray(x, dtype=np.float64) ** e) + c

    def loss(params):
        return np.sum((values - curve(sizes, *params)) ** 2)

    fits = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for a in [0, 10, 100, 1000, 10000, 100000, 1000000, 10000000]:
            for e in [0, 1]:
                try:
                    params, _ = curve_fit(curve, sizes, values, p0=[a, e, 0],
                                          bounds=([0, 0, 0], [np.inf, np.inf, np.inf]), maxfev=10000)
                    fits.append(params)
                except RuntimeError:
                    pass
        best = min(fits, key=loss)
    return float(curve(EXTRAPOLATE_TO, *best))


def fixed_or_converged(m, consumers, estimate, rule):
    """Feeds m.settings.samples samples to ``consumers`` and returns ``estimate()``. With
    samples=None, feeds deep-ei's doubling rounds until ``rule`` (a ConvergenceRule) holds for
    two successive estimates, and returns the last one; at m.settings.max_samples (the last
    round cut to reach it exactly) it returns the last estimate and warns with
    ConvergenceWarning. Sets m.converged: True for fixed samples or a met rule."""
    settings = m.settings
    m.converged = True
    if settings.samples is not None:
        with m.bar(settings.samples) as bar:
            m.feed(settings.samples, consumers, bar)
            return estimate()  # in the bar: a tiled pair count shows its passes there
    cap = settings.max_samples
    previous, change = None, None
    with m.bar(None) as bar:
        for round_number, (interval, total) in enumerate(doubling_rounds(), start=1):
            if cap is not None and total > cap:
                interval, total = interval - (total - cap), cap
            bar.set_total(total)  # this round's target: the rounds to come are not known
            m.feed(interval, consumers, bar)
            current = estimate()
            if previous is not None:
                change = rule.change(previous, current, interval, total)
                if rule.converged(previous, current, interval, total):
                    return current
            _show_round(bar, round_number, rule.headline(current), change, rule.threshold)
            if cap is not None and total >= cap:
                m.converged = False
                _warn_not_converged(m, total, change, rule.threshold)
                return current
            previous = current


def _show_round(bar, round_number, headline, change, threshold):
    postfix = {"round": round_number}
    if headline is not None:
        postfix["estimate"] = f"{headline:.4g}"
    postfix["change"] = "-" if change is None else f"{change:.3g}"
    postfix["threshold"] = f"{threshold:g}"
    # refresh now: rounds are few, and a bar redrawn only on its next update could skip them
    bar.set_postfix(postfix, refresh=True)


def _warn_not_converged(m, samples, change, threshold):
    last = "no change measured (a single round)" if change is None else f"last change {change:.4g}"
    warnings.warn(
        f"{m.description}: layer {m.spec.describe()} did not converge within max_samples="
        f"{m.settings.max_samples:,}: {samples:,} samples drawn, {last}, threshold {threshold:g}; "
        "returning the last estimate (raise max_samples, or give samples)",
        ConvergenceWarning, stacklevel=4)
