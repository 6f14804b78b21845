"""Resolves deep-ei's (layer, in_layer, topology, ranges, activation) into a LayerSpec.

Defaults follow deep-ei 0.7.0: ranges from the activations recorded in the topology (none:
(-10, 10)), the layer's own output activation unless `activation` is given, and for a
multi-module path each intermediate module followed by its recorded output activation.
"""
import itertools

import networkx as nx
import torch
from torch import nn

from ..engine.layer_spec import LayerSpec
from .tables import VALID_ACTIVATIONS


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
            raise ValueError(f"layer={spec.layer!r} has no {side} neurons ({side} shape {shape}): "
                             "EI needs at least one on each side")


def check_forward(spec, device, activation_given):
    """One probe sample through the path, before any work: a layer that no longer fits the
    shapes its topology recorded (its weight replaced, a grouped convolution recorded with
    too few channels), an activation that does not return a tensor, or one that changes the
    layer's width, fail here with a message naming them rather than inside a kernel."""
    probe = torch.zeros((1, *spec.in_shape), device=device)
    try:
        got = spec.forward(probe)
    except (RuntimeError, TypeError, ValueError, AttributeError, IndexError) as error:
        # The same built-in type (a caller may catch it), with the layer and the shapes named.
        kind = next(k for k in (RuntimeError, TypeError, ValueError, AttributeError, IndexError)
                    if isinstance(error, k))
        raise kind(f"layer {spec.describe()} ({spec.layer!r}) cannot run on the input of shape "
                   f"{tuple(spec.in_shape)} that its topology recorded: {error}; if the layer "
                   "changed since topology_of, call topology_of again") from error
    if not isinstance(got, torch.Tensor):
        raise TypeError(f"activation={spec.activation!r} returned {type(got).__name__}, not a tensor, "
                        f"for the output of {spec.describe()}")
    if got.numel() != spec.n_out:
        culprit = (f"activation={spec.activation!r} changes" if activation_given
                   else f"the layer ({spec.layer!r}) no longer gives")
        raise ValueError(f"{culprit} the width of {spec.describe()}: it outputs {got.numel()} values per "
                         f"sample, the topology recorded {spec.n_out}" +
                         ("" if activation_given else "; call topology_of again"))


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
    spec = LayerSpec(
        layer=layer, in_layer=in_layer, modules=modules, topology=topology,
        in_shape=_shape(in_node["input"], multi), out_shape=_shape(out_node["output"], multi),
        in_range=tuple(in_range), out_range=out_range if isinstance(out_range, str) else tuple(out_range),
        activation=activation, activation_module=activation_module,
    )
    _check_widths(spec)
    return spec


def on_device(tensor_device, device):
    """True when a tensor on ``tensor_device`` is on ``device`` (a torch.device)."""
    if tensor_device.type != device.type:
        return False
    if device.type == "cuda":  # 'cuda' alone is the current device
        index = torch.cuda.current_device() if device.index is None else device.index
        return tensor_device.index == index
    return True


def check_modules_on(modules, device, owner):
    """Raises ValueError, before any work, unless every parameter and buffer of ``modules``
    (nn.Modules; other callables are skipped) is on ``device`` (a torch.device): the forward
    pass runs the noise of ``device`` through them. ``owner`` names them in the message."""
    for module in modules:
        if not isinstance(module, nn.Module):
            continue
        for tensor in itertools.chain(module.parameters(), module.buffers()):
            if not on_device(tensor.device, device):
                raise ValueError(f"{owner}: parameters are on {tensor.device}, device={str(device)!r}: "
                                 f"move the model with model.to({str(device)!r})")


def check_layer_on(spec, device):
    """check_modules_on for a resolved layer: every module of the path in_layer..layer, the
    activations recorded after them and the layer's activation."""
    activations = [spec.topology.nodes[m]["output"]["activation"] for m in spec.modules]
    check_modules_on([*spec.modules, *activations, spec.activation_module, spec.activation],
                     device, f"layer {spec.describe()}")
