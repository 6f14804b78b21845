"""What a recorded forward pass (api/recording.py) says about one layer: the activation that
follows it, the one that precedes it, and whether the model computes in_layer ... layer as a
chain.

``ModelTrace`` reads the torch.fx graph of the pass. The activation after a layer is the one
operation that uses its output (past dropout, identities and reshapes), when that operation
is an activation of api/activations.py; anything else (a residual add, a normalisation, a
second user, the model's output) means the layer is measured on its own output, without
activation. Where the graph cannot answer (a value left torch, or the model could not run
under the recorder), UntracedLayer says why and the caller falls back to deep-ei's rule.
"""
import torch
import torch.nn.functional as F

from .activations import function_activation, is_layout, is_transparent, module_activation
from .tables import VALID_MODULES


class UntracedLayer(Exception):
    """The trace cannot tell what follows or precedes a layer; the message says why."""


class UntracedLayerWarning(UserWarning):
    """A layer measured under deep-ei's module rule because the model's trace cannot describe it.

    :func:`topology_of` traces the model to find the activation that really follows each layer
    (:doc:`modern_architectures`). Where it cannot (a model that does not run under the
    recorder, or a layer whose following operation it cannot read), the layer is measured
    under deep-ei 0.7.0's rule, the activation modules that ran right before and after it, and
    this warning names the layer, the reason and what was assumed.

    Examples
    --------
    Layer ``a``'s output leaves torch through numpy, where the trace cannot follow it:

    >>> import warnings
    >>> import numpy as np
    >>> import torch
    >>> import deep_ei_fast as deep_ei
    >>> class Escaping(torch.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.a, self.b = torch.nn.Linear(3, 3), torch.nn.Linear(3, 2)
    ...     def forward(self, x):
    ...         return self.b(torch.from_numpy(np.tanh(self.a(x).numpy())))
    >>> model = Escaping()
    >>> topology = deep_ei.topology_of(model, torch.zeros(1, 3))
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     value = deep_ei.ei(model.a, topology, samples=1000, seed=0)
    >>> caught[0].category is deep_ei.UntracedLayerWarning
    True
    >>> print(caught[0].message)  # doctest: +ELLIPSIS
    layer 'a' (Linear): its output leaves torch through 'Tensor.numpy'...; assuming deep-ei's rule: its
    activation is the activation module that ran right after it (none)
    """


def module_label(names, module):
    """A module as messages name it: its name in the model and its type."""
    name = names.get(module)
    return f"'{name}' ({type(module).__name__})" if name is not None else repr(module)


def _data_inputs(node):
    """The nodes a node reads values from (the model's parameters and buffers excluded)."""
    return [n for n in node.all_input_nodes if n.op != "get_attr"]


_NAMESPACES = (("torch", torch), ("Tensor", torch.Tensor), ("F", F), ("torch.special", torch.special))


def _function_name(target):
    """How a user writes the function: torch.cat, Tensor.add, F.relu (else its own name)."""
    name = getattr(target, "__name__", None)
    for prefix, namespace in _NAMESPACES:
        if name and getattr(namespace, name, None) is target:
            return f"{prefix}.{name}"
    return getattr(target, "__qualname__", None) or name or repr(target)


COMBINING = {"add": "a residual add", "__add__": "a residual add", "add_": "a residual add",
             "__iadd__": "a residual add", "cat": "a concatenation", "concat": "a concatenation",
             "concatenate": "a concatenation", "stack": "a stack", "mul": "a product",
             "__mul__": "a product", "matmul": "a matrix product", "bmm": "a matrix product"}


def describe_node(node):
    """A node as messages name it: a module by its name in the model, a function by its name."""
    if node.op == "call_module":
        return f"module '{node.target}' ({type(node.meta['module']).__name__})"
    if node.op == "call_function":
        name = _function_name(node.target)
        short = name.rsplit(".", 1)[-1]
        inputs = len(_data_inputs(node))
        kind = COMBINING.get(short, "an operation") if inputs > 1 else "an operation"
        return f"'{name}' ({kind} of {inputs} tensor{'s' if inputs != 1 else ''})"
    if node.op == "output":
        return "the model's output"
    return f"'{node.name}'"


def node_activation(node, value):
    """The Activation that ``node`` applies to ``value`` (a node), or None."""
    if node.op == "call_module":
        return module_activation(node.meta["module"]) if _data_inputs(node) == [value] else None
    if node.op != "call_function" or node.all_input_nodes != [value] or not node.args or node.args[0] is not value:
        return None
    return function_activation(node.target, node.args[1:], node.kwargs)


def passes_values(node, value):
    """True when ``node`` hands ``value`` on unchanged (dropout, identity) or only moved
    (a reshape): an activation after it still applies to the layer's outputs."""
    if _data_inputs(node) != [value]:
        return False
    if node.op == "call_module":
        return is_transparent(node.meta["module"])
    if node.op == "call_function" and node.args and node.args[0] is value:
        return is_transparent(node.target) or is_layout(node.target)
    return False


