"""Vector EI: entropies of whole input and output code vectors, counted exactly.

Codes follow deep-ei's vector binning (float32 floor formula); a sample is kept when every input
code is < in_bins and every output code is < out_bins (negative codes are kept, as in deep-ei).
Each code vector is packed into int64 words (a bijection, so different vectors never merge);
distinct rows are counted by a radix sort in the kernels, with no per-sample Python work.
"""
import torch

from ._ops import ops

# Consolidate pending rows into the sorted table once this many are waiting (bounds memory).
PENDING_ROWS = 1 << 22


def entropy_bits(counts):
    """Plug-in entropy in bits of a tensor of positive counts."""
    if counts.numel() == 0:
        return 0.0
    counts = counts.to(torch.float64)
    p = counts / counts.sum()
    return float(-(p * torch.log2(p)).sum())


class DistinctRows:
    """Counts of distinct int64 rows, accumulated over blocks."""

    def __init__(self):
        self.unique = None
        self.counts = None
        self.pending, self.pending_rows = [], 0

    def add(self, rows):
        self.pending.append(rows)
        self.pending_rows += rows.shape[0]
        if self.pending_rows >= max(PENDING_ROWS, 0 if self.unique is None else self.unique.shape[0]):
            self.consolidate()

    def consolidate(self):
        if not self.pending:
            return
        parts = self.pending if self.unique is None else [self.unique] + self.pending
        weights = [torch.ones(p.shape[0], dtype=torch.int64, device=p.device) for p in self.pending]
        if self.unique is not None:
            weights.insert(0, self.counts)
        self.unique, self.counts = ops.sort_unique_rows(torch.cat(parts), torch.cat(weights))
        self.pending, self.pending_rows = [], 0


def _pack(codes, bits, offset):
    if codes.shape[0] == 0:  # an empty group side: every sample has the same (empty) vector
        return torch.zeros((codes.shape[1], 1), dtype=torch.int64, device=codes.device)
    return ops.pack_code_rows(codes, bits, offset)


class JointCodeCounts:
    """Distinct (X, Y) and Y vectors of one group of inputs and outputs; X runs from XY's order."""

    def __init__(self, in_index, out_index):
        self.in_index, self.out_index = in_index, out_index
        self.xy, self.y = DistinctRows(), DistinctRows()
        self.x_words = None

    def add(self, x_codes, y_codes, x_packing, y_packing):
        if self.in_index is not None:
            x_codes, y_codes = x_codes[self.in_index], y_codes[self.out_index]
        x_keys, y_keys = _pack(x_codes, *x_packing), _pack(y_codes, *y_packing)
        self.x_words = x_keys.shape[1]
        self.xy.add(torch.cat([x_keys, y_keys], dim=1))
        self.y.add(y_keys)

    def ei(self):
        """H(X) + H(Y) - H(X, Y) in bits (0.0 before any sample)."""
        self.xy.consolidate()
        self.y.consolidate()
        if self.xy.unique is None:
            return 0.0
        x_counts = ops.prefix_counts(self.xy.unique, self.xy.counts, self.x_words)
        return entropy_bits(x_counts) + entropy_bits(self.y.counts) - entropy_bits(self.xy.counts)


def _bits_for(values):
    return max(1, (int(values) - 1).bit_length())


class VectorCounts:
    """Vector EI of a layer, or of several (input group, output group) pairs of it."""

    def __init__(self, in_range, in_bins, out_range, out_bins, outputs_nonnegative, groups=None):
        self.in_range, self.in_bins = in_range, int(in_bins)
        self.out_range, self.out_bins = out_range, int(out_bins)
        self.x_packing = (_bits_for(in_bins), 0)  # input codes always lie in [0, in_bins)
        # Output codes are < out_bins, but below-range outputs give negative codes of any size
        # unless the activation rules them out: then give each code 32 bits.
        self.y_packing = (_bits_for(out_bins), 0) if outputs_nonnegative else (32, 2**31)
        if groups is None:
            self.tables = [JointCodeCounts(None, None)]
        else:
            self.tables = [JointCodeCounts(list(i), list(o)) for i, o in groups]

    def _codes(self, values, value_range, bins):
        codes = torch.empty(values.shape, dtype=torch.int32, device=values.device)
        ops.vector_codes_(codes, values, float(value_range[0]), float(value_range[1]), bins)
        return codes

    def add(self, x, y):
        x_codes = self._codes(x, self.in_range, self.in_bins)
        y_codes = self._codes(y, self.out_range, self.out_bins)
        keep = (x_codes < self.in_bins).all(dim=0) & (y_codes < self.out_bins).all(dim=0)
        if not bool(keep.all()):
            x_codes, y_codes = x_codes[:, keep].contiguous(), y_codes[:, keep].contiguous()
        for table in self.tables:
            table.add(x_codes, y_codes, self.x_packing, self.y_packing)

    def eis(self):
        return [table.ei() for table in self.tables]
