"""Resolves deep-ei's (layer, in_layer, topology, ranges, activation) into a LayerSpec.

With a topology from topology_of (which traces the model), the defaults come from the trace:
the activation that follows the layer in the model (module, function or Tensor method), the
input range from the activation its input comes from, and an in_layer ... layer path only
where the model computes it as a chain. Ranges follow deep-ei 0.7.0 (api/activations.py's
table: no activation gives (-10, 10)); an unbounded activation has no default range.

Where the trace cannot describe a layer, and for a graph made elsewhere, deep-ei 0.7.0's rule
applies: the activation modules recorded right before and after the module (with an
UntracedLayerWarning in the first case). A LayerSpec given as ``layer`` is used as it is.
"""
import dataclasses
import itertools
import warnings

import networkx as nx
import torch
from torch import nn

from ..engine.layer_spec import LayerSpec, identity
from .activations import activation_of, module_activation
from .arguments import check_float32_noise_range, check_range
from .model_trace import ModelTrace, UntracedLayer, UntracedLayerWarning, module_label
from .tables import VALID_ACTIVATIONS
from .topology import NAMES, TRACE

NO_ACTIVATION_RANGE = VALID_ACTIVATIONS[type(None)]  # deep-ei's (-10, 10)


def _check_in_topology(name, module, topology):
    try:
        present = module in topology
    except TypeError:
        present = False
    if not present:
        raise ValueError(f"{name}={module!r} is not a node of the topology")


def _path(topology, in_layer, layer):
    """deep-ei's path: the graph's edges from in_layer to layer, one successor at a time."""
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


def _recorded_activations(topology, modules):
    """deep-ei's rule: each module before the layer is followed by its recorded activation."""
    between = []
    for module in modules[:-1]:
        act = topology.nodes[module]["output"]["activation"]
        between.append(() if act is None else (act,))
    return between


def _shapes(topology, modules):
    """One sample's input and output shapes. A single module, or a path of Linears (applied
    to each token alike), reads the nodes' ``shape``; other paths the real tensor shapes."""
    in_side, out_side = topology.nodes[modules[0]]["input"], topology.nodes[modules[-1]]["output"]
    real = len(modules) > 1 and not all(type(m) is nn.Linear for m in modules)
    key = "tensor_shape" if real and "tensor_shape" in in_side and "tensor_shape" in out_side else "shape"
    return tuple(in_side[key][1:]), tuple(out_side[key][1:])


def check_parameters(modules, where):
    """Parameters must be finite-or-inf float32: the noise is float32, as in deep-ei (a float64
    or half layer would fail inside torch's matmul; converting it silently would measure a
    different layer), and a NaN weight makes every output NaN."""
    for module in modules:
        for name, parameter in module.named_parameters():
            if parameter.dtype != torch.float32:
                raise TypeError(f"{where}: {type(module).__name__} parameter {name!r} is "
                                f"{parameter.dtype}; the noise is float32 (as in deep-ei): convert "
                                "the model with .float()")
            if torch.isnan(parameter.detach()).any():
                raise ValueError(f"{where}: {type(module).__name__} parameter {name!r} contains NaN")


def _check_widths(spec):
    for side, count, shape in (("input", spec.n_in, spec.in_shape), ("output", spec.n_out, spec.out_shape)):
        if count == 0:
            raise ValueError(f"layer {spec.label()} ({spec.layer!r}) has no {side} neurons ({side} shape "
                             f"{shape}): EI needs at least one on each side")


def check_activation_width(spec, device):
    """The path and its activation must give the layer's width: one probe sample through it
    (a user's activation, or a LayerSpec described by hand)."""
    probe = torch.zeros((1, *spec.in_shape), device=device)
    try:
        output = spec.forward(probe)
    except (RuntimeError, ValueError, TypeError) as error:
        raise ValueError(f"layer {spec.label()}: one sample of shape {spec.in_shape} does not run "
                         f"through its modules and activation: {error}") from None
    if not isinstance(output, torch.Tensor):
        raise TypeError(f"activation={spec.activation!r} returned {type(output).__name__}, not a tensor, "
                        f"for the output of {spec.describe()}")
    got = output.numel()
    if got != spec.n_out:
        raise ValueError(f"activation={spec.activation!r} changes the width of {spec.describe()}: "
                         f"it outputs {got} values per sample, the layer {spec.n_out}")


