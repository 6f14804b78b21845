"""Memory of the shuffle estimator's counter sets against memory_bound (issue 22).

Each run is a fresh process (ei_parts or ei of a 4 -> 3 sigmoid layer, 1000 samples, 8 bins,
estimator="shuffle") whose peak RSS (ru_maxrss) is read at its end:

1. The bytes one counter set holds beside its counters and codes ("bookkeeping": Python
   objects, lists, tensor headers): peak RSS at two numbers of shuffles, with a bound large
   enough that every set is whole, less the counters and pending codes each set holds; the
   difference over the difference in sets. pair_counts.COUNTER_SET_BYTES and
   vector_counts.TABLE_BYTES must be at least these.
2. The issue's cases under the default 2 GiB bound: shuffles=10**5 (must stay within the bound
   plus the process's base) and shuffles=10**6 (refused before any work).

    python benchmarks/memory_bound.py [pairs] [vectors] [cases]   # all by default
    # results: benchmarks/results/memory_bound_cpu_2core_2026-12-04.md
"""
import os
import subprocess
import sys

SCRIPT = """
import resource, sys, torch
sys.path.insert(0, {tests!r})
from helpers import make_net
import deep_ei_fast as dei
net, lin = make_net(4, 3, "sigmoid", seed=1)
top = dei.topology_of(net, torch.zeros(1, 4))
kwargs = dict(samples=1000, in_bins=8, out_bins=8, seed=0, progress=False, estimator="shuffle")
kwargs.update({kwargs!r})  # may override samples
try:
    getattr(dei, {function!r})(lin, top, **kwargs)
    outcome = "returned"
except ValueError as error:
    outcome = "ValueError: " + str(error)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
print(outcome)
"""
TESTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests")
COUNTERS = 4 * 3 * 9 * 9 * 4  # 12 pairs of 9 x 9 int32 counters
PENDING = 1000 * (4 + 3)  # one block of uint8 codes, counted at the end


def peak(function, **kwargs):
    """(peak RSS bytes, outcome line) of one run in a fresh process."""
    code = SCRIPT.format(tests=TESTS, function=function, kwargs=kwargs)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    rss, outcome = done.stdout.strip().splitlines()[-2:]
    return int(rss), outcome


def per_set(function, low, high, part, samples=1000):
    """Bytes of peak RSS per counter set between `low` and `high` shuffles, each set given
    `part` bytes of memory_bound."""
    a = peak(function, shuffles=low, memory_bound=(low + 1) * part, samples=samples)[0]
    b = peak(function, shuffles=high, memory_bound=(high + 1) * part, samples=samples)[0]
    return (b - a) / (high - low)


def pairs():
    per = per_set("ei_parts", 2000, 10000, 64 * 1024)
    print(f"| ei_parts: peak RSS per counter set (whole counters, pending codes) | {per:.0f} |")
    print(f"| ei_parts: of which bookkeeping (less {COUNTERS} counters, {PENDING} codes) | "
          f"{per - COUNTERS - PENDING:.0f} |")


def vectors():
    per = per_set("ei", 1000, 5000, 64 * 1024)
    print(f"| ei: peak RSS per vector table (1000 samples: its rows and bookkeeping) | {per:.0f} |")
    per = per_set("ei", 1000, 5000, 64 * 1024, samples=16)
    print(f"| ei: peak RSS per vector table (16 samples: about its bookkeeping alone) | {per:.0f} |")


def cases():
    base = peak("ei_parts", shuffles=1)[0]
    print("\n| case | peak RSS (MB) | above one shuffle's (MB) | outcome |\n|---|---|---|---|")
    for shuffles in (10**5, 10**6):
        rss, outcome = peak("ei_parts", shuffles=shuffles)
        print(f"| ei_parts shuffles={shuffles}, default bound (2 GiB) | {rss / 2**20:.0f} | "
              f"{(rss - base) / 2**20:.0f} | {outcome[:300]} |")


PARTS = {"pairs": pairs, "vectors": vectors, "cases": cases}


def main(parts):
    print(f"load: {os.getloadavg()}")
    print("| quantity | bytes |\n|---|---|")
    for name in parts or PARTS:
        PARTS[name]()


if __name__ == "__main__":
    main(sys.argv[1:])
