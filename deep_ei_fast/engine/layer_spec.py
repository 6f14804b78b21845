"""A resolved layer: the modules from in_layer to layer, shapes, ranges and activation, and
its forward pass (torch, or the fused C++ kernel's parameters when that applies).

api/layer_resolution.py builds it from deep-ei's arguments and defaults.
"""
from contextlib import contextmanager
from dataclasses import dataclass
from math import prod
from typing import Callable, Optional

import networkx as nx
import torch
import torch.nn as nn
import torch.nn.functional as F

from .ops import ActivationCode

# Activations the fused Linear kernel computes itself, with the code the kernel knows them by
# and the least value they can output.
FUSED_ACTIVATIONS = {
    type(None): (ActivationCode.IDENTITY, None),
    nn.Sigmoid: (ActivationCode.SIGMOID, 0.0),
    nn.Tanh: (ActivationCode.TANH, -1.0),
    nn.ReLU: (ActivationCode.RELU, 0.0),
}


@contextmanager
def full_float32():
    """float32 matrix products and convolutions in full precision (no TF32) while the forward
    pass runs: TF32's 10-bit mantissa would move values across bin edges. No effect on the CPU;
    on CUDA it is torch's default for matmul (deep-ei's Linear layers run the same way) and
    turns cuDNN's default TF32 convolutions off."""
    matmul = torch.backends.cuda.matmul
    conv = getattr(torch.backends.cudnn, "conv", None)
    if hasattr(matmul, "fp32_precision") and conv is not None and hasattr(conv, "fp32_precision"):
        saved = matmul.fp32_precision, conv.fp32_precision
        matmul.fp32_precision, conv.fp32_precision = "ieee", "ieee"
        try:
            yield
        finally:
            matmul.fp32_precision, conv.fp32_precision = saved
    else:  # torch before the fp32_precision settings
        saved = matmul.allow_tf32, torch.backends.cudnn.allow_tf32
        matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = False, False
        try:
            yield
        finally:
            matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@dataclass
class LayerSpec:
    layer: nn.Module
    in_layer: nn.Module
    modules: list  # the path in_layer ... layer
    topology: nx.DiGraph
    in_shape: tuple  # without the batch dimension
    out_shape: tuple
    in_range: tuple
    out_range: object  # a (low, high) pair or "dynamic"
    activation: Callable
    activation_module: Optional[nn.Module]  # what `activation` resolved from, for the fused path

    @property
    def n_in(self):
        return prod(self.in_shape)

    @property
    def n_out(self):
        return prod(self.out_shape)

    def describe(self):
        return f"{type(self.layer).__name__} {self.n_in}->{self.n_out}"

    def forward(self, x):
        """Runs a batch of inputs shaped (S, *in_shape) through the path; returns (S, *out)."""
        with torch.no_grad(), full_float32():
            for module in self.modules[:-1]:
                x = module(x)
                act = self.topology.nodes[module]["output"]["activation"]
                if act is not None:
                    x = act(x)
            if self.is_receptive_field_conv():
                conv = self.layer
                x = F.conv2d(x, conv.weight, conv.bias, stride=1, padding=0, dilation=1, groups=conv.groups)
            else:
                x = self.layer(x)
            return self.activation(x)

    def is_receptive_field_conv(self):
        return len(self.modules) == 1 and type(self.layer) is nn.Conv2d

    def fused_linear(self):
        """(weight [n_out, n_in], bias or None, activation code) when the fused kernel applies."""
        if len(self.modules) != 1 or type(self.activation_module) not in FUSED_ACTIVATIONS:
            return None
        layer = self.layer
        if type(layer) is nn.Linear:
            weight = layer.weight
        elif type(layer) is nn.Conv2d and layer.groups == 1:
            weight = layer.weight.reshape(layer.out_channels, -1)
        else:
            return None
        if weight.dtype != torch.float32 or (layer.bias is not None and layer.bias.dtype != torch.float32):
            return None
        bias = None if layer.bias is None else layer.bias.detach().contiguous()
        return weight.detach().contiguous(), bias, FUSED_ACTIVATIONS[type(self.activation_module)][0]

    def outputs_bounded_below_range(self):
        """True when every output is known to be >= out_range's low end (vector codes >= 0)."""
        entry = FUSED_ACTIVATIONS.get(type(self.activation_module))
        if entry is None or entry[1] is None or isinstance(self.out_range, str):
            return False
        return self.out_range[0] <= entry[1]
