"""Every op given tensors of any layout (issue 22): each tensor argument of each op in turn is
passed expanded (a dimension of stride 0), transposed (the same values in the other memory
order) or sliced (every dimension strided by 2, at an offset), with 0, 1 and many samples.

An input must give the result of the same values passed contiguous. A tensor the op writes
must either get those results or be refused with a RuntimeError naming it; one whose elements
share memory (an expanded view of more than one element) must be refused: writing it wrote
past its storage (philox_uniform_ and sample_linear_layer_ crashed). Arguments that share
memory with the tensor an op writes are refused naming both. On an accelerator the reference
is the CPU op on contiguous copies (the kernels compute the same function: csrc/OPS.md).
"""
import re

import pytest
import torch

from deep_ei_fast.engine import ops

from helpers import assert_identical, devices

SAMPLES = (0, 1, 300)
LAYOUTS = ("expanded", "transposed", "sliced")


class OpCase:
    """An op, its argument names (schema order), a maker of valid contiguous arguments for S
    samples (make(S, generator) -> list) and the positions of the tensors it writes."""

    def __init__(self, op, names, make, writes=()):
        self.op, self.names, self.make, self.writes = op, names, make, set(writes)

    @property
    def name(self):
        return self.op.__name__


def _codes(g, rows, samples, bins, dtype=torch.uint8):
    return torch.randint(0, bins, (rows, samples), generator=g).to(dtype)


def _counts_of(samples, g, wide=False):
    """Pair counts [3, 2, 6, 5] of `samples` random samples (5 input, 4 output bins + drop)."""
    counts = torch.zeros((3, 2, 6, 5), dtype=torch.int32)
    x, y = _codes(g, 3, samples, 6), _codes(g, 2, samples, 5)
    ops.pair_histogram_accumulate_(counts, x, y)
    return (counts.to(torch.int64) if wide else counts), x, y


def _philox(S, g):
    return [torch.empty((7, S)), 123, 5, 2, -1.0, 2.0]


def _linear(S, g):
    return [torch.empty((5, S)), torch.empty((3, S)), torch.randn((3, 5), generator=g),
            torch.randn((3,), generator=g), ops.ActivationCode.TANH, 9, 4, -1.0, 1.0]


def _pairwise_codes(S, g):
    values = torch.rand((4, S), generator=g) * 1.2 - 0.1
    return [torch.empty((4, S), dtype=torch.uint8), values,
            torch.full((4,), -1e-6, dtype=torch.float64), torch.full((4,), 1 + 1e-6, dtype=torch.float64),
            torch.tensor([3, 5, 8, 2], dtype=torch.int32), 8]


def _histogram(S, g):
    return [torch.randint(0, 9, (3, 2, 6, 5), generator=g).to(torch.int32),
            _codes(g, 3, S, 6), _codes(g, 2, S, 5)]


def _pairwise_mi(S, g):
    return [_counts_of(S, g)[0], 5, torch.tensor([4, 3], dtype=torch.int32)]


def _pair_table_summary(S, g):
    counts, x, y = _counts_of(S, g, wide=True)
    return [counts, 5, torch.tensor([4, 3], dtype=torch.int32), x, y]


def _vector_codes(S, g):
    return [torch.empty((4, S), dtype=torch.int32), torch.rand((4, S), generator=g) * 2 - 0.5, 0.0, 1.0, 8]


def _pack_code_rows(S, g):
    return [_codes(g, 5, S, 8, torch.int32), 3, 0]


def _sort_unique_rows(S, g):
    return [torch.randint(0, 4, (S, 2), generator=g), torch.randint(1, 5, (S,), generator=g)]


def _prefix_counts(S, g):
    unique, counts = ops.sort_unique_rows(torch.randint(0, 4, (S, 2), generator=g))
    return [unique, counts, 1]


def _vector_keys(S, g):
    # values in [0, 1.2): codes 0..4, those past in_bins dropped; none negative (2-bit fields)
    x, y = torch.rand((5, S), generator=g) * 1.2, torch.rand((3, S), generator=g) * 1.2
    return [x, y, 0.0, 1.0, 4, 0.0, 1.0, 4, 2, 2, 0, torch.tensor([4, 0, 2]), torch.tensor([1, 2])]


