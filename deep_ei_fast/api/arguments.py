"""Checks of user arguments: each failure names the argument and its value, before any work."""
import dataclasses
import math
import numbers

import torch

from ..engine.ops import build_info
from ..engine.pair_counts import MAX_BINS
from ..engine.settings import DEFAULT_MEMORY_BOUND  # noqa: F401  (the default, documented here)
from ..estimators.registry import check_estimator

RNG_MODES = ("philox", "torch")


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_bins(name, value, allow_dynamic=False):
    if allow_dynamic and isinstance(value, str) and value == "dynamic":
        return
    if not _is_int(value):
        expected = "an integer or 'dynamic'" if allow_dynamic else "an integer"
        raise TypeError(f"{name} must be {expected}, got {value!r}")
    if not 1 <= value <= MAX_BINS:
        raise ValueError(f"{name} must be between 1 and {MAX_BINS}, got {value!r}")


def check_range(name, value, allow_dynamic=False):
    if value is None:
        return
    if isinstance(value, str):
        if allow_dynamic and value == "dynamic":
            return
        raise ValueError(f"{name}={value!r} is not supported here" if value == "dynamic"
                         else f"{name} must be a (low, high) pair, got {value!r}")
    try:
        low, high = value
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a (low, high) pair, got {value!r}") from None
    if not (_is_real(low) and _is_real(high)):
        raise TypeError(f"{name} must hold two real numbers, got {value!r}")
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if not low < high:
        raise ValueError(f"{name} must have low < high, got {value!r}")


def check_positive_int(name, value, allow_none=False):
    if allow_none and value is None:
        return
    if not _is_int(value):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value!r}")


def check_threshold(value):
    if not _is_real(value):
        raise TypeError(f"threshold must be a number, got {value!r}")
    if not value > 0:
        raise ValueError(f"threshold must be > 0, got {value!r}")


def check_rng(value):
    if value not in RNG_MODES:
        raise ValueError(f"rng must be one of {RNG_MODES}, got {value!r}")


def check_seed(value):
    if value is not None and not _is_int(value):
        raise TypeError(f"seed must be None or an integer, got {value!r}")


def check_memory_bound(value):
    if not _is_int(value):
        raise TypeError(f"memory_bound must be an integer number of bytes, got {value!r}")
    if value < 1:
        raise ValueError(f"memory_bound must be positive, got {value!r}")


def check_device(value):
    """Returns the torch.device; only devices with engine kernels are accepted."""
    try:
        device = torch.device(value)
    except (TypeError, RuntimeError):
        raise ValueError(f"device must be 'cpu', 'cuda' or a torch.device, got {value!r}") from None
    if device.type == "cpu":
        return device
    if device.type == "cuda":
        if not build_info().cuda:
            raise ValueError(f"device={value!r}: deep_ei_fast was built without CUDA kernels")
        if not torch.cuda.is_available():
            raise ValueError(f"device={value!r}: no CUDA GPU is available")
        return device
    raise ValueError(f"device={value!r} is not supported (use 'cpu' or 'cuda')")


def check_settings(settings, *, dynamic_out=False):
    """The checks every measurement shares; returns the settings with ``device`` as a
    torch.device. dynamic_out allows out_range/out_bins='dynamic'."""
    s = settings
    check_positive_int("samples", s.samples, allow_none=True)
    check_positive_int("batch_size", s.batch_size)
    if isinstance(s.in_range, str) and s.in_range == "dynamic":
        raise ValueError("in_range='dynamic' is not supported: only out_range can be dynamic")
    check_range("in_range", s.in_range)
    check_bins("in_bins", s.in_bins)
    check_range("out_range", s.out_range, allow_dynamic=dynamic_out)
    check_bins("out_bins", s.out_bins, allow_dynamic=dynamic_out)
    check_rng(s.rng)
    check_seed(s.seed)
    if s.memory_bound is not None:
        check_memory_bound(s.memory_bound)
    check_threshold(s.threshold)
    check_estimator(s.estimator, s.shuffles)
    return dataclasses.replace(s, device=check_device(s.device))
