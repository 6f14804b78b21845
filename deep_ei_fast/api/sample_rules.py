"""deep-ei 0.7.0's sample-count rules: doubling rounds until convergence, and extrapolation."""
import warnings

import numpy as np

FIRST_ROUND = 10000
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


def extrapolate(eis):
    """Fits a / n^e + C (a, e, C >= 0) to rounds 5..20 and evaluates it at n = 1e15."""
    from scipy.optimize import curve_fit

    values = np.array(eis[EXTRAPOLATION_FIRST_FITTED:])
    sizes = np.array([(n + 1) * EXTRAPOLATION_ROUND for n in range(len(eis))][EXTRAPOLATION_FIRST_FITTED:])

    def curve(x, a, e, c):
        return a / (x**e) + c

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


def fixed_or_converged(m, consumers, estimate, converged):
    """Feeds m.settings.samples samples to ``consumers`` and returns ``estimate()``; with
    samples=None, feeds deep-ei's doubling rounds until ``converged(previous, current,
    interval, total)`` holds for two successive estimates, and returns the last one."""
    samples = m.settings.samples
    if samples is not None:
        with m.bar(samples) as bar:
            m.feed(samples, consumers, bar)
        return estimate()
    previous = None
    with m.bar(None) as bar:
        for interval, total in doubling_rounds():
            m.feed(interval, consumers, bar)
            current = estimate()
            if previous is not None and converged(previous, current, interval, total):
                return current
            previous = current
