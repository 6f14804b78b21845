"""One forward pass of a model, recorded: the leaf modules it called (with the tensor shapes of
each call) and a torch.fx graph of what it computed.

The model runs once on the example input, as deep-ei's topology_of runs it, with two
recorders: forward hooks on every leaf module (a module without children) make each leaf
call one ``call_module`` node, and a TorchFunctionMode makes every torch function, Tensor
method and operator called outside leaf modules one ``call_function`` node; tensors link the
nodes (a tensor's node is the call that produced it). Tracing by running, rather than
torch.fx.symbolic_trace, follows Python control flow on shapes and flags (which
nn.TransformerEncoderLayer, among many models, has and symbolic tracing refuses), and the
graph holds the path the example input took.

Several threads may record one model at once: the torch function mode is thread-local, and
each recording's hooks record only calls made by the thread that owns the recording (a hook
of another thread's recording returns at once).
"""
import itertools
import operator
import threading

import torch
import torch.fx as fx
from torch.overrides import TorchFunctionMode

_this_thread = threading.local()  # .recording: the Recording running in this thread, if any

# Functions that take values out of torch: what follows them cannot be traced.
ESCAPES = {torch.Tensor.numpy, torch.Tensor.tolist, torch.Tensor.item, torch.Tensor.__array__,
           torch.Tensor.__float__, torch.Tensor.__int__, torch.Tensor.__index__}


def tensors_in(value):
    """The tensors of a call's arguments or results, in order, through lists, tuples and
    dicts (what modules and torch functions take and return)."""
    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from tensors_in(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from tensors_in(item)


def _map_tensors(function, value):
    """``value`` with each tensor replaced by function(tensor), through lists, tuples, dicts."""
    if isinstance(value, torch.Tensor):
        return function(value)
    if isinstance(value, (list, tuple)):
        items = [_map_tensors(function, item) for item in value]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, dict):
        return {key: _map_tensors(function, item) for key, item in value.items()}
    return value


def _first_shape(value):
    first = next(tensors_in(value), None)
    return None if first is None else tuple(first.shape)


class LeafCall:
    """One call of a leaf module: the module, its node, and the shapes of its first tensor
    input and first tensor output (None where it had none)."""

    def __init__(self, module, node, args, output):
        self.module, self.node = module, node
        self.input_shape, self.output_shape = _first_shape(args), _first_shape(output)


class Recording(TorchFunctionMode):
    """Records one call of ``model(input)``; ``graph`` (torch.fx.Graph) and ``calls`` (the
    LeafCalls in call order) afterwards. ``trace_functions=False`` records leaf calls only
    (no torch function mode): the fallback for a model that cannot run under one."""

    def __init__(self, model, trace_functions=True):
        super().__init__()
        self.model, self.trace_functions = model, trace_functions
        self.graph = fx.Graph()
        self.calls = []
        self.names = {}
        for name, module in model.named_modules():
            self.names.setdefault(module, name)
        self._attributes = {id(t): name for name, t in itertools.chain(model.named_parameters(),
                                                                       model.named_buffers())}
        self._producers = {}  # id(tensor) -> the node that made it
        self._alive = []  # every tensor seen, kept so that no id is reused during the pass
        self._depth = 0  # > 0 while a leaf module runs: its inner calls are part of its node
        self._untraced = itertools.count()

    # -- running ---------------------------------------------------------------------------

    def run(self, input):
        hooks = []
        for module in self.model.modules():
            if next(module.children(), None) is None and not isinstance(module, torch.jit.ScriptModule):
                hooks.append(module.register_forward_pre_hook(self._enter_leaf, with_kwargs=True))
                hooks.append(module.register_forward_hook(self._leave_leaf, with_kwargs=True))
        previous = getattr(_this_thread, "recording", None)
        _this_thread.recording = self
        try:
            for k, tensor in enumerate(tensors_in(input)):
                self._remember(tensor, self.graph.placeholder(f"input_{k}"))
            with torch.no_grad():
                if self.trace_functions:
                    with self:
                        output = self.model(input)
                else:
                    output = self.model(input)
            self.graph.output(self._arguments(output))
        finally:
            _this_thread.recording = previous
            for handle in hooks:
                handle.remove()
        return output

    def _mine(self):
        return getattr(_this_thread, "recording", None) is self

    def _enter_leaf(self, module, args, kwargs=None):
        if self._mine():
            self._depth += 1

    def _leave_leaf(self, module, args, *rest):
        # rest: (kwargs, output), or (output,) when another thread removed its hooks while
        # this module ran (the call then forgets it was registered with kwargs).
        if not self._mine():
            return
        if self._depth == 1:  # the shapes are read while _depth > 0, so that they are not recorded
            kwargs = rest[0] if len(rest) == 2 else {}
            output = rest[-1]
            name = self.names.get(module, f"<{type(module).__name__} outside the model>")
            node = self.graph.create_node("call_module", name, self._arguments(args), self._arguments(kwargs))
            node.meta["module"] = module
            self._produced(node, output)
            self.calls.append(LeafCall(module, node, args, output))
        self._depth -= 1

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        output = func(*args, **kwargs)
        if self._depth == 0:
            self._record_function(func, args, kwargs, output)
        return output

    # -- the graph -------------------------------------------------------------------------

    def _record_function(self, func, args, kwargs, output):
        escape = _is_escape(func)
        if func is torch.Tensor.__setitem__:
            output = args[0]  # written in place: its later readers read this call
        elif not escape and next(tensors_in(output), None) is None:
            return  # shapes, sizes, dtypes: no values
        node = self.graph.create_node("call_function", func, self._arguments(args), self._arguments(kwargs))
        if escape:
            node.meta["escape"] = True
        self._produced(node, output)

    def _produced(self, node, output):
        if isinstance(output, torch.Tensor):
            self._remember(output, node)
            return
        for index, value in enumerate(tensors_in(output)):
            self._remember(value, self.graph.call_function(operator.getitem, (node, index)))

    def _remember(self, tensor, node):
        self._producers[id(tensor)] = node
        self._alive.append(tensor)

    def _node_of(self, tensor):
        node = self._producers.get(id(tensor))
        if node is None:
            name = self._attributes.get(id(tensor))
            if name is not None:
                node = self.graph.get_attr(name)
            else:  # made where no recorder sees (outside torch, or in TorchScript)
                node = self.graph.placeholder(f"untraced_{next(self._untraced)}")
                node.meta["untraced"] = True
            self._remember(tensor, node)
        return node

    def _arguments(self, value):
        return _map_tensors(self._node_of, value)


def _is_escape(func):
    try:
        return func in ESCAPES
    except TypeError:
        return False
