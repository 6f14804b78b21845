"""topology_of: the module graph that every EI function reads its shapes and ranges from."""
import networkx as nx
import torch

from .tables import CONVOLUTIONAL_MODULES, VALID_ACTIVATIONS, VALID_MODULES


def topology_of(model, input):
    r"""Get a graph representing the connectivity of ``model``.

    Runs ``model(input)`` with forward hooks on every submodule whose exact type is in
    VALID_MODULES or VALID_ACTIVATIONS. Nodes are the VALID_MODULES modules in call order, each
    with attributes ``input = {"activation": module or None, "shape": tuple}`` and
    ``output = {...}``; an edge joins each module to the next one called.

    Same format as deep-ei 0.7.0, but it works on networkx 3 (deep-ei adds an edge from None).
    Conv2d nodes record the receptive field as their input, ``(1, C_in, kH, kW)``, and one
    location's channels as their output, ``(1, C_out, 1, 1)``; the real tensor shapes are kept
    under the extra key ``"tensor_shape"`` for multi-module paths that start at a Conv2d.
    """
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__} {model!r:.60}")
    graph = nx.DiGraph()
    attributes = {}
    hooks = []
    previous_module = None  # the last VALID_MODULES module that ran
    previous = None  # the last hooked module that ran, module or activation

    def hook(module, inputs, output):
        nonlocal previous, previous_module
        if type(module) in VALID_MODULES:
            node = {
                "input": {
                    "activation": previous if type(previous) in VALID_ACTIVATIONS else None,
                    "shape": tuple(inputs[0].shape),
                    "tensor_shape": tuple(inputs[0].shape),
                },
                "output": {
                    "activation": None,
                    "shape": tuple(output.shape),
                    "tensor_shape": tuple(output.shape),
                },
            }
            if type(module) in CONVOLUTIONAL_MODULES:  # every input channel (groups > 1 too)
                node["input"]["shape"] = (1, module.in_channels) + tuple(module.weight.shape[2:])
                node["output"]["shape"] = (1, module.out_channels, 1, 1)
            attributes[module] = node
            graph.add_node(module)
            if previous_module is not None:
                graph.add_edge(previous_module, module)
            previous = module
            previous_module = module
        if type(module) in VALID_ACTIVATIONS:
            if previous in attributes:
                attributes[previous]["output"]["activation"] = module
            previous = module

    for module in model.modules():
        if type(module) in VALID_MODULES or type(module) in VALID_ACTIVATIONS:
            hooks.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(input)
    finally:
        for handle in hooks:
            handle.remove()
    nx.set_node_attributes(graph, attributes)
    return graph