def _recorded(topology, module, side):
    """deep-ei's rule: the activation module recorded before ("input") or after ("output")."""
    recorded = topology.nodes[module][side]["activation"]
    return None if recorded is None else module_activation(recorded)


class _Resolution:
    """Where a layer's defaults come from: the trace, or deep-ei's recorded modules."""

    def __init__(self, topology, layer):
        self.topology = topology
        self.trace = topology.graph.get(TRACE)
        self.name = topology.graph.get(NAMES, {}).get(layer, "")

    def label(self, module):
        return module_label(self.topology.graph.get(NAMES, {}), module)

    def _fallback(self, module, reason, side):
        recorded = _recorded(self.topology, module, side)
        assumed = "none" if recorded is None else recorded.written
        rule = ("its activation is the activation module that ran right after it" if side == "output"
                else "its input range is that of the activation module that ran right before it")
        warnings.warn(f"layer {self.label(module)}: {reason}; assuming deep-ei's rule: {rule} ({assumed})",
                      UntracedLayerWarning, stacklevel=5)
        return recorded

    def activation(self, module, side):
        """The Activation applied to the module's output (side "output") or to the values it
        reads ("input"), or None."""
        if not isinstance(self.trace, ModelTrace):
            if self.trace is None:  # a graph not made by topology_of: deep-ei's rule
                return _recorded(self.topology, module, side)
            return self._fallback(module, f"the model could not be traced ({self.trace})", side)
        try:
            if side == "output":
                return self.trace.following_activation(module)
            return self.trace.preceding_activation(module)
        except UntracedLayer as why:
            return self._fallback(module, str(why), side)

    def path(self, in_layer, layer):
        """(modules in_layer ... layer, the activations between them)."""
        if isinstance(self.trace, ModelTrace):
            return self.trace.chain(in_layer, layer)
        modules = _path(self.topology, in_layer, layer)
        if len(modules) > 1 and self.trace is not None:
            warnings.warn(f"in_layer={self.label(in_layer)} to layer={self.label(layer)}: the model "
                          f"could not be traced ({self.trace}); assuming the path is the chain of "
                          "modules recorded between them, each followed by its activation module",
                          UntracedLayerWarning, stacklevel=4)
        return modules, _recorded_activations(self.topology, modules)


def _default_in_range(label, before):
    if before is None:
        return NO_ACTIVATION_RANGE
    if before.range is None:
        raise ValueError(f"layer {label}: its input comes from {before.written}, whose outputs are "
                         "unbounded: give in_range=(low, high)")
    return before.range


def _default_out_range(label, after, activation):
    if after is None:
        return NO_ACTIVATION_RANGE
    if after.range is not None:
        return after.range  # deep-ei: the model's activation gives the range, even under activation=
    given = activation_of(activation) if activation is not None else None
    if given is not None and given.range is not None:
        return given.range
    raise ValueError(f"layer {label} is followed by {after.written} in the model, whose outputs are "
                     "unbounded: give out_range=(low, high), or out_range='dynamic' where the "
                     "function takes it")


def resolve_layer(layer, topology, in_layer=None, in_range=None, out_range=None, activation=None):
    """The LayerSpec of ``layer`` in ``topology`` under deep-ei's arguments and defaults; a
    LayerSpec given as ``layer`` is checked and returned with the ranges given here."""
    if isinstance(layer, LayerSpec):
        return _given_spec(layer, topology, in_layer, in_range, out_range, activation)
    if activation is not None and not callable(activation):
        raise TypeError(f"activation must be callable or None, got {activation!r}")
    _check_in_topology("layer", layer, topology)
    if in_layer is None:
        in_layer = layer
    _check_in_topology("in_layer", in_layer, topology)
    resolution = _Resolution(topology, layer)
    modules, between = resolution.path(in_layer, layer)
    after = resolution.activation(layer, "output")
    if in_range is None:
        in_range = _default_in_range(resolution.label(in_layer), resolution.activation(in_layer, "input"))
    if out_range is None:
        out_range = _default_out_range(resolution.label(layer), after, activation)
    if activation is None:
        activation = identity if after is None else after.function
    in_shape, out_shape = _shapes(topology, modules)
    spec = LayerSpec(
        modules=modules, between=between, in_shape=in_shape, out_shape=out_shape,
        in_range=tuple(in_range), out_range=out_range if isinstance(out_range, str) else tuple(out_range),
        activation=activation, name=resolution.name,
    )
    _check_widths(spec)
    return spec


