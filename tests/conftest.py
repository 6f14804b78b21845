"""Shared fixtures and helpers for the deep_ei_fast test suite.

pytest settings live here (no pyproject.toml): the tests directory is put on sys.path so the
plain-torch oracle imports as `torch_reference`, and hypothesis gets a modest default profile.
"""
import os
import sys

import pytest
import torch
import torch.nn as nn
from hypothesis import HealthCheck, settings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

settings.register_profile(
    "deep_ei_fast",
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("deep_ei_fast")


@pytest.fixture(scope="session")
def dei():
    """The package under test (imported lazily so that collection never fails on it)."""
    import deep_ei_fast

    return deep_ei_fast


@pytest.fixture(scope="session")
def ops(dei):
    """torch.ops.deep_ei_fast, available once deep_ei_fast is imported."""
    return torch.ops.deep_ei_fast


@pytest.fixture
def restore_threads(monkeypatch):
    """The thread count a test sets is the one used (no load-aware choice), restored after."""
    from deep_ei_fast.engine import threads
    monkeypatch.setattr(threads, "ADAPTIVE", False)
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


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
