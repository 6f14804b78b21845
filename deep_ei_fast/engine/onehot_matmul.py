"""All-pairs counting as one int8 matrix product (torch._int_mm): the third pair-histogram kernel.

``counts[a, b, r, c] += #{i : x[a, i] = r, y[b, i] = c}`` is entry ((a, r), (b, c)) of
``X1 . Y1^T``, where X1 ``[na * RX, S]`` and Y1 ``[nb * RY, S]`` hold the codes' one-hot rows
(int8 0 / 1; row a * RX + r of X1 is 1 where x[a] = r). ``torch._int_mm`` computes it as an
int8 x int8 -> int32 product: cuBLASLt's int8 tensor-core GEMM on CUDA, oneDNN's int8 GEMM
on the CPU. Each product entry is an exact count: integer products of 0 / 1 summed in int32.

The work is tiled so that its scratch memory stays within ``workspace_bytes`` (PairCounts sets
it aside from memory_bound): blocks of ta x tb pairs (their int32 product, as large as their
counters) and chunks of K samples (the two int8 one-hot operands), ``plan()``. Each chunk's
product is added into the int32 ``counts``, so the counters hold exactly what the atomic
kernel's would: the same function as ``ops.pair_histogram_accumulate_`` (same arguments, same
counts, bit for bit), and PairCounts' Counters flush them into int64 totals as they flush the
atomic kernel's.

int32 bounds: a product entry counts samples of one chunk, at most K <= MAX_CHUNK_SAMPLES
(< 2^31); a counter gains at most the samples of the call, and the caller keeps a counter
below 2^31 as for the atomic kernel (engine/pair_counts.Counters: at most FLUSH_SAMPLES =
2^31 - 1 samples between flushes).

torch._int_mm's shapes on CUDA (aten/src/ATen/native/cuda/Blas.cpp, _int_mm_out_cuda): A [M, K]
with M > 16 and K a positive multiple of 8, B [K, N] with N a positive multiple of 8; A row-major
and B column-major (cuBLASLt's "TN" int8 form: torch's own test, test_matmul_cuda.py's
test__int_mm, expects CUBLAS_STATUS_NOT_SUPPORTED for a transposed A and skips a row-major B on
CUDA 13 as failing). Here A = X1 and B = Y1^T, a view of the row-major Y1; M and N are padded with zero rows
and K with zero columns to multiples of ALIGN (and M to at least MIN_ROWS): zero one-hot entries
add nothing, so the padding is exact. On the CPU (torch 2.13) _int_mm takes any shapes; the
same padding is used there, so the CPU tests cover the CUDA path's tiling and padding.
"""
import torch

ALIGN = 16  # M, N and K padded to multiples of this (_int_mm: 8; 16 keeps rows 16-byte aligned)
MIN_ROWS = 32  # M > 16 on CUDA: the smallest multiple of ALIGN above 16
MAX_CHUNK_SAMPLES = 2**20  # samples per product (< 2^31: an int32 product entry cannot wrap)
TARGET_CHUNK = 16384  # samples per product that the pair blocks shrink for (see plan)
MIN_BLOCK_ROWS = 1024  # ... but not below this many product rows a side
DEFAULT_WORKSPACE_BYTES = 2**30  # scratch of one call when the caller names none
WORKSPACE_FRACTION = 8  # PairCounts sets aside memory_bound / 8 (at most the default) for it
CODE_DTYPES = (torch.uint8, torch.int32)


