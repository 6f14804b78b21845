"""The engine's custom ops, one typed function each (the contract is csrc/OPS.md).

Importing the compiled extension ``deep_ei_fast._C`` runs its TORCH_LIBRARY registrations; the
dispatcher then picks the CPU or CUDA kernel from the tensors' device. Nothing else in the
package calls ``torch.ops.deep_ei_fast`` directly: every call goes through a function here.

Layout: a block of S samples of n neurons is a contiguous neuron-major ``[n, S]`` tensor. Ops
whose name ends in ``_`` write into their first tensor argument(s) and return None.
"""
from enum import IntEnum
from typing import List, NamedTuple, Optional, Tuple

import torch

from .. import _C  # noqa: F401  (importing it registers the ops)

_ops = torch.ops.deep_ei_fast


class ActivationCode(IntEnum):
    """Activations the fused Linear kernel computes itself (csrc/include/deep_ei_fast/activation.h)."""
    IDENTITY = 0
    SIGMOID = 1
    TANH = 2
    RELU = 3


class BuildInfo(NamedTuple):
    """How the extension was built: what :func:`build_info` returns."""
    cuda: bool  # the extension has CUDA kernels for every op
    cuda_version: str  # the CUDA toolkit it was compiled with ("" without CUDA)


def build_info() -> BuildInfo:
    """How the compiled extension was built: with CUDA kernels or not, and which toolkit.

    Read from the extension itself (its ``build_info`` op). Without CUDA kernels,
    ``device='cuda'`` is refused with a ValueError.

    Returns
    -------
    BuildInfo
        A named tuple ``(cuda, cuda_version)``: ``cuda`` is True when the extension has CUDA
        kernels for every op; ``cuda_version`` is the CUDA toolkit it was compiled with, such
        as ``"12.8"`` (``""`` without CUDA).

    Examples
    --------
    >>> import deep_ei_fast as deep_ei
    >>> info = deep_ei.build_info()
    >>> info  # doctest: +SKIP
    BuildInfo(cuda=False, cuda_version='')
    >>> info.cuda == (info.cuda_version != "")
    True
    """
    cuda, version = _ops.build_info()
    return BuildInfo(bool(cuda), str(version))


def activation_code(name: str) -> int:
    """The C++ code of activation ``name`` (an ActivationCode member's name); -1 if unknown."""
    return int(_ops.activation_code(name))


def philox_uniform_(out: torch.Tensor, seed: int, sample_start: int, neuron_start: int,
                    low: float, high: float) -> None:
    """Fills float32 ``out [n, S]`` with Philox noise: ``out[j, i]`` is neuron
    ``neuron_start + j`` of sample ``sample_start + i``, uniform in [low, high)."""
    _ops.philox_uniform_(out, seed, sample_start, neuron_start, float(low), float(high))


def sample_linear_layer_(x_out: torch.Tensor, y_out: torch.Tensor, weight: torch.Tensor,
                         bias: Optional[torch.Tensor], activation: ActivationCode, seed: int,
                         sample_start: int, low: float, high: float) -> None:
    """Fused noise + Linear + activation: fills float32 ``x_out [n_in, S]`` as philox_uniform_
    (neuron_start 0) and float32 ``y_out [n_out, S]`` with ``act(weight @ x + bias)``.
    ``weight`` float32 ``[n_out, n_in]`` contiguous, ``bias`` float32 ``[n_out]`` or None."""
    _ops.sample_linear_layer_(x_out, y_out, weight, bias, int(activation), seed, sample_start,
                              float(low), float(high))


def pairwise_codes_(codes: torch.Tensor, values: torch.Tensor, low: torch.Tensor,
                    high: torch.Tensor, bins: torch.Tensor, drop_code: int,
                    check_bins: bool = True) -> None:
    """deep-ei's pairwise binning: writes ``codes [n, S]`` (uint8 or int32) from float32
    ``values [n, S]`` with float64 widened ranges ``low``, ``high [n]`` and int32 ``bins [n]``;
    values out of range, infinite or NaN get ``drop_code``. check_bins=False skips the checks
    of the bins' values (1 <= bins, <= 256 for uint8): only for bins the engine built itself
    (on CUDA the check reads two scalars back, a synchronization per call)."""
    _ops.pairwise_codes_(codes, values, low, high, bins, drop_code, check_bins)


def pair_histogram_accumulate_(counts: torch.Tensor, x_codes: torch.Tensor,
                               y_codes: torch.Tensor, check_codes: bool = True) -> None:
    """Adds the joint counts of every pair: int32 ``counts [na, nb, RX, RY]``
    ``[a, b, x_codes[a, i], y_codes[b, i]] += 1`` (codes ``[na, S]``, ``[nb, S]``, same dtype).
    On CUDA: the shared-memory atomic kernel. check_codes=False skips the check that every
    code is < RX (< RY): only for codes of pairwise_codes_ with drop code RX - 1 (RY - 1),
    as the engine's (on CUDA the check is a synchronization per call)."""
    _ops.pair_histogram_accumulate_(counts, x_codes, y_codes, check_codes)