HISTOGRAM_NAMES = ("counts", "x_codes", "y_codes")
CASES = [
    OpCase(ops.philox_uniform_, ("out", "seed", "sample_start", "neuron_start", "lo", "hi"), _philox, {0}),
    OpCase(ops.sample_linear_layer_, ("x_out", "y_out", "weight", "bias", "activation", "seed",
                                      "sample_start", "lo", "hi"), _linear, {0, 1}),
    OpCase(ops.pairwise_codes_, ("codes", "values", "lo", "hi", "bins", "drop_code"), _pairwise_codes, {0}),
    OpCase(ops.pair_histogram_accumulate_, HISTOGRAM_NAMES, _histogram, {0}),
    OpCase(ops.pair_histogram_onehot_accumulate_, HISTOGRAM_NAMES, _histogram, {0}),
    OpCase(ops.pairwise_mi, ("counts", "in_bins", "out_bins"), _pairwise_mi),
    OpCase(ops.pair_table_summary, ("counts", "in_bins", "out_bins", "x_codes", "y_codes"), _pair_table_summary),
    OpCase(ops.vector_codes_, ("codes", "values", "lo", "hi", "bins"), _vector_codes, {0}),
    OpCase(ops.pack_code_rows, ("codes", "bits", "offset"), _pack_code_rows),
    OpCase(ops.sort_unique_rows, ("keys", "weights"), _sort_unique_rows),
    OpCase(ops.prefix_counts, ("unique", "counts", "prefix_words"), _prefix_counts),
    OpCase(ops.vector_keys, ("x", "y", "in_lo", "in_hi", "in_bins", "out_lo", "out_hi", "out_bins",
                             "in_bits", "out_bits", "out_offset", "in_index", "out_index"), _vector_keys),
]


def laid_out(t, layout):
    """A tensor of t's shape and dtype on t's device in `layout`: expanded from t's first
    entry along its first dimension of more than one element (all of t when there is none),
    or t's values transposed in memory, or t's values in a strided slice of a larger tensor."""
    if layout == "expanded":
        wide = [d for d in range(t.dim()) if t.shape[d] > 1]
        if not wide:
            return t.clone()
        d = wide[0]
        return t.narrow(d, 0, 1).expand(t.shape)
    if layout == "transposed":
        order = list(range(t.dim()))[::-1]
        return t.permute(order).contiguous().permute(order)  # values of t, strides reversed
    big = torch.zeros([2 * s + 1 for s in t.shape], dtype=t.dtype, device=t.device)
    view = big[tuple(slice(1, 1 + 2 * s, 2) for s in t.shape)]
    view.copy_(t)
    return view


def shares_elements(t):
    return t.numel() > 1 and any(st == 0 and s > 1 for st, s in zip(t.stride(), t.shape))


def _ids():
    for case in CASES:
        for position, name in enumerate(case.names):
            yield case, position, name


TENSOR_ARGUMENTS = [
    pytest.param(case, position, id=f"{case.name}-{name}")
    for case, position, name in _ids()
    if isinstance(case.make(2, torch.Generator().manual_seed(0))[position], torch.Tensor)
]


def _contiguous_cpu(args):
    return [a.cpu().contiguous().clone() if isinstance(a, torch.Tensor) else a for a in args]


