"""Plain helpers for the tests (imported as `helpers`: pyproject.toml puts tests/ on sys.path).

- make_net / ACTIVATIONS: small deterministic Linear(+activation) networks.
- devices() / accelerators(): the device parameters. Every op test runs on "cpu" and on
  "cuda", the CUDA parameter skipped, with its reason, unless a GPU is present and the extension
  was built with its CUDA kernels (deep_ei_fast.build_info().cuda).
- run_cli: the command line's main(argv) -> (exit code, stdout, stderr).
- run_op: calls an op on one device; on an accelerator it also runs the same call on the CPU
  and requires bit-identical results (csrc/OPS.md: every op computes the same function there).
"""
import pytest
import torch
import torch.nn as nn

ACTIVATIONS = {
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "none": None,
}


def make_net(n_in, n_out, act="sigmoid", seed=0, weight=None, bias=None):
    """nn.Sequential(Linear(n_in, n_out)[, activation]) with deterministic weights."""
    g = torch.Generator().manual_seed(seed)
    lin = nn.Linear(n_in, n_out)
    with torch.no_grad():
        if weight is None:
            lin.weight.copy_(torch.randn(n_out, n_in, generator=g) * 1.5)
        else:
            lin.weight.copy_(torch.as_tensor(weight, dtype=torch.float32))
        if bias is None:
            lin.bias.copy_(torch.randn(n_out, generator=g) * 0.3)
        else:
            lin.bias.copy_(torch.as_tensor(bias, dtype=torch.float32))
    mods = [lin]
    if ACTIVATIONS[act] is not None:
        mods.append(ACTIVATIONS[act]())
    return nn.Sequential(*mods), lin


# ------------------------------------------------------------------------------------------
# devices
# ------------------------------------------------------------------------------------------
def cuda_unavailable_reason():
    """Why the CUDA kernels cannot be tested here ("" when they can)."""
    if not torch.cuda.is_available():
        return "no CUDA GPU"
    try:
        from deep_ei_fast import build_info
    except Exception as e:  # the extension itself failed to import
        return f"deep_ei_fast not importable: {e}"
    if not build_info().cuda:
        return "built without CUDA kernels"
    return ""


_CUDA_WHY = cuda_unavailable_reason()
needs_cuda = pytest.mark.skipif(bool(_CUDA_WHY), reason=_CUDA_WHY or "CUDA ready")


def accelerators():
    """The non-CPU device parameters (each compared with the CPU), skipped where unusable."""
    return [pytest.param("cuda", marks=needs_cuda, id="cuda")]


def devices():
    """Every device parameter: "cpu" plus accelerators()."""
    return [pytest.param("cpu", id="cpu")] + accelerators()


def to_cpu(value):
    if isinstance(value, (tuple, list)):
        return type(value)(to_cpu(v) for v in value)
    return value.cpu() if isinstance(value, torch.Tensor) else value


def equal_or_both_nan(expected, got):
    """torch.equal, except that NaN equals NaN (inputs such as binning cases hold NaNs)."""
    if torch.equal(got, expected):
        return True
    if not expected.is_floating_point():
        return False
    nan = torch.isnan(expected)
    return torch.equal(torch.isnan(got), nan) and torch.equal(got[~nan], expected[~nan])


def assert_identical(expected, got, what="result"):
    """Identical tensors (same dtype, shape and values, NaN where NaN), through tuples."""
    if isinstance(expected, torch.Tensor):
        assert isinstance(got, torch.Tensor), what
        assert got.dtype == expected.dtype and got.shape == expected.shape, what
        assert equal_or_both_nan(expected, got), (what, got, expected)
    elif isinstance(expected, (tuple, list)):
        assert len(got) == len(expected), what
        for k, (e, g) in enumerate(zip(expected, got)):
            assert_identical(e, g, f"{what}[{k}]")
    else:
        assert got == expected, what


def run_op(device, op, *args):
    """op(*args) with every tensor argument copied to `device` (strides kept). Returns (the
    arguments after the call, the result), both on the CPU. On an accelerator the same call is
    also made with CPU copies and everything written or returned must be bit-identical."""
    moved = [a.to(device, copy=True) if isinstance(a, torch.Tensor) else a for a in args]
    result = op(*moved)
    got = to_cpu(moved), to_cpu(result)
    if torch.device(device).type != "cpu":
        on_cpu = [a.clone() if isinstance(a, torch.Tensor) else a for a in args]
        expected = on_cpu, op(*on_cpu)
        assert_identical(expected, got, f"{getattr(op, '__name__', op)} on {device} vs cpu")
    return got


# ------------------------------------------------------------------------------------------
# command line
# ------------------------------------------------------------------------------------------
def run_cli(capsys, *argv):
    """main(argv) -> (exit code, stdout, stderr); argparse's own exits are caught; arguments
    may be paths or numbers."""
    from deep_ei_fast.apps.cli import main
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err
