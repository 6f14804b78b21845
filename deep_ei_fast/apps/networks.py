"""The networks the apps build: multilayer perceptrons (saved-model loading) and the paper's
initialization of them (the demo and the causal-plane benchmark)."""
import torch
from torch import nn

ACTIVATIONS = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU, "none": None}


def build_mlp(arch, activation="sigmoid", bias=False):
    """nn.Sequential(Linear, activation, Linear, activation, ...) of the widths ``arch``."""
    if len(arch) < 2:
        raise ValueError(f"--arch needs at least two widths (input and output), got {list(arch)}")
    layout = [(2 * k, fan_in, fan_out, bias) for k, (fan_in, fan_out) in enumerate(zip(arch[:-1], arch[1:]))]
    return mlp_from_layout(layout, activation)


def mlp_from_layout(layout, activation="sigmoid"):
    """nn.Sequential with a Linear(fan_in, fan_out, bias) at each (index, fan_in, fan_out, bias)
    of ``layout`` (so that a state dict's "<index>.weight" keys fit it), the activation right
    after each Linear whose next index is free, and Identity in the other places."""
    linear_at = {index: (fan_in, fan_out, bias) for index, fan_in, fan_out, bias in layout}
    modules = []
    for index in range(max(linear_at) + 2):
        if index in linear_at:
            fan_in, fan_out, bias = linear_at[index]
            modules.append(nn.Linear(fan_in, fan_out, bias=bias))
        elif index - 1 in linear_at and ACTIVATIONS[activation] is not None:
            modules.append(ACTIVATIONS[activation]())
        else:
            modules.append(nn.Identity())  # keeps the index of every Linear
    return nn.Sequential(*modules)


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
