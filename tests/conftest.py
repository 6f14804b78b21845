"""Fixtures shared by the deep_ei_fast test suite, and the hypothesis profile.

pytest's settings (tests/ on sys.path, testpaths) are in pyproject.toml's
[tool.pytest.ini_options]; plain helpers (make_net, ACTIVATIONS, the device lists) are in
tests/helpers.py, imported as `helpers`.
"""
import pytest
import torch
from hypothesis import HealthCheck, settings

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


@pytest.fixture
def restore_threads(monkeypatch):
    """The thread count a test sets is the one used (no load-aware choice), restored after."""
    from deep_ei_fast.engine import threads
    monkeypatch.setattr(threads, "ADAPTIVE", False)
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)
