"""Summaries of pair count tables in torch (either device), a bounded chunk of pairs at a time.

A tile ``counts`` int32 [na, nb, RX, RY] has one extra last row and column of dropped
(out-of-range) samples, which no estimate uses. Temporaries stay under CHUNK_ELEMENTS float64
values whatever the tile's size (the tile itself already fills most of memory_bound).
"""
import math

import torch

CHUNK_ELEMENTS = 1 << 22  # 32 MiB of float64 per temporary
BITS_PER_NAT = 1.0 / math.log(2.0)


def per_pair_chunks(counts, summarize):
    """``summarize(chunk)`` over chunks [P, RX - 1, RY - 1] of the tile's valid counts, each
    giving [P, K]; returns [na, nb, K] float64."""
    na, nb, rx, ry = counts.shape
    pairs = counts.reshape(na * nb, rx, ry)[:, :-1, :-1]
    step = max(1, CHUNK_ELEMENTS // max(1, (rx - 1) * (ry - 1)))
    parts = [summarize(pairs[p:p + step]) for p in range(0, na * nb, step)]
    out = torch.cat(parts) if parts else torch.zeros((0, 1), dtype=torch.float64, device=counts.device)
    return out.reshape(na, nb, -1)


def occupancy(chunk):
    """[P, 4] float64: samples N counted in each pair, occupied input bins Rx, occupied output
    bins Ry and occupied joint cells Rxy."""
    n = chunk.sum(dim=(1, 2), dtype=torch.int64)
    rx = (chunk.sum(dim=2, dtype=torch.int64) > 0).sum(dim=1)
    ry = (chunk.sum(dim=1, dtype=torch.int64) > 0).sum(dim=1)
    rxy = (chunk > 0).sum(dim=(1, 2))
    return torch.stack([n, rx, ry, rxy], dim=1).to(torch.float64)


def log_ratio_moments(chunk):
    """[P, 2] float64: sum p log2(p / (px py)) (the plug-in MI) and sum p log2(...)^2 of each
    pair's empirical distribution (0 for an empty pair)."""
    c = chunk.to(torch.float64)
    n = c.sum(dim=(1, 2), keepdim=True).clamp_min(1.0)
    p = c / n
    independent = p.sum(dim=2, keepdim=True) * p.sum(dim=1, keepdim=True)
    occupied = p > 0
    log_ratio = torch.where(occupied, torch.log2(torch.where(occupied, p / independent, 1.0)), 0.0)
    weighted = p * log_ratio
    return torch.stack([weighted.sum(dim=(1, 2)), (weighted * log_ratio).sum(dim=(1, 2))], dim=1)




def log_ratio_tables(chunk):
    """float64 [..., RX, RY]: log2(p_xy / (p_x p_y)) of each cell of full pair tables (extra
    row and column included), from the valid counts; 0 for empty cells and dropped samples."""
    table = torch.zeros(chunk.shape, dtype=torch.float64, device=chunk.device)
    c = chunk[..., :-1, :-1].to(torch.float64)
    n = c.sum(dim=(-1, -2), keepdim=True).clamp_min(1.0)
    independent = c.sum(dim=-1, keepdim=True) * c.sum(dim=-2, keepdim=True) / n
    occupied = c > 0
    table[..., :-1, :-1] = torch.where(occupied, torch.log2(torch.where(occupied, c / independent, 1.0)), 0.0)
    return table


def summed_log_ratios(counts, x_codes, y_codes):
    """float64 [M]: for each of M samples (x codes [na, M], y codes [nb, M] of the tile's
    neurons), the sum over the tile's pairs of log2(p_xy / (p_x p_y)) at its cells."""
    na, nb, rx, ry = counts.shape
    m = x_codes.shape[1]
    total = torch.zeros(m, dtype=torch.float64, device=counts.device)
    y = y_codes.to(torch.int64).unsqueeze(0)
    step = max(1, CHUNK_ELEMENTS // max(nb * rx * ry, nb * m))
    for a in range(0, na, step):
        table = log_ratio_tables(counts[a:a + step]).reshape(-1, nb, rx * ry)
        cells = x_codes[a:a + step].to(torch.int64).unsqueeze(1) * ry + y
        total += table.gather(2, cells).sum(dim=(0, 1))
    return total
