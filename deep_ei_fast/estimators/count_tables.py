"""Summaries of pair count tables in torch (either device), a bounded chunk of pairs at a time.

A tile ``counts`` int32 [na, nb, RX, RY] has one extra last row and column of dropped
(out-of-range) samples, which no estimate uses. Only integer reductions touch every cell (a
float pass over the counters would cost more than the MI itself); per-sample quantities are
gathered at the cells of a few kept samples.
"""
import math

import torch

CHUNK_ELEMENTS = 1 << 22  # bound on the elements of a chunk's temporaries
BITS_PER_NAT = 1.0 / math.log(2.0)

# Columns of pair_summaries: samples counted, occupied input bins, output bins, joint cells,
# and the variance over the kept samples of L = log2(p_xy / (p_x p_y)) at their cells (bits^2).
N, RX, RY, RXY, L_VARIANCE = range(5)


def _valid_sums(chunk):
    """Row and column sums [P, RX] / [P, RY] of the valid counts, 0 at the dropped index."""
    rows = chunk.sum(dim=2, dtype=torch.int32) - chunk[:, :, -1]
    cols = chunk.sum(dim=1, dtype=torch.int32) - chunk[:, -1, :]
    rows[:, -1] = 0
    cols[:, -1] = 0
    return rows, cols


def _occupied_cells(chunk):
    """Occupied valid cells of each table: all occupied cells less the dropped row and column's
    (reducing whole contiguous tables is far faster than the strided valid block)."""
    occupied = chunk.clamp(max=1).reshape(chunk.shape[0], -1).sum(dim=1, dtype=torch.int32)
    dropped = chunk[:, -1, :].clamp(max=1).sum(dim=1, dtype=torch.int32) + \
        chunk[:, :-1, -1].clamp(max=1).sum(dim=1, dtype=torch.int32)
    return occupied - dropped


def _log_ratios_at(chunk, rows, cols, n, x, y):
    """[P, M] float64: L at each sample's cell (0 where the sample was dropped or the pair is empty)."""
    p, rx, ry = chunk.shape
    cell = chunk.reshape(p, rx * ry).gather(1, x * ry + y).to(torch.float64)
    row, col = rows.gather(1, x).to(torch.float64), cols.gather(1, y).to(torch.float64)
    valid = (cell > 0) & (row > 0) & (col > 0)
    ratio = torch.where(valid, cell * n.unsqueeze(1) / (row * col).clamp_min(1.0), 1.0)
    return torch.log2(ratio)


def pair_summaries(counts, x_codes=None, y_codes=None):
    """([na, nb, 5] float64: the columns named above, per pair; [M] float64: Phi, each kept
    sample's sum over the tile's pairs of L at its cells) of a tile of counts. x_codes [na, M]
    and y_codes [nb, M] are the kept samples' codes of the tile's neurons (None: no samples,
    L_VARIANCE 0 and Phi empty)."""
    na, nb, rx, ry = counts.shape
    tables = counts.reshape(na * nb, rx, ry)
    m = 0 if x_codes is None else x_codes.shape[1]
    step = max(1, CHUNK_ELEMENTS // max(rx * ry, m))
    summaries, phi = [], torch.zeros(m, dtype=torch.float64, device=counts.device)
    for start in range(0, na * nb, step):
        chunk = tables[start:start + step]
        rows, cols = _valid_sums(chunk)
        n = rows.sum(dim=1, dtype=torch.int64).to(torch.float64)
        variance = torch.zeros_like(n)
        if m:
            index = torch.arange(start, start + chunk.shape[0], device=counts.device)
            log_ratios = _log_ratios_at(chunk, rows, cols, n, x_codes[index // nb].to(torch.int64),
                                        y_codes[index % nb].to(torch.int64))
            phi += log_ratios.sum(dim=0)
            if m > 1:
                variance = log_ratios.var(dim=1)
        summaries.append(torch.stack([n, (rows > 0).sum(dim=1).to(torch.float64),
                                      (cols > 0).sum(dim=1).to(torch.float64),
                                      _occupied_cells(chunk).to(torch.float64), variance], dim=1))
    return torch.cat(summaries).reshape(na, nb, -1), phi
