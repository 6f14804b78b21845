"""Resolves (layer, in_layer, topology, ranges, activation) into what the engine needs.

Defaults follow deep-ei 0.7.0: ranges from the activations recorded in the topology (none:
(-10, 10)), the layer's own output activation unless `activation` is given, and for a
multi-module path each intermediate module followed by its recorded output activation.
"""
from contextlib import contextmanager
from dataclasses import dataclass
from math import prod
from typing import Callable, Optional

import networkx as nx
import torch
import torch.nn as nn
import torch.nn.functional as F

from .tables import CONVOLUTIONAL_MODULES, VALID_ACTIVATIONS

# Activations the fused Linear kernel computes itself, with the code the kernel knows them by
# and the least value they can output.
FUSED_ACTIVATIONS = {type(None): (0, None), nn.Sigmoid: (1, 0.0), nn.Tanh: (2, -1.0), nn.ReLU: (3, 0.0)}


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
        return len(self.modules) == 1 and type(self.layer) in CONVOLUTIONAL_MODULES

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


def _check_in_topology(name, module, topology):
    try:
        present = module in topology
    except TypeError:
        present = False
    if not present:
        raise ValueError(f"{name}={module!r} is not a node of the topology")


def _path(topology, in_layer, layer):
    if in_layer is layer:
        return [layer]
    if layer not in nx.descendants(topology, in_layer):
        raise ValueError(f"in_layer={in_layer!r} is not upstream of layer={layer!r} in the topology")
    path = [in_layer]
    while path[-1] is not layer:
        successors = list(topology.successors(path[-1]))
        if len(successors) != 1:
            raise ValueError(f"module {path[-1]!r} outputs to {len(successors)} modules; "
                             "only chains are supported")
        path.append(successors[0])
    return path


def _shape(node_side, real):
    key = "tensor_shape" if real and "tensor_shape" in node_side else "shape"
    return tuple(node_side[key][1:])


def resolve_layer(layer, topology, in_layer=None, in_range=None, out_range=None, activation=None):
    _check_in_topology("layer", layer, topology)
    if in_layer is None:
        in_layer = layer
    _check_in_topology("in_layer", in_layer, topology)
    modules = _path(topology, in_layer, layer)
    multi = len(modules) > 1
    in_node, out_node = topology.nodes[in_layer], topology.nodes[layer]
    if in_range is None:
        in_range = VALID_ACTIVATIONS[type(in_node["input"]["activation"])]
    if out_range is None:
        out_range = VALID_ACTIVATIONS[type(out_node["output"]["activation"])]
    activation_module = activation
    if activation is None:
        activation_module = out_node["output"]["activation"]
        activation = activation_module if activation_module is not None else (lambda x: x)
    elif not callable(activation):
        raise TypeError(f"activation must be callable or None, got {activation!r}")
    return LayerSpec(
        layer=layer, in_layer=in_layer, modules=modules, topology=topology,
        in_shape=_shape(in_node["input"], multi), out_shape=_shape(out_node["output"], multi),
        in_range=tuple(in_range), out_range=out_range if isinstance(out_range, str) else tuple(out_range),
        activation=activation, activation_module=activation_module,
    )
