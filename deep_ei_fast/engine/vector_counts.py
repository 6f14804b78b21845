"""Vector EI's counts: distinct whole input and output code vectors, counted exactly.

Codes follow deep-ei's vector binning (float32 floor formula); a sample is kept when every input
code is < in_bins and every output code is < out_bins (negative codes are kept, as in deep-ei).
Each code vector is packed into int64 words (a bijection, so different vectors never merge);
distinct rows are counted by a radix sort in the kernels, with no per-sample Python work.
"""
import torch

from . import ops

# Sort pending rows into the table once this many are waiting (a bound on memory: 16M rows of
# a few words; one sort at the end is the common case).
PENDING_ROWS = 1 << 24


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
        rows = self.pending[0] if len(self.pending) == 1 else torch.cat(self.pending)
        self.pending, self.pending_rows = [], 0
        unique, counts = ops.sort_unique_rows(rows, None)
        if self.unique is not None:
            unique, counts = ops.sort_unique_rows(torch.cat([self.unique, unique]),
                                                  torch.cat([self.counts, counts]))
        self.unique, self.counts = unique, counts


def _bits_for(values):
    return max(1, (int(values) - 1).bit_length())


def _words(fields, bits):
    """int64 words of `fields` fields of `bits` bits (at least one: an empty group is one word)."""
    per_word = 64 // bits
    return max(1, -(-fields // per_word))


# Y words below this many values are counted with a dense bincount instead of a sort.
DENSE_Y_VALUES = 1 << 24


def _counts_by_y(y_words, counts):
    """Summed counts of each distinct row of y_words (the Y part of the (X, Y) table)."""
    if y_words.shape[1] == 1:
        values = y_words[:, 0]
        if values.numel() and 0 <= int(values.min()) and int(values.max()) < DENSE_Y_VALUES:
            dense = torch.bincount(values, weights=counts.to(torch.float64))
            return dense[dense > 0].to(torch.int64)  # float64 sums of int counts: exact below 2^53
    return ops.sort_unique_rows(y_words.contiguous(), counts)[1]


class JointCodeCounts:
    """Distinct (X, Y) vectors of one group of inputs and outputs.

    The sorted (X, Y) table gives H(X, Y) from its counts and H(X) from the runs of its X words;
    H(Y) comes from re-sorting the table's distinct rows by their Y words alone.
    """

    def __init__(self, in_index, out_index, in_bits, out_bits):
        self.in_index = torch.tensor(in_index, dtype=torch.int64)
        self.out_index = torch.tensor(out_index, dtype=torch.int64)
        self.x_words = _words(len(in_index), in_bits)
        self.xy = DistinctRows()

    def add(self, keys):
        self.xy.add(keys)

    def marginal_counts(self):
        """(counts of each distinct X, of each distinct Y, of each distinct (X, Y)), int64;
        None before any sample."""
        self.xy.consolidate()
        if self.xy.unique is None:
            return None
        unique, counts = self.xy.unique, self.xy.counts
        x_counts = ops.prefix_counts(unique, counts, self.x_words)
        return x_counts, _counts_by_y(unique[:, self.x_words:], counts), counts

    def row_marginal_counts(self):
        """(count of each distinct (X, Y), the count of its X, the count of its Y), int64 and
        aligned row by row (what a variance of the MI needs); None before any sample."""
        self.xy.consolidate()
        if self.xy.unique is None:
            return None
        unique, counts = self.xy.unique, self.xy.counts
        x_counts = ops.prefix_counts(unique, counts, self.x_words)
        # Rows are sorted with the X words first: each new run of X words is the next X.
        new_x = torch.ones(unique.shape[0], dtype=torch.bool, device=unique.device)
        new_x[1:] = (unique[1:, :self.x_words] != unique[:-1, :self.x_words]).any(dim=1)
        x_of_row = x_counts[new_x.cumsum(0) - 1]
        _, y_index = torch.unique(unique[:, self.x_words:], dim=0, return_inverse=True)
        y_counts = torch.zeros(int(y_index.max()) + 1, dtype=torch.int64, device=unique.device)
        y_counts.index_add_(0, y_index, counts.to(torch.int64))
        return counts.to(torch.int64), x_of_row, y_counts[y_index]


class VectorCounts:
    """Vector EI of a layer, or of several (input group, output group) pairs of it.

    One kernel call per block and group codes the samples, drops those with any input code
    >= in_bins or output code >= out_bins (deep-ei's whole-vector filter), and packs the kept
    samples' codes into keys [X words | Y words].
    """

    def __init__(self, in_range, in_bins, out_range, out_bins, n_in, n_out, outputs_nonnegative,
                 groups=None):
        self.in_range, self.in_bins = in_range, int(in_bins)
        self.out_range, self.out_bins = out_range, int(out_bins)
        self.in_bits = _bits_for(in_bins)  # input codes always lie in [0, in_bins)
        # Output codes are < out_bins, but below-range outputs give negative codes of any size
        # unless the activation rules them out: then each code gets 32 bits, offset by 2^31.
        self.out_bits, self.out_offset = (_bits_for(out_bins), 0) if outputs_nonnegative else (32, 2**31)
        if groups is None:
            groups = [(range(n_in), range(n_out))]
        self.tables = [JointCodeCounts(list(i), list(o), self.in_bits, self.out_bits) for i, o in groups]

    def add(self, x, y):
        for table in self.tables:
            table.add(ops.vector_keys(
                x, y, float(self.in_range[0]), float(self.in_range[1]), self.in_bins,
                float(self.out_range[0]), float(self.out_range[1]), self.out_bins,
                self.in_bits, self.out_bits, self.out_offset, table.in_index, table.out_index))

    def marginal_counts(self):
        """JointCodeCounts.marginal_counts of every group, in order."""
        return [table.marginal_counts() for table in self.tables]

    def row_marginal_counts(self):
        """JointCodeCounts.row_marginal_counts of every group, in order."""
        return [table.row_marginal_counts() for table in self.tables]
