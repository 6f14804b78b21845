"""topology_of and causal_plane from 8 threads on one model against serial calls (issue 22,
item 2): how many of the threads' results differ from the serial ones.

    python3 benchmarks/threads_topology.py --checkout /work/main [--calls 8]
"""
import argparse
import os
import sys
import threading


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkout", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    parser.add_argument("--calls", type=int, default=8, help="topology_of calls per thread")
    args = parser.parse_args()
    sys.path.insert(0, os.path.abspath(args.checkout))
    import torch
    import torch.nn as nn

    import deep_ei_fast as dei

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.Sigmoid(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 3), nn.Sigmoid())

    def summary(top):
        return [(m, top.nodes[m]["input"]["shape"], top.nodes[m]["output"]["shape"],
                 top.nodes[m]["input"]["activation"], top.nodes[m]["output"]["activation"]) for m in top.nodes], \
            list(top.edges)

    inputs = [torch.zeros(1, 6), torch.zeros(3, 6)]
    serial = [summary(dei.topology_of(model, x)) for x in inputs]
    kw = dict(samples=3000, sensitivity_samples=40, in_bins=8, out_bins=8, seed=9, progress=False)
    plane_serial = [(r.ei, r.ei_parts, r.sensitivity) for r in dei.causal_plane(model, inputs[0], **kw)]
    results = {"topology": [], "plane": []}
    barrier = threading.Barrier(8)

    def work(k):
        barrier.wait()
        for r in range(args.calls):
            which = (k + r) % 2
            results["topology"].append(summary(dei.topology_of(model, inputs[which])) == serial[which])
        rows = [(r.ei, r.ei_parts, r.sensitivity) for r in dei.causal_plane(model, inputs[0], **kw)]
        results["plane"].extend(a == b for a, b in zip(rows, plane_serial))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(f"deep_ei_fast from {os.path.dirname(dei.__file__)}")
    print(f"topology_of: {results['topology'].count(False)} of {len(results['topology'])} differ from serial")
    print(f"causal_plane rows: {results['plane'].count(False)} of {len(results['plane'])} differ from serial")


if __name__ == "__main__":
    main()