def pair_histogram_onehot_accumulate_(counts: torch.Tensor, x_codes: torch.Tensor,
                                      y_codes: torch.Tensor, check_codes: bool = True) -> None:
    """The same counts as pair_histogram_accumulate_; on CUDA the int8 tensor-core kernel."""
    _ops.pair_histogram_onehot_accumulate_(counts, x_codes, y_codes, check_codes)


def pairwise_mi(counts: torch.Tensor, in_bins: int, out_bins: torch.Tensor) -> torch.Tensor:
    """Plug-in MI in bits, float64 ``[na, nb]``, of the tables
    ``counts[a, b, :in_bins, :out_bins[b]]`` (int32 counts, int32 ``out_bins [nb]``)."""
    return _ops.pairwise_mi(counts, in_bins, out_bins)


def pair_table_summary(counts: torch.Tensor, in_bins: int, out_bins: torch.Tensor,
                       x_codes: torch.Tensor, y_codes: torch.Tensor
                       ) -> Tuple[torch.Tensor, torch.Tensor]:
    """One pass over each pair table of ``counts`` (as pairwise_mi's): float64 ``[na, nb, 5]``
    (plug-in MI in bits, bit-identical to pairwise_mi; samples; occupied input bins, output
    bins, cells) and float32 ``[na, nb, M]``: L = log2(n N / (pi pj)) at the cell of each kept
    sample (codes uint8 or int32 ``x_codes [na, M]``, ``y_codes [nb, M]``; 0 where a code is
    past its bins)."""
    return _ops.pair_table_summary(counts, in_bins, out_bins, x_codes, y_codes)


def vector_codes_(codes: torch.Tensor, values: torch.Tensor, low: float, high: float,
                  bins: int) -> None:
    """deep-ei's vector binning (float32 floor formula): int32 ``codes [n, S]`` from float32
    ``values [n, S]``; non-finite values get INT32_MAX."""
    _ops.vector_codes_(codes, values, float(low), float(high), bins)


def pack_code_rows(codes: torch.Tensor, bits: int, offset: int) -> torch.Tensor:
    """int32 ``codes [n, S]`` packed into int64 rows ``[S, W]`` of ``bits``-bit fields
    (``code + offset``), W = ceil(n / (64 // bits))."""
    return _ops.pack_code_rows(codes, bits, offset)


def sort_unique_rows(keys: torch.Tensor,
                     weights: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """(distinct rows of int64 ``keys [M, W]`` sorted lexicographically as unsigned words,
    int64 summed ``weights [M]`` of each, all ones when None)."""
    return _ops.sort_unique_rows(keys, weights)


def prefix_counts(unique: torch.Tensor, counts: torch.Tensor, prefix_words: int) -> torch.Tensor:
    """int64 summed counts of each run of sorted rows ``unique [U, W]`` whose first
    ``prefix_words`` words are equal."""
    return _ops.prefix_counts(unique, counts, prefix_words)


def count_distinct_prefixes(blocks: List[torch.Tensor], prefix_words: int) -> int:
    """The number of distinct prefixes (first ``prefix_words`` words) among the rows of the
    int64 ``blocks [M_k, W]`` (all the same W), exact; the CPU kernel hashes, without sorting
    or concatenating the blocks."""
    if len(blocks) == 0:  # the dispatcher finds no device to run on without a tensor
        raise ValueError("count_distinct_prefixes: blocks must hold at least one tensor, got none")
    return _ops.count_distinct_prefixes(blocks, prefix_words)


def vector_keys(x: torch.Tensor, y: torch.Tensor, in_low: float, in_high: float, in_bins: int,
                out_low: float, out_high: float, out_bins: int, in_bits: int, out_bits: int,
                out_offset: int, in_index: torch.Tensor, out_index: torch.Tensor) -> torch.Tensor:
    """Vector codes of float32 ``x [n_in, S]`` and ``y [n_out, S]``, deep-ei's whole-vector
    filter, and int64 keys ``[kept, Wx + Wy]`` of the neurons ``in_index`` / ``out_index``
    (int64) packed as pack_code_rows would. The index vectors may be on the host or on x's
    device; on CUDA, device ones cost no copy (their range check joins the one read-back)."""
    return _ops.vector_keys(x, y, float(in_low), float(in_high), in_bins, float(out_low),
                            float(out_high), out_bins, in_bits, out_bits, out_offset, in_index,
                            out_index)
