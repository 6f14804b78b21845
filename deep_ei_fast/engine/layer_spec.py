"""A layer as the engine measures it: a plain value (its modules in_layer ... layer, the
activations between them, the input and output shapes of one sample, the ranges and the
activation that follows), and its forward pass (torch, or the fused C++ kernel's parameters
when that applies).

Nothing here reads a graph: api/layer_resolution.py builds a LayerSpec from a topology (a
chain of modules or a traced model) and deep-ei's arguments, and a user can build one directly
for a layer the topology cannot describe (docs/modern_architectures.rst).
"""
from contextlib import contextmanager
from dataclasses import dataclass, field
from math import prod
from typing import Callable

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

# Functions (torch's functional and Tensor-method forms) that compute one of the fused
# activations with their default arguments: an activation given or traced as a function runs
# the same kernel as its module form, so both give the same bits.
FUSED_FUNCTIONS = {
    **{f: nn.Sigmoid for f in (torch.sigmoid, torch.Tensor.sigmoid, F.sigmoid, torch.special.expit)},
    **{f: nn.Tanh for f in (torch.tanh, torch.Tensor.tanh, F.tanh)},
    **{f: nn.ReLU for f in (torch.relu, torch.Tensor.relu, F.relu)},
}


def identity(x):
    """The activation of a layer without one."""
    return x


def fused_kind(activation):
    """The FUSED_ACTIVATIONS key of an activation callable (identity: type(None)), or None
    when the fused kernel cannot compute it."""
    if activation is identity:
        return type(None)
    if type(activation) in FUSED_ACTIVATIONS and isinstance(activation, nn.Module):
        return type(activation)
    try:
        return FUSED_FUNCTIONS.get(activation)
    except TypeError:  # an unhashable callable
        return None


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


@dataclass(frozen=True)
class LayerSpec:
    """One layer to measure, independent of any graph.

    ``modules`` runs in order (in_layer first, the measured layer last); ``between[k]`` is the
    tuple of activations applied after ``modules[k]`` (one per module but the last);
    ``activation`` follows the last module. ``in_shape`` and ``out_shape`` are one sample's
    shapes (no batch dimension): the noise is drawn as ``(S, *in_shape)`` and the outputs read
    as S rows of ``prod(out_shape)`` neurons. ``in_range``: the noise's (low, high); ``out_range``: the
    outputs' binning range, a (low, high) pair or "dynamic". ``name`` labels the layer in
    messages (its name in the model when known).
    """
    modules: tuple
    in_shape: tuple
    out_shape: tuple
    in_range: tuple
    out_range: object
    activation: Callable = identity
    between: tuple = field(default=None)
    name: str = ""

    def __post_init__(self):
        object.__setattr__(self, "modules", tuple(self.modules))
        between = self.between if self.between is not None else ((),) * (len(self.modules) - 1)
        object.__setattr__(self, "between", tuple(tuple(step) for step in between))
        object.__setattr__(self, "in_shape", tuple(self.in_shape))
        object.__setattr__(self, "out_shape", tuple(self.out_shape))
        if self.activation is None:
            object.__setattr__(self, "activation", identity)

    @property
    def layer(self):
        return self.modules[-1]

    @property
    def in_layer(self):
        return self.modules[0]

    @property
    def activation_module(self):
        """The activation when it is a module (the checkpoint fingerprint names its type)."""
        return self.activation if isinstance(self.activation, nn.Module) else None

    @property
    def n_in(self):
        return prod(self.in_shape)

    @property
    def n_out(self):
        return prod(self.out_shape)

    def describe(self):
        return f"{type(self.layer).__name__} {self.n_in}->{self.n_out}"

    def label(self):
        """The layer as messages name it: its name in the model, else its description."""
        return repr(self.name) if self.name else self.describe()

    def forward(self, x):
        """Runs a batch of inputs shaped (S, *in_shape) through the path; returns (S, *out)."""
        with torch.no_grad(), full_float32():
            for module, activations in zip(self.modules[:-1], self.between):
                x = module(x)
                for activation in activations:
                    x = activation(x)
            if self.is_receptive_field_conv():
                conv = self.layer
                x = F.conv2d(x, conv.weight, conv.bias, stride=1, padding=0, dilation=1, groups=conv.groups)
            else:
                x = self.layer(x)
            return self.activation(x)

    def is_receptive_field_conv(self):
        return len(self.modules) == 1 and type(self.layer) is nn.Conv2d

    def _weight_matrix(self):
        """The single layer's weight as the [n_out, n_in] matrix the fused kernel multiplies
        by (a Conv2d's reshaped to its receptive field), or None for any other layer."""
        if len(self.modules) != 1:
            return None
        layer = self.layer
        if type(layer) is nn.Linear:
            return layer.weight
        if type(layer) is nn.Conv2d and layer.groups == 1:
            return layer.weight.reshape(layer.out_channels, -1)
        return None

    def check_weights(self):
        """A single Linear or Conv2d must have the weight and bias of the widths it was
        resolved with (ValueError naming the layer and both shapes): checked before the fused
        op or a forward pass is handed them."""
        weight = self._weight_matrix()
        if weight is None:
            return
        expected = (self.n_out, self.n_in)
        if tuple(weight.shape) != expected:
            raise ValueError(
                f"layer {self.label()}: its weight is {list(self.layer.weight.shape)}, but the layer was "
                f"resolved as {self.n_in} inputs (shape {self.in_shape}) -> {self.n_out} outputs "
                f"(shape {self.out_shape}), which needs a weight of {list(expected)}")
        bias = self.layer.bias
        if bias is not None and tuple(bias.shape) != (self.n_out,):
            raise ValueError(f"layer {self.label()}: its bias is {list(bias.shape)}, the resolved layer "
                             f"has {self.n_out} outputs")

    def fused_linear(self):
        """(weight [n_out, n_in], bias or None, activation code) when the fused kernel applies.
        The shapes are checked here (check_weights), so that the fused op is never handed a
        weight of another shape."""
        kind = fused_kind(self.activation)
        weight = self._weight_matrix()
        if kind is None or weight is None:
            return None
        bias = self.layer.bias
        if weight.dtype != torch.float32 or (bias is not None and bias.dtype != torch.float32):
            return None
        self.check_weights()
        bias = None if bias is None else bias.detach().contiguous()
        return weight.detach().contiguous(), bias, FUSED_ACTIVATIONS[kind][0]

    def outputs_bounded_below_range(self):
        """True when every output is known to be >= out_range's low end (vector codes >= 0)."""
        kind = fused_kind(self.activation)
        entry = FUSED_ACTIVATIONS.get(kind) if kind is not None else None
        if entry is None or entry[1] is None or isinstance(self.out_range, str):
            return False
        return self.out_range[0] <= entry[1]
