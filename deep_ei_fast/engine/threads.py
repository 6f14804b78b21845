"""Threads for the CPU kernels, chosen from the machine's load at run time.

torch's CPU parallel regions are OpenMP ones, and libgomp's threads spin-wait at each region's
end (OMP_WAIT_POLICY is read once, when libgomp loads, so a library cannot change it). When
another process holds a core, a spinning thread and the worker it waits for share a core, and
every region costs a time slice: 2 threads on 2 cores with one busy process ran ei_parts 17x
slower than 1 thread (issue 8). So before each block of work the engine counts the runnable
threads of other processes (/proc/loadavg's running count minus this process's own) and uses
at most the cores they leave free (never more than torch.get_num_threads(), at least 1); the
caller's setting is restored afterwards. Results never depend on the thread count.
"""
import contextlib
import functools
import os
import time

import torch

RECHECK_SECONDS = 0.05  # the load is read at most this often
# False: torch.get_num_threads() as set (what tests of thread-count invariance need).
ADAPTIVE = True


def _runnable_here():
    """This process's threads that are running or runnable now."""
    count = 0
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return 1
    for task in tasks:
        try:
            with open(f"/proc/self/task/{task}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        count += state == b"R"
    return max(count, 1)


def _runnable_elsewhere():
    """Runnable threads of other processes (None where /proc/loadavg is not available)."""
    try:
        with open("/proc/loadavg", "rb") as f:
            running = int(f.read().split()[3].split(b"/")[0])
    except (OSError, IndexError, ValueError):
        return None
    return max(0, running - _runnable_here())


def free_cores():
    """Cores of this process's affinity mask not taken by other processes' runnable threads."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    others = _runnable_elsewhere()
    return cores if others is None else max(1, cores - others)


class LoadAwareThreads:
    """Sets torch's thread count for the next block of work from the current load, never above
    ``requested`` (the caller's setting when the outermost block began)."""

    def __init__(self, requested):
        self.requested = requested
        self.checked = 0.0

    def update(self):
        now = time.monotonic()
        if not ADAPTIVE or now - self.checked < RECHECK_SECONDS:
            return
        self.checked = now
        threads = max(1, min(self.requested, free_cores()))
        if threads != torch.get_num_threads():
            torch.set_num_threads(threads)


# The caller's thread count while a load-aware block is open: nested blocks (a public function
# calling another, the engine's blocks inside a public call) choose up to it, not up to the
# count an outer block lowered to, and only the outermost block restores it.
_caller_threads = None


@contextlib.contextmanager
def load_aware_threads():
    """Within the block, ``update()`` before each piece of work; the thread count is restored."""
    global _caller_threads
    outermost = _caller_threads is None
    if outermost:
        _caller_threads = torch.get_num_threads()
    threads = LoadAwareThreads(_caller_threads)
    try:
        yield threads
    finally:
        if outermost:
            if torch.get_num_threads() != _caller_threads:
                torch.set_num_threads(_caller_threads)
            _caller_threads = None


def load_aware(function):
    """Runs every parallel region of a public call (estimates and table sorts as well as the
    engine's sample passes) with the load-aware thread count: a spin-waiting region outside the
    engine's blocks was enough to make a busy machine's default slower than one thread (issue 8)."""
    @functools.wraps(function)
    def call(*args, **kwargs):
        with load_aware_threads() as threads:
            threads.update()
            return function(*args, **kwargs)
    return call