def _given_spec(spec, topology, in_layer, in_range, out_range, activation):
    """A user's LayerSpec: checked, with in_range / out_range replaced when given."""
    for name, value in (("topology", topology), ("in_layer", in_layer), ("activation", activation)):
        if value is not None:
            raise ValueError(f"layer is a LayerSpec, which describes the whole layer: pass {name}=None "
                             f"(got {value!r})")
    if in_range is not None:
        spec = dataclasses.replace(spec, in_range=tuple(in_range))
    if out_range is not None:
        spec = dataclasses.replace(spec, out_range=out_range if isinstance(out_range, str) else tuple(out_range))
    check_layer_spec(spec)
    _check_widths(spec)
    return spec


def _is_shape(value):
    return isinstance(value, tuple) and all(isinstance(d, int) and not isinstance(d, bool) and d > 0
                                            for d in value)


def check_layer_spec(spec):
    """A LayerSpec built by hand: modules, shapes, ranges and activations of the right kinds."""
    if not spec.modules or not all(isinstance(m, nn.Module) for m in spec.modules):
        raise TypeError(f"LayerSpec.modules must be one or more torch.nn.Modules, got {spec.modules!r}")
    for name in ("in_shape", "out_shape"):
        if not _is_shape(getattr(spec, name)):
            raise ValueError(f"LayerSpec.{name} must be a tuple of positive ints (one sample's shape, "
                             f"no batch dimension), got {getattr(spec, name)!r}")
    for name, value in (("in_range", spec.in_range), ("out_range", spec.out_range)):
        if value is None:
            raise ValueError(f"LayerSpec.{name} is None: give it in the LayerSpec or as {name}=")
    check_range("LayerSpec.in_range", spec.in_range)
    check_float32_noise_range("LayerSpec.in_range", spec.in_range)
    check_range("LayerSpec.out_range", spec.out_range, allow_dynamic=True)
    if not callable(spec.activation):
        raise TypeError(f"LayerSpec.activation must be callable, got {spec.activation!r}")
    if len(spec.between) != len(spec.modules) - 1 or not all(callable(a) for step in spec.between for a in step):
        raise ValueError(f"LayerSpec.between must hold one tuple of activations per module but the last "
                         f"({len(spec.modules) - 1}), got {spec.between!r}")
    if not isinstance(spec.name, str):
        raise TypeError(f"LayerSpec.name must be a str, got {spec.name!r}")


def on_device(tensor_device, device):
    """True when a tensor on ``tensor_device`` is on ``device`` (a torch.device)."""
    if tensor_device.type != device.type:
        return False
    if device.type == "cuda":  # 'cuda' alone is the current device
        index = torch.cuda.current_device() if device.index is None else device.index
        return tensor_device.index == index
    return True


def modules_device(modules, fallback):
    """What device=None measures on: the device of the first parameter or buffer of
    ``modules`` (nn.Modules; other callables are skipped); ``fallback`` when they have none."""
    for module in modules:
        if isinstance(module, nn.Module):
            for tensor in itertools.chain(module.parameters(), module.buffers()):
                return tensor.device
    return torch.device(fallback)


def check_modules_on(modules, device, owner):
    """Raises ValueError, before any work, unless every parameter and buffer of ``modules``
    (nn.Modules; other callables are skipped) is on ``device`` (a torch.device): the forward
    pass runs the noise of ``device`` through them. ``owner`` names them in the message, which
    says which device= to pass (the model stays where the user put it)."""
    for module in modules:
        if not isinstance(module, nn.Module):
            continue
        for tensor in itertools.chain(module.parameters(), module.buffers()):
            if not on_device(tensor.device, device):
                remedy = (f"pass device={str(tensor.device)!r}" if tensor.device.type in ("cpu", "cuda")
                          else f"move the model with model.to({str(device)!r})")
                raise ValueError(f"{owner}: parameters are on {tensor.device}, device={str(device)!r}: {remedy}")


def check_layer_on(spec, device):
    """check_modules_on for a resolved layer: every module of the path in_layer..layer, the
    activations recorded after them and the layer's activation."""
    activations = [act for step in spec.between for act in step]
    check_modules_on([*spec.modules, *activations, spec.activation],
                     device, f"layer {spec.describe()}")
