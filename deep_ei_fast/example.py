"""The main job: measure the causal structure of a small network, layer by layer.

    python -m deep_ei_fast.example                 # train briefly on digits, then measure
    python -m deep_ei_fast.example --no-train      # the freshly initialized network
    python -m deep_ei_fast.example --samples 10000000 --sensitivity-samples 5000

The network is the bias-free 25 -> 6 -> 6 -> 6 -> 5 sigmoid network of the paper ("Examining the
causal structures of deep neural networks using information theory", Mattsson, Michaud &
Hoel, 2020), with weights uniform in +-1/sqrt(fan_in) under torch.manual_seed(0). By default it
first takes 200 full-batch Adam steps on scikit-learn's bundled digits 0-4 (8x8 images averaged
down to 5x5, pixels scaled to [0, 1]) so that the layers carry some structure.

For each linear layer it prints, in bits, with the time each call took:
  EI          vector EI, deep_ei_fast.ei
  EI_parts    sum of the pairwise EIs, deep_ei_fast.ei_parts
  sensitivity deep_ei_fast.sensitivity
  degeneracy  sensitivity - EI, and its EI_parts variant sensitivity - EI_parts (the paper's
              decomposition EI_parts = sensitivity - degeneracy)
All with 8 bins in and out, noise in (0, 1) (the inputs are pixels or sigmoid outputs), the
counter-based "philox" noise with a fixed seed, so every run prints the same numbers.
"""
import argparse
import sys
import time

import torch
from torch import nn

import deep_ei_fast as deep_ei

SIZES = (25, 6, 6, 6, 5)


def build_network(seed=0):
    torch.manual_seed(seed)
    layers = []
    for fan_in, fan_out in zip(SIZES[:-1], SIZES[1:]):
        linear = nn.Linear(fan_in, fan_out, bias=False)
        bound = 1.0 / fan_in ** 0.5
        nn.init.uniform_(linear.weight, -bound, bound)
        layers += [linear, nn.Sigmoid()]
    return nn.Sequential(*layers)


def digits_5x5():
    """Digits 0-4 from scikit-learn's bundled data set, as [N, 25] floats in [0, 1]."""
    from sklearn.datasets import load_digits
    d = load_digits()
    keep = d.target < 5
    x = torch.tensor(d.images[keep], dtype=torch.float32).unsqueeze(1) / 16.0   # [N, 1, 8, 8]
    x = nn.functional.adaptive_avg_pool2d(x, (5, 5)).reshape(-1, 25)
    return x, torch.tensor(d.target[keep], dtype=torch.int64)


def train(net, steps):
    """Full-batch Adam on cross-entropy of the (sigmoid) outputs scaled by 10."""
    x, y = digits_5x5()
    opt = torch.optim.Adam(net.parameters(), lr=0.05)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: one thread avoids thread-pool overhead
    try:
        for _ in range(steps):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(net(x) * 10.0, y)
            loss.backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
    with torch.no_grad():
        acc = (net(x).argmax(dim=1) == y).float().mean().item()
    return acc, x.shape[0]


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    r = fn(*args, **kwargs)
    return r, time.perf_counter() - t0


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m deep_ei_fast.example", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=float, default=1e6,
                    help="noise samples for EI and EI_parts (default 1e6)")
    ap.add_argument("--sensitivity-samples", type=float, default=5000,
                    help="noise samples per input neuron for sensitivity (default 5000)")
    ap.add_argument("--bins", type=int, default=8)
    ap.add_argument("--steps", type=int, default=200, help="Adam steps on digits (default 200)")
    ap.add_argument("--no-train", action="store_true", help="measure the untrained network")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    samples, sens_samples, bins = int(args.samples), int(args.sensitivity_samples), args.bins

    t_start = time.perf_counter()
    net = build_network(args.seed)
    print(f"network: bias-free {' -> '.join(map(str, SIZES))}, sigmoid after every layer, "
          f"torch.manual_seed({args.seed})")
    if args.no_train:
        print("training: none (weights uniform in +-1/sqrt(fan_in))")
    else:
        (acc, n), t = timed(train, net, args.steps)
        print(f"training: {args.steps} full-batch Adam steps on {n} scikit-learn digits 0-4 at 5x5: "
              f"train accuracy {acc:.3f} ({t:.2f} s)")
    net.eval()
    topology = deep_ei.topology_of(net, torch.zeros((1, SIZES[0])))
    linears = [m for m in net if isinstance(m, nn.Linear)]
    common = dict(in_range=(0, 1), out_range=(0, 1), in_bins=bins, out_bins=bins,
                  rng="philox", seed=args.seed, progress=False)
    print(f"measuring with deep_ei_fast {deep_ei.__version__}: {bins} bins, EI and EI_parts from "
          f"{samples:,} samples, sensitivity from {sens_samples:,} samples per input neuron, "
          f"rng=philox seed={args.seed}, torch threads {torch.get_num_threads()}")
    print()

    header = (f"{'layer':<10} {'EI (bits)':>10} {'time':>8}   {'EI_parts':>9} {'time':>8}   "
              f"{'sensitivity':>11} {'time':>8}   {'degeneracy':>10} {'(parts)':>9}")
    print(header)
    print("-" * len(header))
    rows = []
    with torch.no_grad():
        for i, layer in enumerate(linears):
            name = f"{i + 1}: {layer.in_features}->{layer.out_features}"
            ei, t_ei = timed(deep_ei.ei, layer, topology, samples=samples, **common)
            parts, t_parts = timed(deep_ei.ei_parts, layer, topology, samples=samples, **common)
            sens, t_sens = timed(deep_ei.sensitivity, layer, topology, samples=sens_samples,
                                 **common)
            degeneracy, degeneracy_parts = sens - ei, sens - parts
            rows.append((name, ei, parts, sens, degeneracy, degeneracy_parts))
            print(f"{name:<10} {ei:>10.4f} {t_ei:>7.2f}s   {parts:>9.4f} {t_parts:>7.2f}s   "
                  f"{sens:>11.4f} {t_sens:>7.2f}s   {degeneracy:>10.4f} {degeneracy_parts:>9.4f}",
                  flush=True)
    print("-" * len(header))
    print("degeneracy = sensitivity - EI; (parts) = sensitivity - EI_parts, the paper's "
          "decomposition EI_parts = sensitivity - degeneracy. All values in bits.")
    print(f"total {time.perf_counter() - t_start:.2f} s")
    return rows


if __name__ == "__main__":
    main()
    sys.exit(0)
