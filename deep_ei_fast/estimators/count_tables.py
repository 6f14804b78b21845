"""Summaries of pair count tables, a bounded chunk of pairs at a time, from one pass over each
pair's counters (the engine's pair_table_summary op, either device).

A tile ``counts`` int32 [na, nb, RX, RY] has one extra last row and column of dropped
(out-of-range) samples, which no estimate uses. Per-sample quantities are read at the cells of
a few kept samples (PairCounts.first_codes).
"""
import math

import numpy as np
import torch

from ..engine import ops

CHUNK_ELEMENTS = 1 << 23  # bound on the per-sample values of a chunk of pairs
BITS_PER_NAT = 1.0 / math.log(2.0)

# Columns of pair_summaries: plug-in MI (bits, deep-ei's), samples counted, occupied input
# bins, output bins, joint cells, and the variance over the kept samples of
# L = log2(p_xy / (p_x p_y)) at their cells (bits^2).
MI, N, RX, RY, RXY, L_VARIANCE = range(6)
COUNT_COLUMNS = {"samples": N, "occupied input bins": RX, "occupied output bins": RY,
                 "occupied cells": RXY}


def _no_codes(n, device):
    return torch.empty((n, 0), dtype=torch.uint8, device=device)


def pair_summaries(counts, in_bins, out_bins, x_codes=None, y_codes=None):
    """([na, nb, 6] float64: the columns named above, per pair; [M] float64: Phi, each kept
    sample's sum over the tile's pairs of L at its cells) of a tile of counts with int32
    out_bins [nb]. x_codes [na, M] and y_codes [nb, M] are the kept samples' codes of the
    tile's neurons (None: no samples, L_VARIANCE 0 and Phi empty). Chunks are whole rows of
    the tile (at least one)."""
    na, nb = counts.shape[:2]
    if x_codes is None:
        x_codes, y_codes = _no_codes(na, counts.device), _no_codes(nb, counts.device)
    m = x_codes.shape[1]
    step = max(1, CHUNK_ELEMENTS // (nb * max(m, 1)))
    summaries, phi = [], torch.zeros(m, dtype=torch.float64, device=counts.device)
    for a0 in range(0, na, step):
        summary, log_ratios = ops.pair_table_summary(counts[a0:a0 + step], in_bins, out_bins,
                                                     x_codes[a0:a0 + step], y_codes)
        variance = torch.zeros(summary.shape[:2] + (1,), dtype=torch.float64, device=counts.device)
        if m:
            phi += log_ratios.sum(dim=(0, 1), dtype=torch.float64)
            if m > 1:
                variance = log_ratios.to(torch.float64).var(dim=2).unsqueeze(2)
        summaries.append(torch.cat([summary, variance], dim=2))
    return torch.cat(summaries), phi


def summaries_problem(arrays):
    """What no tile of pair_summaries could hold (a checkpoint's check): counts that are
    negative or not whole, a negative MI or variance."""
    summary = arrays[0]
    for name, column in COUNT_COLUMNS.items():
        values = summary[..., column]
        if (values < 0).any() or (values != np.round(values)).any():
            return f"{name} that are not counts (such as {values[(values < 0) | (values != np.round(values))].flat[0]})"
    for name, column in (("plug-in MI", MI), ("variance", L_VARIANCE)):
        if (summary[..., column] < 0).any():
            return f"a negative {name} ({summary[..., column].min()})"
    return None
