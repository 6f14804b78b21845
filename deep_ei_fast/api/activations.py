"""The activations a traced model may apply after a layer, and the range of their outputs.

An activation is recognised in any of its forms: a module (``nn.Sigmoid()``), a function
(``torch.sigmoid``, ``F.relu``, ``F.gelu``), a Tensor method (``x.sigmoid()``), in place or
not. Bounded activations give the default binning range of the layer's outputs (and of the
next layer's inputs); unbounded ones have none, and the user must give the range.

ReLU keeps deep-ei 0.7.0's conventional range (0, 10) (VALID_ACTIVATIONS), in every form, so
that a functional relu measures as the module does.
"""
from dataclasses import dataclass
from typing import Callable, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

UNBOUNDED = None

# name -> the range of its outputs (UNBOUNDED: none); hardtanh's depends on its arguments.
RANGES = {
    "sigmoid": (0, 1),
    "tanh": (-1, 1),
    "relu": (0, 10),  # deep-ei 0.7.0's range for ReLU
    "relu6": (0, 6),
    "hardsigmoid": (0, 1),
    "softsign": (-1, 1),
    "hardtanh": (-1, 1),  # with its default min_val, max_val
    "gelu": UNBOUNDED,
    "silu": UNBOUNDED,
    "softplus": UNBOUNDED,
    "leaky_relu": UNBOUNDED,
    "elu": UNBOUNDED,
    "selu": UNBOUNDED,
    "celu": UNBOUNDED,
    "mish": UNBOUNDED,
    "hardswish": UNBOUNDED,
    "logsigmoid": UNBOUNDED,
}

MODULE_ACTIVATIONS = {
    nn.Sigmoid: "sigmoid", nn.Tanh: "tanh", nn.ReLU: "relu", nn.ReLU6: "relu6",
    nn.Hardsigmoid: "hardsigmoid", nn.Softsign: "softsign", nn.Hardtanh: "hardtanh",
    nn.GELU: "gelu", nn.SiLU: "silu", nn.Softplus: "softplus", nn.LeakyReLU: "leaky_relu",
    nn.ELU: "elu", nn.SELU: "selu", nn.CELU: "celu", nn.Mish: "mish", nn.Hardswish: "hardswish",
    nn.LogSigmoid: "logsigmoid",
}

_NAMESPACES = (("torch", torch), ("Tensor", torch.Tensor), ("F", F), ("torch._C._nn", torch._C._nn))


def _function_table():
    """Every function object that computes an activation of RANGES -> (name, how it was
    named, the function that computes it out of place)."""
    table = {}
    for name in RANGES:
        for prefix, namespace in _NAMESPACES:
            function = getattr(namespace, name, None)
            in_place = getattr(namespace, name + "_", None)
            if function is not None:
                table.setdefault(function, (name, f"{prefix}.{name}", function))
            if in_place is not None:
                table.setdefault(in_place, (name, f"{prefix}.{name}_", function or in_place))
    for expit in (torch.special.expit, torch._C._special.special_expit):
        table[expit] = ("sigmoid", "torch.special.expit", expit)
    return table


FUNCTION_ACTIVATIONS = _function_table()

# Operations that pass values through unchanged in a measurement (dropout is the identity in
# eval mode, where causal_plane measures, and deep-ei's topology never recorded it).
TRANSPARENT_MODULES = (nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d,
                       nn.AlphaDropout, nn.FeatureAlphaDropout)
TRANSPARENT_FUNCTIONS = {F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, F.alpha_dropout,
                         F.feature_alpha_dropout, torch.dropout, torch.Tensor.contiguous,
                         torch.Tensor.clone, torch.Tensor.detach, torch.clone, torch.detach}

# Operations that move values without changing them: an elementwise activation applied after
# them is still the layer's activation.
LAYOUT_FUNCTIONS = {torch.Tensor.view, torch.Tensor.reshape, torch.Tensor.flatten, torch.Tensor.permute,
                    torch.Tensor.transpose, torch.Tensor.squeeze, torch.Tensor.unsqueeze, torch.Tensor.t,
                    torch.reshape, torch.flatten, torch.permute, torch.transpose, torch.squeeze,
                    torch.unsqueeze, torch.t}


def _hashable_member(function, table):
    try:
        return function in table
    except TypeError:
        return False


def is_transparent(target):
    """True for a module or function that leaves the values as they are."""
    if isinstance(target, nn.Module):
        return type(target) in TRANSPARENT_MODULES
    return _hashable_member(target, TRANSPARENT_FUNCTIONS)


def is_layout(target):
    return not isinstance(target, nn.Module) and _hashable_member(target, LAYOUT_FUNCTIONS)


@dataclass(frozen=True)
class Activation:
    """An activation found in a model: its table name, a callable that applies it to a batch
    (the module itself, or the function with the arguments the model passed), the range of
    its outputs (None: unbounded) and how the model wrote it, for messages."""
    name: str
    function: Callable
    range: Optional[tuple]
    written: str


class _Bound:
    """f(x, *args, **kwargs) with the model's other arguments, applied to a new x."""

    def __init__(self, function, args, kwargs):
        self.function, self.args, self.kwargs = function, tuple(args), dict(kwargs)

    def __call__(self, x):
        return self.function(x, *self.args, **self.kwargs)

    def __repr__(self):
        arguments = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{getattr(self.function, '__name__', self.function)}(x, {', '.join(arguments)})"


def _hardtanh_range(low, high):
    return (float(low), float(high))


def module_activation(module):
    """The Activation of an activation module, or None for any other module."""
    name = MODULE_ACTIVATIONS.get(type(module))
    if name is None:
        return None
    value_range = RANGES[name]
    if name == "hardtanh":
        value_range = _hardtanh_range(module.min_val, module.max_val)
    return Activation(name, module, value_range, f"{type(module).__name__} module")


def function_activation(function, args, kwargs):
    """The Activation of a call ``function(x, *args, **kwargs)`` (args without x), or None
    when the function is not an activation of the table."""
    if not _hashable_member(function, FUNCTION_ACTIVATIONS):
        return None
    name, written, function = FUNCTION_ACTIVATIONS[function]  # out of place: same values
    kwargs = {k: v for k, v in kwargs.items() if k != "inplace"}
    if name in ("relu", "sigmoid", "tanh") and len(args) == 1 and isinstance(args[0], bool):
        args = ()  # F.relu(x, True): the inplace flag given by position
    value_range = RANGES[name]
    if name == "hardtanh":
        bound = dict(zip(("min_val", "max_val"), args))
        bound.update(kwargs)
        value_range = _hardtanh_range(bound.get("min_val", -1.0), bound.get("max_val", 1.0))
    callable_ = function if not args and not kwargs else _Bound(function, args, kwargs)
    return Activation(name, callable_, value_range, written)


def activation_of(callable_):
    """The Activation a user's ``activation=`` argument is, when it is one of the table."""
    if isinstance(callable_, nn.Module):
        return module_activation(callable_)
    return function_activation(callable_, (), {})
