"""The shuffle estimator: plug-in MI minus the mean plug-in MI of shuffled pairings.

Each null pairs every output with another sample's input (engine/null_pairing.py), so it has
the real pairing's marginals and sample count but no dependence: its plug-in MI is the
plug-in's bias at this N, including the part Miller-Madow's first order misses (Panzeri et
al. 2007 discuss shuffle-based corrections).
"""
import numpy as np


def corrected(real, nulls):
    """real - mean(nulls), elementwise (float64 numpy arrays or lists of floats)."""
    real = np.asarray(real, dtype=np.float64)
    if not nulls:
        return real
    return real - np.mean([np.asarray(n, dtype=np.float64) for n in nulls], axis=0)