def padded(n, multiple=ALIGN):
    return -(-n // multiple) * multiple


def workspace_bytes(memory_bound):
    """Scratch PairCounts sets aside from `memory_bound` for this kernel's calls."""
    return min(DEFAULT_WORKSPACE_BYTES, memory_bound // WORKSPACE_FRACTION)


def _rows(ta, RX):
    return max(MIN_ROWS, padded(ta * RX))


def _halved(ta, tb, RX, RY, smallest):
    """(ta, tb) with the block side of more product rows halved (square-ish products keep the
    GEMM efficient), among the sides of more than `smallest` rows; None when there is none."""
    M, N = _rows(ta, RX), padded(tb * RY)
    can_a, can_b = ta > 1 and M > smallest, tb > 1 and N > smallest
    if can_a and (M >= N or not can_b):
        return -(-ta // 2), tb
    return (ta, -(-tb // 2)) if can_b else None


def plan(na, nb, RX, RY, S, workspace):
    """(ta, tb, K): blocks of ta x tb pairs and chunks of K samples whose scratch
    (scratch_bytes: the int32 product and the two int8 operands, padded) fits in `workspace`
    bytes, or the smallest plan (one pair, ALIGN samples) when nothing fits.

    Each chunk's product is added into the counters (a pass over them), so short chunks make
    that pass cost more than the product: the pair blocks are first halved until chunks of
    TARGET_CHUNK samples (or the whole call) fit, but not below MIN_BLOCK_ROWS product rows a
    side (small products waste the GEMM); only if even that fails with the smallest chunk are
    they halved further. K then takes the rest of the workspace."""
    chunk = min(padded(S), TARGET_CHUNK)
    blocks = (na, nb)
    for smallest, samples in ((MIN_BLOCK_ROWS, chunk), (0, ALIGN)):
        while scratch_bytes(*blocks, RX, RY, samples) > workspace:
            smaller = _halved(*blocks, RX, RY, smallest)
            if smaller is None:
                break
            blocks = smaller
    ta, tb = blocks
    M, N = _rows(ta, RX), padded(tb * RY)
    K = max(0, workspace - M * N * 4) // (M + N) // ALIGN * ALIGN
    return ta, tb, max(ALIGN, min(K, padded(S), MAX_CHUNK_SAMPLES))


def scratch_bytes(ta, tb, RX, RY, K):
    """Bytes a plan's buffers take (the product and the two one-hot operands)."""
    M, N = _rows(ta, RX), padded(tb * RY)
    return M * N * 4 + (M + N) * K


def _check(counts, x_codes, y_codes):
    if not (isinstance(counts, torch.Tensor) and counts.dtype == torch.int32 and counts.dim() == 4
            and counts.is_contiguous()):
        raise ValueError("counts must be a contiguous int32 [na, nb, RX, RY] tensor, got "
                         f"{getattr(counts, 'dtype', type(counts).__name__)} "
                         f"{tuple(getattr(counts, 'shape', ()))}")
    for name, codes in (("x_codes", x_codes), ("y_codes", y_codes)):
        if not (isinstance(codes, torch.Tensor) and codes.dim() == 2 and codes.dtype in CODE_DTYPES):
            raise ValueError(f"{name} must be a 2-D uint8 or int32 [n, S] tensor, got "
                             f"{getattr(codes, 'dtype', type(codes).__name__)} "
                             f"{tuple(getattr(codes, 'shape', ()))}")
        if codes.device != counts.device:
            raise ValueError(f"{name} is on {codes.device}, counts on {counts.device}")
    if x_codes.dtype != y_codes.dtype:
        raise ValueError(f"x_codes ({x_codes.dtype}) and y_codes ({y_codes.dtype}) must have the "
                         "same dtype")
    na, nb = counts.shape[:2]
    if x_codes.shape[0] != na or y_codes.shape[0] != nb:
        raise ValueError(f"codes rows ({x_codes.shape[0]}, {y_codes.shape[0]}) do not match "
                         f"counts [{na}, {nb}, ...]")
    if x_codes.shape[1] != y_codes.shape[1]:
        raise ValueError(f"x_codes has {x_codes.shape[1]} samples, y_codes {y_codes.shape[1]}")


def _check_range(codes, R, name):
    """Every code in [0, R) (one read-back on CUDA, as the atomic kernel's check)."""
    low, high = (int(v) for v in torch.aminmax(codes))
    if low < 0 or high >= R:
        raise ValueError(f"{name}: code {low if low < 0 else high} out of range (R = {R})")


def _one_hot_into(buffer, codes, levels, k):
    """Writes the one-hot rows of `codes` [n, k] into bool `buffer` [>= n * R, K]: row
    a * R + r is codes[a] == r in its first k columns; the columns past k are cleared."""
    n, R = codes.shape[0], levels.shape[1]
    rows = buffer[:n * R].view(n, R, buffer.shape[1])
    torch.eq(codes.unsqueeze(1), levels, out=rows[:, :, :k])
    if k < buffer.shape[1]:
        buffer[:, k:].zero_()


def pair_histogram_int8mm_accumulate_(counts, x_codes, y_codes, check_codes=True,
                                      workspace_bytes=DEFAULT_WORKSPACE_BYTES):
    """``counts [na, nb, RX, RY] += `` the joint counts of every (x_codes row, y_codes row)
    pair, as ops.pair_histogram_accumulate_ (same arguments and counts) but computed as int8
    one-hot matrix products in scratch of at most ``workspace_bytes`` (or the smallest plan's;
    see plan()). check_codes=False skips the check that every code is < RX (< RY): only for
    codes that cannot be out of range (pairwise_codes_ with drop code R - 1); out-of-range
    codes are then not counted (no row of X1 / Y1 matches them)."""
    _check(counts, x_codes, y_codes)
    na, nb, RX, RY = counts.shape
    S = x_codes.shape[1]
    if check_codes and S and na and nb:
        _check_range(x_codes, RX, "x_codes")
        _check_range(y_codes, RY, "y_codes")
    if na == 0 or nb == 0 or S == 0:
        return
    ta, tb, K = plan(na, nb, RX, RY, S, workspace_bytes)
    device = counts.device
    M, N = _rows(ta, RX), padded(tb * RY)
    # bool buffers (eq writes bool), read by _int_mm as int8 (same bytes). Rows past a smaller
    # last block keep the previous block's one-hot rows: their products are never read.
    x_hot = torch.zeros((M, K), dtype=torch.bool, device=device)
    y_hot = torch.zeros((N, K), dtype=torch.bool, device=device)
    product = torch.empty((M, N), dtype=torch.int32, device=device)
    x_levels = torch.arange(RX, dtype=x_codes.dtype, device=device).view(1, RX, 1)
    y_levels = torch.arange(RY, dtype=y_codes.dtype, device=device).view(1, RY, 1)
    for a0 in range(0, na, ta):
        a1 = min(a0 + ta, na)
        for b0 in range(0, nb, tb):
            b1 = min(b0 + tb, nb)
            target = counts[a0:a1, b0:b1]
            for s0 in range(0, S, K):
                k = min(K, S - s0)
                _one_hot_into(x_hot, x_codes[a0:a1, s0:s0 + k], x_levels, k)
                _one_hot_into(y_hot, y_codes[b0:b1, s0:s0 + k], y_levels, k)
                torch._int_mm(x_hot.view(torch.int8), y_hot.view(torch.int8).t(), out=product)
                block = product[:(a1 - a0) * RX, :(b1 - b0) * RY]
                target += block.view(a1 - a0, RX, b1 - b0, RY).permute(0, 2, 1, 3)
