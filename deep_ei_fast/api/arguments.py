"""Checks of user arguments: each failure names the argument and its value, before any work."""
import dataclasses
import math
import numbers
import operator

import numpy as np
import torch

from ..engine.ops import build_info
from ..engine.pair_counts import MAX_BINS
from ..engine.settings import default_memory_bound
from ..engine.sharding import check_process_group
from ..estimators.registry import check_estimator
from .sample_rules import FIRST_ROUND

RNG_MODES = ("philox", "torch")


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_bins(name, value, allow_dynamic=False):
    if isinstance(value, str) and value == "dynamic":
        if allow_dynamic:
            return
        raise ValueError(f"{name}={value!r} is not supported here (only ei_parts, "
                         "ei_parts_matrix, sensitivity and sensitivity_matrix take it)")
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


FLOAT32_MAX = float(np.finfo(np.float32).max)


def check_float32_noise_range(name, value):
    """The noise is drawn in float32 as low + (high - low) * u: both ends and the width must
    be finite float32 numbers (else every sample is inf or NaN)."""
    if value is None:
        return
    low, high = value
    if max(abs(low), abs(high), high - low) > FLOAT32_MAX:
        raise ValueError(f"{name}={value!r} is beyond float32 (noise is drawn in float32: the ends "
                         f"and their difference must be at most {FLOAT32_MAX:.4g})")


def check_positive_int(name, value, allow_none=False):
    if allow_none and value is None:
        return
    if not _is_int(value):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1, got {value!r}")


def check_max_samples(value):
    """None (no cap) or at least the first round of samples=None."""
    if value is None:
        return
    check_positive_int("max_samples", value)
    if value < FIRST_ROUND:
        raise ValueError(f"max_samples must be None or at least {FIRST_ROUND} (the first round of "
                         f"samples=None), got {value!r}")


def check_threshold(value):
    if not _is_real(value):
        raise TypeError(f"threshold must be a number, got {value!r}")
    if not value > 0:
        raise ValueError(f"threshold must be > 0, got {value!r}")


def check_rng(value):
    if value not in RNG_MODES:
        raise ValueError(f"rng must be one of {RNG_MODES}, got {value!r}")


SEED_LIMIT = 2**64  # philox takes a 64-bit key


def check_seed(value, rng="philox"):
    if value is None:
        return
    if not _is_int(value):
        raise TypeError(f"seed must be None or an integer, got {value!r}")
    if not 0 <= value < SEED_LIMIT:
        raise ValueError(f"seed must be in [0, 2**64), got {value!r}")
    if rng == "torch":
        # rng='torch' draws from torch's global generator, exactly as deep-ei: seeding it here
        # would silently reset the caller's random state.
        raise ValueError(f"seed={value!r} applies to rng='philox' only; rng='torch' draws from "
                         "torch's global generator: call torch.manual_seed(...) before the call")


def check_extrapolate(value):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"extrapolate must be True or False, got {value!r}")


def _index(name, value):
    """An integer-like index (int, numpy integer, 0-d integer tensor); floats and bools refused."""
    if isinstance(value, (bool, np.bool_)) or (isinstance(value, torch.Tensor) and value.dtype == torch.bool):
        raise TypeError(f"groups: {name} index {value!r} is a bool, not an integer")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"groups: {name} index {value!r} is not an integer "
                        f"({type(value).__name__})") from None


def check_groups(groups, n_in, n_out):
    """eis_between_groups' groups as a list of (tuple of ints, tuple of ints)."""
    try:
        pairs = [(tuple(i), tuple(o)) for i, o in groups]
    except (TypeError, ValueError):
        raise TypeError(f"groups must be a list of (in_indices, out_indices) pairs, got {groups!r}") from None
    if not pairs:
        raise ValueError(f"groups must hold at least one (in_indices, out_indices) pair, got {groups!r}")
    checked = []
    for in_index, out_index in pairs:
        group = []
        for name, indices, size in (("input", in_index, n_in), ("output", out_index, n_out)):
            values = tuple(_index(name, k) for k in indices)
            for k in values:
                if not 0 <= k < size:
                    raise ValueError(f"groups: {name} index {k!r} in group {(in_index, out_index)!r} "
                                     f"is out of range for {size} {name} neurons")
            group.append(values)
        checked.append(tuple(group))
    return checked


def check_memory_bound(value):
    """None (the device's default, default_memory_bound) or a positive number of bytes."""
    if value is None:
        return
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
    torch.device and ``memory_bound`` resolved (None: the device's default, so the engine
    always sees bytes). dynamic_out allows out_range/out_bins='dynamic'."""
    s = settings
    check_positive_int("samples", s.samples, allow_none=True)
    check_positive_int("batch_size", s.batch_size)
    if isinstance(s.in_range, str) and s.in_range == "dynamic":
        raise ValueError("in_range='dynamic' is not supported: only out_range can be dynamic")
    check_range("in_range", s.in_range)
    check_float32_noise_range("in_range", s.in_range)
    check_bins("in_bins", s.in_bins)
    check_range("out_range", s.out_range, allow_dynamic=dynamic_out)
    check_bins("out_bins", s.out_bins, allow_dynamic=dynamic_out)
    check_rng(s.rng)
    check_seed(s.seed, s.rng)
    check_memory_bound(s.memory_bound)
    check_threshold(s.threshold)
    check_max_samples(s.max_samples)
    check_estimator(s.estimator, s.shuffles)
    check_process_group(s.process_group, s.rng)
    if s.device is None:  # resolved from the layer's parameters (api/prepare.py), then settings_on_device
        return s
    return settings_on_device(s, s.device)


def settings_on_device(settings, device, owner=None):
    """Checked settings measured on ``device`` (checked), memory_bound=None made its default.
    ``owner``: device=None took ``device`` from its parameters (named in an error)."""
    try:
        device = check_device(device)
    except ValueError as error:
        if owner is None:
            raise
        raise ValueError(f"device=None measures where {owner}'s parameters are: {error}") from None
    memory_bound = default_memory_bound(device) if settings.memory_bound is None else settings.memory_bound
    return dataclasses.replace(settings, device=device, memory_bound=memory_bound)
