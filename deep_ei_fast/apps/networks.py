"""The networks the apps build: multilayer perceptrons (saved-model loading) and the paper's
initialization of them (the demo and the causal-plane benchmark)."""
import torch
from torch import nn

ACTIVATIONS = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU, "none": None}


def build_mlp(arch, activation="sigmoid", bias=False):
    if len(arch) < 2:
        raise ValueError(f"--arch needs at least two widths (input and output), got {list(arch)}")
    layers = []
    for fan_in, fan_out in zip(arch[:-1], arch[1:]):
        layers.append(nn.Linear(fan_in, fan_out, bias=bias))
        if ACTIVATIONS[activation] is not None:
            layers.append(ACTIVATIONS[activation]())
        else:
            layers.append(nn.Identity())  # keeps the "0", "2", ... key numbering of every MLP
    return nn.Sequential(*layers)


def paper_network(sizes, seed, activation="sigmoid", dropout=0.0):
    """Bias-free Linear layers, each followed by ``activation`` (default sigmoid), weights
    uniform in +-1/sqrt(fan_in). ``dropout`` > 0 adds nn.Dropout(dropout) after every hidden
    activation; the weights are those of the network without it (same draws, same order)."""
    net = build_mlp(sizes, activation, bias=False)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for linear in net[::2]:
            bound = linear.in_features ** -0.5
            linear.weight.copy_((torch.rand(linear.weight.shape, generator=generator) * 2 - 1) * bound)
    if dropout:
        modules = list(net)
        for k in range(len(modules) - 2, 0, -2):  # after each activation but the last
            modules.insert(k, nn.Dropout(dropout))
        net = nn.Sequential(*modules)
    return net
