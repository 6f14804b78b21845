"""The cases of issue 16 ("any layer of any model"), measured by one checkout of deep_ei_fast
beside a plain reference, so that before and after can be put side by side.

    python3 benchmarks/modern_cases.py --checkout /work/main [--samples 200000] [--bins 16]

Reference (as in the issue): uniform noise through the module and the activation that follows
it in the model, deep-ei's pairwise binning, plug-in MI (benchmarks/plain_torch.py), from
``--samples`` samples and ``--bins`` bins. Each case prints the library's value or the first
line of its error, and the reference.
"""
import argparse
import os
import sys
import warnings

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))


class ResidualMLP(nn.Module):
    """x + fc2(act(fc1(x))) with act a module or a function."""

    def __init__(self, act, width=12, hidden=20):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(width, hidden), nn.Linear(hidden, width)
        self.act = act

    def forward(self, x):
        return x + self.fc2(self.act(self.fc1(x)))


class StackedResidual(ResidualMLP):
    """fc3(x + fc2(sigmoid(fc1(x)))): the residual add lies between fc1 and fc3."""

    def __init__(self):
        super().__init__(torch.sigmoid)
        self.fc3 = nn.Linear(12, 4)

    def forward(self, x):
        return self.fc3(super().forward(x))


def reference(module, activation, in_range, out_range, samples, bins, width=None):
    """EI_parts of x -> activation(module(x)) for x uniform in in_range (width: input neurons)."""
    import plain_torch
    generator = torch.Generator().manual_seed(123)
    width = width or module.in_features
    x = torch.rand((samples, width), generator=generator) * (in_range[1] - in_range[0]) + in_range[0]
    with torch.no_grad():
        y = activation(module(x))
    return float(plain_torch.ei_parts_matrix_from_samples(x, y, in_range, bins, out_range, bins).sum())


def attempt(function):
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            value = function()
        note = f" (warning: {str(caught[0].message).splitlines()[0][:120]})" if caught else ""
        return (f"{value:.2f}" if isinstance(value, float) else str(value)) + note
    except Exception as error:  # the case records what a user sees
        return f"{type(error).__name__}: {str(error).splitlines()[0][:160]}"


def cases(dei, samples, bins):
    kw = dict(samples=samples, in_bins=bins, out_bins=bins, seed=1, progress=False)
    rows = []

    torch.manual_seed(0)
    model = ResidualMLP(nn.ReLU())
    x = torch.zeros(1, 5, 12)
    top = dei.topology_of(model, x)
    rows.append(("residual MLP, relu module, tokens (1, 5, 12): ei_parts(fc1, top)",
                 attempt(lambda: dei.ei_parts(model.fc1, top, **kw)),
                 reference(model.fc1, torch.relu, (-10, 10), (0, 10), samples, bins)))

    torch.manual_seed(0)
    enc = nn.TransformerEncoderLayer(d_model=16, nhead=2, dim_feedforward=24, batch_first=True)
    top = dei.topology_of(enc, torch.zeros(1, 6, 16))
    rows.append(("TransformerEncoderLayer (1, 6, 16): ei_parts(linear1, activation=ReLU, out_range=(0, 2))",
                 attempt(lambda: dei.ei_parts(enc.linear1, top, activation=nn.ReLU(), out_range=(0, 2), **kw)),
                 reference(enc.linear1, torch.relu, (-10, 10), (0, 2), samples, bins)))
    rows.append(("TransformerEncoderLayer: ei_parts(linear2, activation=Identity, in_range=(-10, 10))",
                 attempt(lambda: dei.ei_parts(enc.linear2, top, activation=nn.Identity(), in_range=(-10, 10), **kw)),
                 reference(enc.linear2, lambda t: t, (-10, 10), (-10, 10), samples, bins)))
    rows.append(("TransformerEncoderLayer: ei_parts(linear2, activation=Identity) (input after a relu: "
                 "in_range (0, 10) once traced)",
                 attempt(lambda: dei.ei_parts(enc.linear2, top, activation=nn.Identity(), **kw)),
                 reference(enc.linear2, lambda t: t, (0, 10), (-10, 10), samples, bins)))
    rows.append(("TransformerEncoderLayer: ei_parts(linear1) (traced F.relu)",
                 attempt(lambda: dei.ei_parts(enc.linear1, top, **kw)),
                 reference(enc.linear1, torch.relu, (-10, 10), (0, 10), samples, bins)))

    torch.manual_seed(0)
    model = ResidualMLP(torch.sigmoid)
    top = dei.topology_of(model, torch.zeros(1, 12))
    rows.append(("residual MLP, torch.sigmoid function: ei_parts(fc1, top)",
                 attempt(lambda: dei.ei_parts(model.fc1, top, **kw)),
                 reference(model.fc1, torch.sigmoid, (-10, 10), (0, 1), samples, bins)))
    rows.append(("residual MLP: ei_parts(fc2, top, in_layer=fc1) (fc1 -> sigmoid -> fc2, inside the block)",
                 attempt(lambda: dei.ei_parts(model.fc2, top, in_layer=model.fc1, **kw)),
                 reference(lambda t: model.fc2(torch.sigmoid(model.fc1(t))), lambda t: t, (-10, 10), (-10, 10),
                           samples, bins, width=12)))
    torch.manual_seed(0)
    stacked = StackedResidual()
    top_stacked = dei.topology_of(stacked, torch.zeros(1, 12))
    rows.append(("fc3(x + fc2(sigmoid(fc1(x)))): ei_parts(fc3, top, in_layer=fc1) across the residual add",
                 attempt(lambda: dei.ei_parts(stacked.fc3, top_stacked, in_layer=stacked.fc1, **kw)), None))
    rows.append(("residual MLP: causal_plane(model, x, samples=2e4)",
                 attempt(lambda: "; ".join(f"{r.name}: EI {r.ei:.2f}, EI_parts {r.ei_parts:.2f}" for r in
                                           dei.causal_plane(model, torch.zeros(1, 12), samples=20000, in_bins=bins,
                                                            out_bins=bins, seed=1, progress=False,
                                                            sensitivity_samples=500))), None))

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Sigmoid())
    top = dei.topology_of(net, torch.zeros(1, 3))
    net[0].weight = nn.Parameter(torch.randn(4, 5))  # replaced after the topology was taken
    rows.append(("Linear(3, 4) whose weight was replaced by [4, 5] after topology_of: ei_parts",
                 attempt(lambda: dei.ei_parts(net[0], top, **kw)), None))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkout", default=os.path.dirname(HERE), help="the deep_ei_fast checkout to import")
    parser.add_argument("--samples", type=int, default=200_000)
    parser.add_argument("--bins", type=int, default=16)
    args = parser.parse_args()
    sys.path[:0] = [os.path.abspath(args.checkout), HERE]
    import deep_ei_fast as dei
    print(f"deep_ei_fast from {os.path.dirname(dei.__file__)}; samples {args.samples}, bins {args.bins}\n")
    print("| case | deep_ei_fast | reference |\n|---|---|---|")
    for case, got, ref in cases(dei, args.samples, args.bins):
        print(f"| {case} | {got} | {'' if ref is None else f'{ref:.2f}'} |")


if __name__ == "__main__":
    main()
