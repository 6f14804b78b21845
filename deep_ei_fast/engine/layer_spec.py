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
    """One layer to measure, described by hand, independent of any graph.

    What the EI functions measure, as a plain frozen value: the noise enters ``modules[0]``,
    the modules run in order, each but the last followed by its activations ``between``, and
    ``activation`` follows the last one. Every EI function takes a LayerSpec as ``layer`` with
    ``topology=None``, for a layer that a topology cannot describe
    (:doc:`modern_architectures`); its ``in_range`` and ``out_range`` arguments replace the
    spec's, and ``in_layer`` and ``activation`` must be None. A spec is checked before any
    work: the kinds and shapes of its fields, one probe sample through it, and the weight of a
    single Linear or Conv2d against its widths.

    Parameters
    ----------
    modules : sequence of torch.nn.Module
        The modules from where the noise enters (first) to the measured layer (last); stored
        as a tuple.
    in_shape : tuple of int
        One sample's input shape, no batch dimension: the noise is drawn as
        ``(samples, *in_shape)``, and the input neurons are its ``prod(in_shape)`` values.
    out_shape : tuple of int
        One sample's output shape, no batch dimension: the output neurons are the
        ``prod(out_shape)`` values of each sample.
    in_range : (float, float)
        The (low, high) range of the uniform noise and of the input bins.
    out_range : (float, float) or "dynamic"
        The range binned for each output neuron; ``"dynamic"`` (deep-ei's rule) where the
        function takes it.
    activation : callable, default the identity
        Applied to the last module's output (None: the identity). Must keep the output's
        width.
    between : sequence of sequence of callable, optional
        One tuple of activations for each module but the last, applied after it in order.
        None: none anywhere.
    name : str, default ""
        Names the layer in messages (its name in the model, when known).

    Attributes
    ----------
    n_in : int
        The input neurons, ``prod(in_shape)``.
    n_out : int
        The output neurons, ``prod(out_shape)``.

    Raises
    ------
    TypeError, ValueError
        When a function is given the spec: modules that are not torch.nn.Modules, shapes that
        are not tuples of positive ints, a range missing or not a finite (low, high) with low
        < high, an activation that is not callable or changes the width, ``between`` of
        another length than the modules but one, or a single Linear or Conv2d whose weight
        does not match the shapes (naming the layer and both shapes).

    Examples
    --------
    The Linear layer of :func:`ei`'s example, followed by ``torch.sigmoid`` and binned over
    the sigmoid's (0, 1):

    >>> import torch
    >>> import deep_ei_fast as deep_ei
    >>> linear = torch.nn.Linear(2, 2, bias=False)
    >>> with torch.no_grad():
    ...     _ = linear.weight.copy_(torch.eye(2))
    >>> spec = deep_ei.LayerSpec(modules=[linear], in_shape=(2,), out_shape=(2,), in_range=(0, 1),
    ...                          out_range=(0, 1), activation=torch.sigmoid, name="copy")
    >>> spec.n_in, spec.n_out
    (2, 2)
    >>> round(deep_ei.ei(spec, None, samples=10000, in_bins=8, out_bins=8, seed=0), 2)
    1.89

    The sigmoid maps inputs in (0, 1) to (0.5, 0.73), about two of the 8 output bins: less
    EI than the 6 bits of the layer alone.
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
        """Checks that a single Linear or Conv2d has the weight and bias of the spec's widths.

        Run before the fused op or a forward pass is handed them; a spec of several modules,
        or of another module, passes.

        Returns
        -------
        None

        Raises
        ------
        ValueError
            When the weight is not ``(n_out, n_in)`` (a Conv2d's reshaped to its receptive
            field) or the bias not ``(n_out,)``, naming the layer and both shapes.
        """
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