class ModelTrace:
    """The recorded forward pass of a model (a torch.fx.Graph whose call_module nodes hold
    their module in ``meta["module"]``) and the model's module names."""

    def __init__(self, graph, names):
        self.graph, self.names = graph, names
        self.calls = {}
        for node in graph.nodes:
            if node.op == "call_module":
                self.calls.setdefault(node.meta["module"], []).append(node)

    def name(self, module):
        return module_label(self.names, module)

    def _calls_of(self, module):
        calls = self.calls.get(module)
        if not calls:
            raise UntracedLayer(f"the recorded pass has no call of {self.name(module)}")
        return calls

    def _agreed(self, module, found, what):
        """One answer for every call of a module called more than once, or ValueError."""
        first = found[0]
        for other in found[1:]:
            if not _same_activation(first, other):
                raise ValueError(
                    f"layer {self.name(module)} is called {len(found)} times and {what} differs "
                    f"between calls ({_written(first)} and {_written(other)}): give "
                    f"{'activation=' if what.startswith('the activation after') else 'in_range='} explicitly")
        return first

    def following_activation(self, module):
        """The Activation applied to the module's output, or None (UntracedLayer if unknown)."""
        found = [_first_activation(call, _next_user) for call in self._calls_of(module)]
        return self._agreed(module, found, "the activation after it")

    def preceding_activation(self, module):
        """The Activation whose output the module reads, or None (UntracedLayer if unknown)."""
        found = [_first_activation(call, _previous_source) for call in self._calls_of(module)]
        return self._agreed(module, found, "the activation before it")

    def chain(self, in_layer, layer):
        """(modules in_layer ... layer, the activations after each module but the last) when
        the model computes layer's input from in_layer's output through single-input
        operations only; otherwise ValueError naming both modules and the node that breaks
        the chain."""
        if in_layer is layer:
            return [layer], []
        where = f"in_layer={self.name(in_layer)} to layer={self.name(layer)}"
        starts = self._calls_of(in_layer)
        if len(starts) != 1:
            raise ValueError(f"{where}: in_layer is called {len(starts)} times: a path from it is ambiguous")
        node, modules, between = starts[0], [in_layer], [[]]
        while True:
            users = list(node.users)
            if len(users) != 1:
                uses = ", ".join(describe_node(u) for u in users) or "nothing"
                raise ValueError(f"{where}: the model does not compute this as a chain: the output of "
                                 f"{describe_node(node)} goes to {len(users)} places ({uses}), not one")
            user = users[0]
            inputs = _data_inputs(user)
            if user.op == "output":
                raise ValueError(f"{where}: layer is not downstream of in_layer: the chain from in_layer "
                                 "reaches the model's output first")
            if len(inputs) != 1:
                raise ValueError(f"{where}: the model does not compute this as a chain: "
                                 f"{describe_node(user)} breaks it")
            module = user.meta.get("module")
            activation = node_activation(user, node)
            if module is layer:
                modules.append(layer)
                return modules, [tuple(step) for step in between]
            if module is not None and type(module) in VALID_MODULES:
                modules.append(module)
                between.append([])
            elif activation is not None:
                between[-1].append(activation.function)
            elif not (passes_values(user, node) and (module is not None or is_transparent(user.target))):
                raise ValueError(f"{where}: {describe_node(user)} lies between them; a path of "
                                 "several layers runs only modules of VALID_MODULES, activations, "
                                 "dropout and identities (measure the layers one by one)")
            node = user


def _next_user(node):
    """(the operation that uses node's output, node, where to go on), or None when the output
    has no single user."""
    users = list(node.users)
    escape = next((u for u in users if u.meta.get("escape")), None)
    if escape is not None:
        raise UntracedLayer(f"its output leaves torch through {describe_node(escape)}")
    return (users[0], node, users[0]) if len(users) == 1 else None


def _previous_source(node):
    """(the operation that made node's input, its own single input, where to go on), or None."""
    inputs = _data_inputs(node)
    if len(inputs) != 1:
        return None
    made = inputs[0]
    if made.meta.get("untraced"):
        raise UntracedLayer("its input was made outside torch's functions (the recorder cannot "
                            "see where it comes from)")
    sources = _data_inputs(made)
    return (made, sources[0], made) if len(sources) == 1 else None


def _first_activation(start, step):
    """Walks from a layer's call with ``step`` (_next_user: forward, _previous_source:
    backward) through operations that pass values on; returns the Activation of the first one
    that is an activation, or None where another operation or a fork comes first."""
    node = start
    while (found := step(node)) is not None:
        operation, value, node = found
        activation = node_activation(operation, value)
        if activation is not None:
            return activation
        if not passes_values(operation, value):
            return None
    return None


def _written(activation):
    return "no activation" if activation is None else activation.written


def _same_activation(a, b):
    if a is None or b is None:
        return a is b
    return (a.name, a.range, a.written, repr(a.function)) == (b.name, b.range, b.written, repr(b.function))
