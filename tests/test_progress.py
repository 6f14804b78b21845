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


# -- issue 21: the bar's total, its delay, and output that is not a terminal ------------------

class LogFile(io.StringIO):
    """stderr redirected to a file: not a terminal."""

    def isatty(self):
        return False


@pytest.fixture
def log_file(monkeypatch):
    from deep_ei_fast.engine import progress
    monkeypatch.setattr(progress, "SHOW_AFTER_SECONDS", 0.0)
    monkeypatch.setattr(progress, "PLAIN_LINE_SECONDS", 0.0)  # a line at every update
    return LogFile()


def test_convergence_bar_total_is_the_current_rounds_target(dei, log_file):
    from deep_ei_fast.api.sample_rules import doubling_rounds
    net, lin = make_net(3, 2, "sigmoid", seed=0)
    top = dei.topology_of(net, torch.zeros(1, 3))
    with contextlib.redirect_stderr(log_file):
        dei.ei(lin, top, samples=None, in_bins=8, out_bins=8, seed=0)
    lines = log_file.getvalue().splitlines()
    progress_lines = [line for line in lines if " of " in line]
    totals = [int(line.split(" of ")[1].split()[0].replace(",", "")) for line in progress_lines]
    drawn = [int(line.split(": ")[1].split()[0].replace(",", "")) for line in progress_lines]
    targets = [total for _, total in zip(range(len(totals) + 1), doubling_rounds())]
    # Each line's total is the target of the round being drawn (10k, 20k, 40k, ...), never
    # the max_samples cap, and the drawn count reaches it before the next round starts.
    assert totals and set(totals) <= {t for _, t in targets}
    assert all(d <= t for d, t in zip(drawn, totals))
    assert sorted(set(totals)) == sorted(set(totals), key=totals.index)  # rounds in order
    assert lines[-1].startswith("ei Linear 3->2: done: ") and f"{max(totals):,} samples" in lines[-1]
    assert str(dei.DEFAULT_MAX_SAMPLES) not in log_file.getvalue()
    assert f"{dei.DEFAULT_MAX_SAMPLES:,}" not in log_file.getvalue()


def test_nothing_is_drawn_before_the_delay(dei, monkeypatch):
    # The convergence rounds refresh the bar's postfix explicitly; that must not draw it
    # before the delay (tqdm's own delay covers only its updates).
    from deep_ei_fast.engine import progress
    monkeypatch.setattr(progress, "SHOW_AFTER_SECONDS", 1000.0)
    net, lin = make_net(3, 2, "sigmoid", seed=0)
    top = dei.topology_of(net, torch.zeros(1, 3))
    for stream in (FakeTerminal(), LogFile()):
        with contextlib.redirect_stderr(stream):
            dei.ei(lin, top, samples=None, in_bins=8, out_bins=8, seed=0)
            dei.ei_parts_matrix(lin, top, samples=20000, in_bins=8, out_bins=8, memory_bound=2000, seed=0)
        assert stream.getvalue() == "", type(stream).__name__


def test_a_log_file_gets_whole_lines_not_redraws(dei, monkeypatch):
    from deep_ei_fast.engine import progress
    monkeypatch.setattr(progress, "SHOW_AFTER_SECONDS", 0.0)  # PLAIN_LINE_SECONDS stays 30 s
    net, lin = make_net(30, 40, "sigmoid", seed=1)
    top = dei.topology_of(net, torch.zeros(1, 30))
    log = LogFile()
    with contextlib.redirect_stderr(log):
        for _ in range(5):
            dei.ei_parts_matrix(lin, top, samples=20000, in_bins=8, out_bins=8, memory_bound=100_000, seed=0)
    text = log.getvalue()
    assert "\r" not in text and text.endswith("\n")
    lines = text.splitlines()
    # Each call: its first line once the delay passed, then its last line (the calls are far
    # shorter than PLAIN_LINE_SECONDS).
    assert len(lines) == 10, lines
    assert all(line.startswith("ei_parts_matrix Linear 30->40: ") for line in lines)
    assert sum(line.split(": ", 1)[1].startswith("done: 20,000 samples in ") for line in lines) == 5
    assert len(text) < 2000


def test_plain_lines_say_when_a_run_stopped(monkeypatch):
    from deep_ei_fast.engine import progress
    monkeypatch.setattr(progress, "SHOW_AFTER_SECONDS", 0.0)
    log = LogFile()
    with pytest.raises(KeyboardInterrupt), contextlib.redirect_stderr(log):
        with progress.progress_bar(True, 100, "ei Linear 2->2") as bar:
            bar.update(40)
            raise KeyboardInterrupt
    assert log.getvalue().splitlines() == ["ei Linear 2->2: 40 of 100 samples (40%), 0 s",
                                           "ei Linear 2->2: stopped: 40 samples in 0.0 s"]
