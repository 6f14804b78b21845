"""topology_of: the module graph that every EI function reads its shapes and ranges from."""
import warnings

import networkx as nx
import torch.nn as nn

from .model_trace import ModelTrace, UntracedLayerWarning
from .recording import Recording
from .tables import CONVOLUTIONAL_MODULES, VALID_ACTIVATIONS, VALID_MODULES

# The graph attribute (topology.graph[TRACE]) holding the ModelTrace of the pass, or the
# reason the model could not be traced (a str).
TRACE = "deep_ei_fast_trace"
NAMES = "deep_ei_fast_names"


def topology_of(model, input):
    r"""Get a graph representing the connectivity of ``model``.

    deep-ei 0.7.0's function: runs ``model(input)`` once and returns the graph every EI
    function reads a layer's shapes and default ranges from. Nodes are the modules of
    :data:`VALID_MODULES` (matched by exact type) in the order the model calls them, each with
    attributes ``input = {"activation": module or None, "shape": tuple}`` and ``output =
    {...}``; an edge joins each module to the next one called. The activation attributes
    follow deep-ei's rule: the module of :data:`VALID_ACTIVATIONS` that ran right before or
    after the node. Unlike deep-ei's, it works on networkx 3 (deep-ei adds an edge from None).

    Shapes: ``"tensor_shape"`` is the tensor a module was first called with (batch dimension
    included) and the node's ``"calls"`` lists the (input, output) tensor shapes of every
    call. A Linear's neurons are its features: its ``"shape"`` is (leading size, features), so
    a Linear applied to each token of a (batch, tokens, features) input is measured as the map
    of one token's features. Conv2d nodes record the receptive field as their input, ``(1,
    C_in, kH, kW)``, and one location's channels as their output, ``(1, C_out, 1, 1)``
    (:doc:`conv2d`).

    The pass is also traced: from the trace the EI functions take the activation that really
    follows a layer (a module, a function such as ``torch.sigmoid`` or a Tensor method) and
    check ``in_layer`` ... ``layer`` paths (:doc:`modern_architectures`). Safe to call from
    several threads on one model.

    Parameters
    ----------
    model : torch.nn.Module
        The network. It runs under ``torch.no_grad()`` in the mode it is in (train or
        eval), once, or twice when it cannot run under the recorder (see Warns).
    input : torch.Tensor or object
        An example input, batch dimension included, passed as ``model(input)``.

    Returns
    -------
    networkx.DiGraph
        The modules of the model as nodes, with deep-ei's node attributes (and this library's
        ``"tensor_shape"`` and ``"calls"``); the trace in the graph's attributes.

    Raises
    ------
    TypeError
        When ``model`` is not a torch.nn.Module.
    Exception
        Whatever ``model(input)`` raises, as it raises it.

    Warns
    -----
    UntracedLayerWarning
        When the model cannot run under the recorder: it is run again without it, and its
        layers are then measured under deep-ei's rule.

    Examples
    --------
    >>> import torch
    >>> import deep_ei_fast as deep_ei
    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Sigmoid(), torch.nn.Linear(3, 2))
    >>> topology = deep_ei.topology_of(model, torch.zeros(1, 4))
    >>> list(topology.nodes) == [model[0], model[2]]
    True
    >>> topology.nodes[model[0]]["output"]["activation"]
    Sigmoid()
    >>> topology.nodes[model[2]]["input"]
    {'activation': Sigmoid(), 'shape': (1, 3), 'tensor_shape': (1, 3)}
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    recording = Recording(model)
    try:
        recording.run(input)
        trace = ModelTrace(recording.graph, recording.names)
    except Exception as error:  # retried without the recorder: the model's own errors raise there
        recording = Recording(model, trace_functions=False)
        recording.run(input)
        trace = f"{type(error).__name__}: {error}"
        warnings.warn(f"topology_of: the model could not be traced ({trace}); its layers are measured "
                      "with deep-ei's rule (the activation modules that ran right after them)",
                      UntracedLayerWarning, stacklevel=2)
    graph = _deep_ei_graph(recording.calls)
    graph.graph[TRACE] = trace
    graph.graph[NAMES] = recording.names
    return graph


def _linear_shape(shape, features):
    """A Linear's neurons are its features: (leading size, features) whatever the rank."""
    return (shape[0] if len(shape) > 1 else 1, features)


def _deep_ei_graph(calls):
    """The nx.DiGraph of deep-ei's format from the leaf calls in call order."""
    graph = nx.DiGraph()
    attributes = {}
    previous_module = None  # the last VALID_MODULES module that ran
    previous = None  # the last module of either table that ran
    for call in calls:
        module = call.module
        if type(module) in VALID_MODULES:
            if module in attributes:  # called again: its shapes are added, the node stays
                attributes[module]["calls"].append((call.input_shape, call.output_shape))
            else:
                attributes[module] = _node(module, call, previous)
                graph.add_node(module)
            if previous_module is not None and previous_module is not module:
                graph.add_edge(previous_module, module)
            previous = previous_module = module
        elif type(module) in VALID_ACTIVATIONS:
            if previous in attributes:
                attributes[previous]["output"]["activation"] = module
            previous = module
    nx.set_node_attributes(graph, attributes)
    return graph


def _node(module, call, previous):
    node = {
        "input": {
            "activation": previous if type(previous) in VALID_ACTIVATIONS else None,
            "shape": call.input_shape,
            "tensor_shape": call.input_shape,
        },
        "output": {"activation": None, "shape": call.output_shape, "tensor_shape": call.output_shape},
        "calls": [(call.input_shape, call.output_shape)],
    }
    if type(module) is nn.Linear:
        node["input"]["shape"] = _linear_shape(call.input_shape, module.in_features)
        node["output"]["shape"] = _linear_shape(call.output_shape, module.out_features)
    if type(module) in CONVOLUTIONAL_MODULES:  # every input channel (groups > 1 too)
        node["input"]["shape"] = (1, module.in_channels) + tuple(module.weight.shape[2:])
        node["output"]["shape"] = (1, module.out_channels, 1, 1)
    return node
