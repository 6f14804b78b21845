"""causal_plane against ei + ei_parts + sensitivity called layer by layer, side by side.

    python3 benchmarks/causal_plane.py [--samples 1000000] [--repeats 3]

Writes benchmarks/results/causal_plane_<host>.md (machine, command, date, medians of all runs)
and fails if the two ways disagree. The same as `python3 -m deep_ei_fast benchmark --output ...`.
"""
import argparse
import os
import socket
import sys

from deep_ei_fast.apps.plane_benchmark import run

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--sensitivity-samples", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--torch-samples", type=int, default=100_000,
                        help="samples of the rng='torch' comparison (0: skip it)")
    parser.add_argument("--output", default=os.path.join(RESULTS, f"causal_plane_{socket.gethostname()}.md"))
    args = parser.parse_args()
    report, same = run(args.samples, args.sensitivity_samples, args.repeats, args.torch_samples)
    command = "python3 " + " ".join(sys.argv)
    report = report.replace("\n\n| rng", f"\n- command: `{command}`\n\n| rng", 1)
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output, "w") as handle:
        handle.write(report)
    print(report)
    print(f"wrote {args.output}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
