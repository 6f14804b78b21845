"""Progress of long runs: nothing for the first SHOW_AFTER_SECONDS, then a tqdm bar on a
terminal (or in a notebook), or a few plain lines when stderr is a file or a pipe; off with
progress=False.

A bar's total is what the run will draw as far as it is known: the convergence rounds set it
to the current round's target (set_total). On a terminal the bar erases itself when done
(a loop of calls leaves no pile of bars); written to a log, every line is whole and ends with
a newline: one line when the delay has passed, one every PLAIN_LINE_SECONDS, and a last one
saying what was drawn and how long it took.
"""
import sys
import time
import warnings

from tqdm import TqdmExperimentalWarning
from tqdm.std import tqdm as terminal_tqdm

with warnings.catch_warnings():  # as tqdm.auto does: its notebook mode is not experimental here
    warnings.simplefilter("ignore", TqdmExperimentalWarning)
    from tqdm.autonotebook import tqdm as auto_tqdm

SHOW_AFTER_SECONDS = 2.0
PLAIN_LINE_SECONDS = 30.0


def progress_bar(enabled, total, description, unit="samples"):
    """A context manager and bar: update(n), set_total(n), set_postfix(dict), set_postfix_str."""
    if not enabled:
        return _Silent()
    stream = sys.stderr
    in_notebook = auto_tqdm is not terminal_tqdm  # tqdm picked its notebook widget
    if in_notebook or _is_terminal(stream):
        return _Bar(auto_tqdm if in_notebook else terminal_tqdm, total, description, unit, stream)
    return _PlainLines(total, description, unit, stream)


def _is_terminal(stream):
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def _amount(n, unit):
    return f"{n:,} {unit}"


class _Silent:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, n=1):
        pass

    def set_total(self, total):
        pass

    def set_postfix(self, postfix, refresh=True):
        pass

    def set_postfix_str(self, text, refresh=True):
        pass


class _Bar(_Silent):
    """tqdm, drawn only after the delay: tqdm's own delay covers its updates but not an
    explicit refresh (set_postfix), which would draw at once."""

    def __init__(self, bar_class, total, description, unit, stream):
        self.delay = SHOW_AFTER_SECONDS
        self.start = time.monotonic()
        self.bar = bar_class(total=total, desc=description, unit=unit, unit_scale=True, leave=False,
                             delay=self.delay, file=stream)

    def __exit__(self, *exc):
        self.bar.close()
        return False

    def _due(self):
        return time.monotonic() - self.start >= self.delay

    def update(self, n=1):
        self.bar.update(n)

    def set_total(self, total):
        self.bar.total = total
        if self._due():
            self.bar.refresh()

    def set_postfix(self, postfix, refresh=True):
        self.bar.set_postfix(postfix, refresh=refresh and self._due())

    def set_postfix_str(self, text, refresh=True):
        self.bar.set_postfix_str(text, refresh=refresh and self._due())


class _PlainLines(_Silent):
    """Whole lines for a log file: no carriage-return redraws."""

    def __init__(self, total, description, unit, stream):
        self.total, self.description, self.unit, self.stream = total, description, unit, stream
        self.delay = SHOW_AFTER_SECONDS
        self.start = time.monotonic()
        self.drawn = 0
        self.postfix = ""
        self.last_line = None  # time of the last line written

    def __exit__(self, exc_type, *exc):
        if self.last_line is not None:  # announced: say how it ended
            ending = "stopped" if exc_type is not None else "done"
            self._write(f"{ending}: {_amount(self.drawn, self.unit)} in {self._elapsed():.1f} s")
        return False

    def _elapsed(self):
        return time.monotonic() - self.start

    def _write(self, status):
        postfix = f" [{self.postfix}]" if self.postfix else ""
        self.stream.write(f"{self.description}: {status}{postfix}\n")
        self.stream.flush()
        self.last_line = time.monotonic()

    def _maybe_write(self):
        elapsed = self._elapsed()
        if elapsed < self.delay:
            return
        if self.last_line is not None and time.monotonic() - self.last_line < PLAIN_LINE_SECONDS:
            return
        of_total = ""
        if self.total:
            of_total = f" of {_amount(self.total, self.unit)} ({100 * self.drawn / self.total:.0f}%)"
            self._write(f"{self.drawn:,}{of_total}, {elapsed:.0f} s")
        else:
            self._write(f"{_amount(self.drawn, self.unit)}, {elapsed:.0f} s")

    def update(self, n=1):
        self.drawn += n
        self._maybe_write()

    def set_total(self, total):
        self.total = total

    def set_postfix(self, postfix, refresh=True):
        self.postfix = ", ".join(f"{key}={value}" for key, value in postfix.items())

    def set_postfix_str(self, text, refresh=True):
        self.postfix = text
