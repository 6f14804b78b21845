"""Progress bars: one bar per call, removed when done, so a loop of calls leaves no pile of bars.

stderr is replaced by a fake terminal (tqdm draws with '\\r' there) and the bars' two-second
delay is set to 0 so that even these short calls draw.
"""
import contextlib
import io

import pytest
import torch

from helpers import make_net


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


@pytest.fixture
def terminal(monkeypatch):
    """A fake terminal to redirect stderr to inside the test (pytest's own capture resets
    sys.stderr between a fixture's setup and the test body)."""
    from deep_ei_fast.engine import progress
    monkeypatch.setattr(progress, "SHOW_AFTER_SECONDS", 0.0)
    return FakeTerminal()


def _segments(text):
    """What each redraw wrote: tqdm starts every drawing of a line with a carriage return."""
    return [s for s in text.split("\r") if s]


def test_loop_of_calls_leaves_one_cleared_bar_each(dei, terminal):
    # 30 x 40 pairs of 9 x 9 counters under 100 kB: the pair counts are tiled (6 tiles), the
    # case that used to draw a second, nested "pair tiles" bar.
    net, lin = make_net(30, 40, "sigmoid", seed=1)
    top = dei.topology_of(net, torch.zeros(1, 30))
    calls = 0
    with contextlib.redirect_stderr(terminal):
        for _ in range(3):
            dei.ei_parts_matrix(lin, top, samples=20000, in_bins=8, out_bins=8, memory_bound=100_000, seed=0)
            dei.ei(lin, top, samples=20000, in_bins=8, out_bins=8, seed=0)
            dei.sensitivity(lin, top, samples=200, in_bins=8, out_bins=8, seed=0)
            calls += 3
    text = terminal.getvalue()
    assert "\n" not in text  # nothing scrolled: no bar left behind, no nested bar below another
    drawn = _segments(text)
    cleared = [s for s in drawn if not s.strip()]
    assert len(cleared) == calls  # each call's bar erased itself once, at its end
    bars = [s for s in drawn if s.strip()]
    assert not any(s.startswith("pair tiles") for s in bars)
    assert any("pair tiles 6/6" in s for s in bars)  # the tiled passes are shown in the call's bar
    openings = {s.split(":")[0] for s in bars}
    assert openings == {"ei_parts_matrix Linear 30->40", "ei Linear 30->40", "sensitivity Linear 30->40"}
    assert not drawn[-1].strip()  # the terminal line ends blank


def test_convergence_rounds_in_postfix(dei, terminal):
    net, lin = make_net(3, 2, "sigmoid", seed=0)
    top = dei.topology_of(net, torch.zeros(1, 3))
    with contextlib.redirect_stderr(terminal):
        dei.ei(lin, top, samples=None, in_bins=8, out_bins=8, seed=0)
    text = terminal.getvalue()
    assert "round=1" in text and "estimate=" in text and "threshold=0.05" in text
    assert "change=" in text