@pytest.mark.parametrize("samples", SAMPLES)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("case, position", TENSOR_ARGUMENTS)
@pytest.mark.parametrize("device", devices())
def test_every_tensor_argument_in_every_layout(device, case, position, layout, samples):
    args = case.make(samples, torch.Generator().manual_seed(7))
    moved = [a.to(device) if isinstance(a, torch.Tensor) else a for a in args]
    moved[position] = laid_out(moved[position], layout)
    expected_args = _contiguous_cpu(moved)  # the same values, contiguous, on the CPU
    expected = case.op(*expected_args)
    name = case.names[position]
    written = position in case.writes
    try:
        got = case.op(*moved)
    except RuntimeError as error:
        assert written, f"{case.name} refused its input {name} ({layout}): {error}"
        assert re.search(rf"\b{name}\b", str(error)), f"the refusal does not name {name}: {error}"
        return
    assert not (written and shares_elements(moved[position])), \
        f"{case.name} wrote into {name} whose elements share memory"
    assert_identical(expected, tuple(_contiguous_cpu(got)) if isinstance(got, tuple) else
                     (got.cpu() if got is not None else None), f"{case.name} result")
    for k in case.writes:  # what was written, wherever it lies
        assert_identical(expected_args[k], moved[k].cpu(), f"{case.name} {case.names[k]}")


def test_the_crashing_calls_of_the_issue_are_refused():
    with pytest.raises(RuntimeError, match=r"out has elements that share memory"):
        ops.philox_uniform_(torch.zeros(1, 1).expand(200000, 1), 0, 0, 0, 0.0, 1.0)
    with pytest.raises(RuntimeError, match=r"x_out has elements that share memory"):
        ops.sample_linear_layer_(torch.zeros(1, 1).expand(200000, 1), torch.zeros(3, 1),
                                 torch.zeros(3, 200000), None, 0, 0, 0, 0.0, 1.0)
    with pytest.raises(RuntimeError, match=r"y_out has elements that share memory"):
        ops.sample_linear_layer_(torch.zeros(4, 1), torch.zeros(1, 1).expand(200000, 1),
                                 torch.zeros(200000, 4), None, 0, 0, 0, 0.0, 1.0)


def test_a_single_sample_column_of_a_wider_tensor_is_written_in_place():
    wide = torch.zeros(6, 10)
    ops.philox_uniform_(wide[:, 3:4], 5, 100, 0, 0.0, 1.0)  # rows 10 apart, one sample each
    expected = torch.empty(6, 1)
    ops.philox_uniform_(expected, 5, 100, 0, 0.0, 1.0)
    assert torch.equal(wide[:, 3:4], expected)
    assert torch.count_nonzero(wide[:, :3]) == 0 and torch.count_nonzero(wide[:, 4:]) == 0


@pytest.mark.parametrize("device", devices())
def test_arguments_sharing_memory_with_a_written_tensor_are_refused(device):
    on = dict(device=device)
    values = torch.rand(4, 50, **on)
    with pytest.raises(RuntimeError, match="codes and values share memory"):
        ops.vector_codes_(values.view(torch.int32), values, 0.0, 1.0, 8)
    bins = torch.full((4,), 5, dtype=torch.int32, **on)
    low, high = (torch.full((4,), v, dtype=torch.float64, **on) for v in (0.0, 1.0))
    with pytest.raises(RuntimeError, match="codes and values share memory"):
        ops.pairwise_codes_(values.view(torch.int32), values, low, high, bins, 5)
    block = torch.empty(8, 50, **on)
    with pytest.raises(RuntimeError, match="x_out and y_out share memory"):
        ops.sample_linear_layer_(block[:5], block[2:5], torch.ones(3, 5, **on), None, 0, 0, 0, 0.0, 1.0)
    x, y = block[:5], block[5:]  # two row slices of one tensor: separate, accepted
    ops.sample_linear_layer_(x, y, torch.ones(3, 5, **on), None, 0, 0, 0, 0.0, 1.0)
    weight = torch.ones(3, 5, **on)
    with pytest.raises(RuntimeError, match="y_out and weight share memory"):
        ops.sample_linear_layer_(torch.empty(5, 5, **on), weight, weight, None, 0, 0, 0, 0.0, 1.0)
    counts = torch.zeros(2, 2, 4, 4, dtype=torch.int32, **on)
    codes = counts.view(-1)[:20].view(2, 10)
    with pytest.raises(RuntimeError, match="counts and x_codes share memory"):
        ops.pair_histogram_accumulate_(counts, codes, torch.zeros(2, 10, dtype=torch.int32, **on))
