"""MI of two series and the nats-to-bits conversion, as deep-ei 0.7.0 exposes them."""
from math import log

import torch

from ..engine.pair_counts import PairBinning, PairCounts
from ..estimators.plugin import pairwise_mi_bits
from .arguments import check_bins, check_range


def nats_to_bits(nats):
    """Convert information from nats to bits (deep-ei 0.7.0's function).

    Parameters
    ----------
    nats : float
        An amount of information in nats (any number, or anything that divides by one).

    Returns
    -------
    float
        ``nats / ln 2``.

    Raises
    ------
    TypeError
        When ``nats`` cannot be divided by a float.

    Examples
    --------
    >>> import math
    >>> import deep_ei_fast as deep_ei
    >>> deep_ei.nats_to_bits(math.log(2))
    1.0
    """
    return nats / log(2)


def _as_series(name, values):
    """float32 [1, n] of a 1-d series of real numbers (a tensor, array or sequence)."""
    try:
        tensor = torch.as_tensor(values).detach().cpu()
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"{name} must be a 1-dimensional series of real numbers, got "
                        f"{type(values).__name__} {_shown(values)}") from None
    if tensor.is_complex():
        raise TypeError(f"{name} must hold real numbers, got dtype {tensor.dtype}")
    if tensor.dim() != 1:
        raise ValueError(f"{name} must be 1-dimensional, got shape {tuple(tensor.shape)}")
    return tensor.to(torch.float32).reshape(1, -1).contiguous()


def _shown(values, width=60):
    text = repr(values)
    return text if len(text) <= width else text[:width - 3] + "..."


def MI(x, y, bins=32, range=((0, 1), (0, 1))):
    r"""The mutual information in bits of two series, from their joint histogram.

    deep-ei 0.7.0's function: the plug-in MI of the (x, y) pairs binned as every pairwise
    function bins them (each range widened by 1e-6 on both sides; a pair outside either range
    is not counted). Values are binned as float32, the type of deep-ei's tensors.

    Parameters
    ----------
    x, y : torch.Tensor, numpy.ndarray or sequence of float
        Two 1-dimensional series of real numbers of the same length.
    bins : int or (int, int), default 32
        Equal bins over each range, or (x bins, y bins); each 1 to 65535.
    range : ((float, float), (float, float)), default ((0, 1), (0, 1))
        ((x low, x high), (y low, y high)), each finite with low < high.

    Returns
    -------
    float
        The plug-in MI in bits (0.0 when no pair falls within the ranges).

    Raises
    ------
    TypeError
        A series that is not real numbers, non-integer bins, or a range that is not a pair of
        (low, high) pairs of reals.
    ValueError
        A series that is not 1-dimensional, series of different lengths, bins outside 1 to
        65535, or a range that is not finite with low < high.

    Examples
    --------
    A series shares all of its information with itself, log2(8) = 3 bits in 8 bins (less the
    plug-in's bias), and none with a constant:

    >>> import torch
    >>> import deep_ei_fast as deep_ei
    >>> x = torch.rand(10000, generator=torch.Generator().manual_seed(0))
    >>> round(deep_ei.MI(x, x, bins=8), 2)
    3.0
    >>> deep_ei.MI(x, torch.zeros(10000), bins=8)
    0.0
    >>> round(deep_ei.MI(x, x, bins=(8, 4)), 2)  # 4 bins on y: 2 bits
    2.0
    """
    x_series, y_series = _as_series("x", x), _as_series("y", y)
    if x_series.shape[1] != y_series.shape[1]:
        raise ValueError(f"x and y must have the same length, got {x_series.shape[1]} and {y_series.shape[1]}")
    x_bins, y_bins = (bins, bins) if not isinstance(bins, (tuple, list)) else bins
    check_bins("bins", x_bins)
    check_bins("bins", y_bins)
    try:
        x_range, y_range = range
    except (TypeError, ValueError):
        raise TypeError(f"range must be ((x_low, x_high), (y_low, y_high)), got {range!r}") from None
    check_range("range", x_range)
    check_range("range", y_range)
    binning = PairBinning(x_range, x_bins, [y_range], [y_bins], torch.device("cpu"))
    counts = PairCounts(binning, 1, 1, memory_bound=max(4 * binning.pair_bytes, 2**20), keep_first=False)
    counts.add(x_series, y_series)
    return float(counts.per_pair(pairwise_mi_bits)[0, 0])
