"""MI of two series and the nats-to-bits conversion, as deep-ei 0.7.0 exposes them."""
from math import log

import torch

from ..engine.pair_counts import PairBinning, PairCounts
from ..estimators.plugin import pairwise_mi_bits
from .arguments import check_bins, check_range


def nats_to_bits(nats):
    """Convert information from nats to bits."""
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
    r"""Mutual information in bits between 1-d series x and y, binned with ``bins`` (an int or
    an (x_bins, y_bins) pair) over ``range`` ((x_low, x_high), (y_low, y_high)).

    Values are binned as float32 (deep-ei's tensors are float32).
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
    counts = PairCounts(binning, 1, 1, memory_bound=max(4 * binning.pair_bytes, 2**20))  # one tile
    counts.add(x_series, y_series)
    (tile,) = counts.each_tile()
    return float(pairwise_mi_bits(tile.counts, tile.in_bins, tile.out_bins)[0, 0])
