"""Summaries of pair count tables in torch (either device), a bounded chunk of pairs at a time.

A tile ``counts`` int32 [na, nb, RX, RY] has one extra last row and column of dropped
(out-of-range) samples, which no estimate uses. Only integer reductions touch every cell (a
float pass over the counters would cost more than the MI itself); per-sample quantities are
gathered at the cells of a few kept samples.
"""
import math

import torch

CHUNK_ELEMENTS = 1 << 23  # bound on the elements of a chunk's temporaries
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


def _log2_or_nan(sums):
    """float32 log2 of positive sums, NaN for 0 (an empty or dropped bin: its L is then 0)."""
    logs = torch.log2(sums.to(torch.float32))
    return torch.where(sums > 0, logs, torch.nan)


def _log_ratios_at(chunk, rows, cols, n, x, y):
    """[A, B, M] float32: L at each kept sample's cell of a chunk [A, B, RX, RY] of tables
    (0 where the sample was dropped or its cell is empty); x [A, M], y [B, M] int64 codes."""
    a, b, rx, ry = chunk.shape
    m = x.shape[1]
    cells = (x.unsqueeze(1) * ry + y.unsqueeze(0)).reshape(a * b, m)
    cell = torch.log2(chunk.reshape(a * b, rx * ry).gather(1, cells).to(torch.float32))
    row = _log2_or_nan(rows).gather(1, x.unsqueeze(1).expand(a, b, m).reshape(a * b, m))
    col = _log2_or_nan(cols).gather(1, y.unsqueeze(0).expand(a, b, m).reshape(a * b, m))
    log_ratio = (cell - row - col) + torch.log2(n.to(torch.float32).clamp_min(1.0)).unsqueeze(1)
    return torch.where(torch.isfinite(log_ratio), log_ratio, 0.0).reshape(a, b, m)


def pair_summaries(counts, x_codes=None, y_codes=None):
    """([na, nb, 5] float64: the columns named above, per pair; [M] float64: Phi, each kept
    sample's sum over the tile's pairs of L at its cells) of a tile of counts. x_codes [na, M]
    and y_codes [nb, M] are the kept samples' codes of the tile's neurons (None: no samples,
    L_VARIANCE 0 and Phi empty). Chunks are whole rows of the tile (at least one)."""
    na, nb, rx, ry = counts.shape
    m = 0 if x_codes is None else x_codes.shape[1]
    step = max(1, CHUNK_ELEMENTS // (nb * max(rx * ry, m)))
    summaries, phi = [], torch.zeros(m, dtype=torch.float64, device=counts.device)
    y = None if y_codes is None else y_codes.to(torch.int64)
    for a0 in range(0, na, step):
        block = counts[a0:a0 + step]
        chunk = block.reshape(-1, rx, ry)
        rows, cols = _valid_sums(chunk)
        n = rows.sum(dim=1, dtype=torch.int64)
        variance = torch.zeros(chunk.shape[0], dtype=torch.float64, device=counts.device)
        if m:
            log_ratios = _log_ratios_at(block, rows, cols, n, x_codes[a0:a0 + step].to(torch.int64), y)
            phi += log_ratios.sum(dim=(0, 1), dtype=torch.float64)
            if m > 1:
                variance = log_ratios.reshape(chunk.shape[0], m).to(torch.float64).var(dim=1)
        summaries.append(torch.stack([n.to(torch.float64), (rows > 0).sum(dim=1).to(torch.float64),
                                      (cols > 0).sum(dim=1).to(torch.float64),
                                      _occupied_cells(chunk).to(torch.float64), variance], dim=1))
    return torch.cat(summaries).reshape(na, nb, -1), phi
