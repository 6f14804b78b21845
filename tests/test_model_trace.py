"""topology_of on any model: the traced activation after (and before) each layer, the call
shapes, in_layer ... layer only along chains, the fallback to deep-ei's rule, and threads."""
import threading

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from deep_ei_fast.api.layer_resolution import resolve_layer
from deep_ei_fast.api.model_trace import UntracedLayerWarning
from deep_ei_fast.api.topology import TRACE


class After(nn.Module):
    """fc(x) followed by ``act`` (any callable), then a second Linear."""

    def __init__(self, act, n_in=3, n_out=4):
        super().__init__()
        self.fc, self.act, self.out = nn.Linear(n_in, n_out), act, nn.Linear(n_out, 2)

    def forward(self, x):
        return self.out(self.act(self.fc(x)))


def spec_after(dei, act, **kw):
    torch.manual_seed(0)
    model = After(act)
    top = dei.topology_of(model, torch.zeros(1, 3))
    return model, top, resolve_layer(model.fc, top, **kw)


# Every activation of the range table, in each of its forms, with the range it gives.
BOUNDED = [
    ("sigmoid", (0, 1), [nn.Sigmoid(), torch.sigmoid, torch.Tensor.sigmoid, F.sigmoid, torch.special.expit,
                         lambda x: x.sigmoid_()]),
    ("tanh", (-1, 1), [nn.Tanh(), torch.tanh, torch.Tensor.tanh, F.tanh]),
    ("relu", (0, 10), [nn.ReLU(), torch.relu, F.relu, torch.Tensor.relu, lambda x: F.relu(x, inplace=True),
                       torch.relu_]),
    ("relu6", (0, 6), [nn.ReLU6(), F.relu6]),
    ("hardsigmoid", (0, 1), [nn.Hardsigmoid(), F.hardsigmoid]),
    ("softsign", (-1, 1), [nn.Softsign(), F.softsign]),
    ("hardtanh", (-1, 1), [nn.Hardtanh(), F.hardtanh]),
    ("hardtanh", (-2, 3), [nn.Hardtanh(-2, 3), lambda x: F.hardtanh(x, -2.0, 3.0),
                           lambda x: F.hardtanh(x, min_val=-2.0, max_val=3.0)]),
]
UNBOUNDED = [
    ("gelu", [nn.GELU(), F.gelu, lambda x: F.gelu(x, approximate="tanh")]),
    ("silu", [nn.SiLU(), F.silu]),
    ("softplus", [nn.Softplus(), F.softplus]),
    ("leaky_relu", [nn.LeakyReLU(0.2), lambda x: F.leaky_relu(x, 0.2)]),
    ("elu", [nn.ELU(), F.elu]),
    ("selu", [nn.SELU(), F.selu]),
    ("celu", [nn.CELU(), F.celu]),
    ("mish", [nn.Mish(), F.mish]),
    ("hardswish", [nn.Hardswish(), F.hardswish]),
    ("logsigmoid", [nn.LogSigmoid(), F.logsigmoid]),
]


@pytest.mark.parametrize("name, value_range, act", [(n, r, a) for n, r, forms in BOUNDED for a in forms])
def test_bounded_activation_found_in_any_form(dei, name, value_range, act):
    model, _, spec = spec_after(dei, act)
    assert spec.out_range == value_range
    probe = torch.linspace(-5, 5, 101).reshape(-1, 1).expand(-1, 4)
    expected = act(model.fc(torch.zeros(1, 3)) * 0 + probe.clone())
    torch.testing.assert_close(spec.activation(probe.clone()), expected, rtol=0, atol=0)


@pytest.mark.parametrize("name, act", [(n, a) for n, forms in UNBOUNDED for a in forms])
def test_unbounded_activation_needs_out_range(dei, name, act):
    with pytest.raises(ValueError, match=r"layer 'fc' \(Linear\) is followed by .+ in the model, whose "
                                         r"outputs are unbounded: give out_range") as error:
        spec_after(dei, act)
    assert name.replace("_", "") in str(error.value).lower().replace("_", "")  # the activation is named
    model, _, spec = spec_after(dei, act, out_range=(-1, 5))
    probe = torch.linspace(-5, 5, 101).reshape(-1, 1).expand(-1, 4).contiguous()
    torch.testing.assert_close(spec.activation(probe.clone()), act(probe.clone()), rtol=0, atol=0)
    assert spec.out_range == (-1, 5)


def test_unbounded_activation_names_it_and_allows_dynamic(dei):
    torch.manual_seed(0)
    model = After(F.gelu)
    top = dei.topology_of(model, torch.zeros(1, 3))
    with pytest.raises(ValueError, match=r"layer 'fc' \(Linear\) is followed by F.gelu"):
        dei.ei_parts(model.fc, top, samples=100, progress=False)
    value = dei.ei_parts(model.fc, top, samples=2000, out_range="dynamic", in_bins=8, out_bins=8, progress=False)
    assert value > 0


def test_unbounded_activation_before_a_layer_needs_in_range(dei):
    torch.manual_seed(0)
    model = After(nn.GELU())
    top = dei.topology_of(model, torch.zeros(1, 3))
    with pytest.raises(ValueError, match=r"layer 'out' \(Linear\): its input comes from GELU module, whose "
                                         r"outputs are unbounded: give in_range"):
        resolve_layer(model.out, top)
    assert resolve_layer(model.out, top, in_range=(-1, 3)).in_range == (-1, 3)


@pytest.mark.parametrize("act", [torch.sigmoid, nn.Sigmoid()])
def test_explicit_activation_always_wins(dei, act):
    _, _, spec = spec_after(dei, act, activation=torch.tanh)
    assert spec.activation is torch.tanh
    assert spec.out_range == (0, 1)  # deep-ei: the range still comes from the model's activation
    _, _, spec = spec_after(dei, nn.GELU(), activation=nn.Tanh())  # unbounded in the model: the given one's
    assert spec.out_range == (-1, 1) and type(spec.activation) is nn.Tanh


class Passing(nn.Module):
    """Dropout, an identity and reshapes between the layer and its sigmoid."""

    def __init__(self):
        super().__init__()
        self.fc, self.drop, self.ident = nn.Linear(3, 6), nn.Dropout(0.3), nn.Identity()

    def forward(self, x):
        h = self.ident(self.drop(self.fc(x)))
        return F.dropout(h.view(-1, 2, 3).contiguous(), 0.1, self.training).sigmoid().flatten(1)


def test_activation_found_past_dropout_identity_and_reshapes(dei):
    model = Passing()
    top = dei.topology_of(model, torch.zeros(2, 3))
    spec = resolve_layer(model.fc, top)
    assert spec.activation is torch.Tensor.sigmoid and spec.out_range == (0, 1)


class TwoUsers(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x):
        h = self.fc(x)
        return torch.sigmoid(h) * h  # a hand-written SiLU: the layer's output has two users


class Residual(nn.Module):
    def __init__(self, act=torch.sigmoid):
        super().__init__()
        self.fc1, self.fc2, self.act = nn.Linear(3, 5), nn.Linear(5, 3), act

    def forward(self, x):
        return x + self.fc2(self.act(self.fc1(x)))


def test_no_activation_where_the_output_is_shared_or_added(dei):
    model = TwoUsers()
    spec = resolve_layer(model.fc, dei.topology_of(model, torch.zeros(1, 3)))
    assert spec.activation.__name__ == "identity" and spec.out_range == (-10, 10)
    model = Residual()
    top = dei.topology_of(model, torch.zeros(1, 3))
    spec = resolve_layer(model.fc2, top)  # followed by the residual add
    assert spec.activation.__name__ == "identity" and spec.out_range == (-10, 10)
    assert spec.in_range == (0, 1)  # its input comes from the sigmoid


def test_call_shapes_and_token_inputs(dei):
    torch.manual_seed(0)
    model = Residual(nn.ReLU())
    top = dei.topology_of(model, torch.zeros(2, 7, 3))
    node = top.nodes[model.fc1]
    assert node["input"]["tensor_shape"] == (2, 7, 3) and node["output"]["tensor_shape"] == (2, 7, 5)
    assert node["input"]["shape"] == (2, 3) and node["output"]["shape"] == (2, 5)  # one token's features
    assert node["calls"] == [((2, 7, 3), (2, 7, 5))]
    spec = resolve_layer(model.fc1, top)
    assert (spec.in_shape, spec.out_shape, spec.n_in, spec.n_out) == ((3,), (5,), 3, 5)
    assert spec.in_range == (-10, 10) and spec.out_range == (0, 10)


def test_a_module_called_twice_records_both_calls(dei):
    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return self.fc(torch.sigmoid(self.fc(x)))

    model = Shared()
    top = dei.topology_of(model, torch.zeros(1, 4))
    assert top.nodes[model.fc]["calls"] == [((1, 4), (1, 4)), ((1, 4), (1, 4))]
    assert not top.has_edge(model.fc, model.fc)
    with pytest.raises(ValueError, match=r"layer 'fc' \(Linear\) is called 2 times and the activation after "
                                         r"it differs between calls \(torch.sigmoid and no activation\): "
                                         r"give activation="):
        resolve_layer(model.fc, top)


def test_chains_resolve_as_deep_ei_does(dei):
    net = nn.Sequential(nn.Linear(4, 5), nn.Sigmoid(), nn.Dropout(0.2), nn.Linear(5, 3), nn.Tanh(), nn.Linear(3, 2))
    top = dei.topology_of(net, torch.zeros(1, 4))
    spec = resolve_layer(net[5], top, in_layer=net[0], in_range=(0, 1))
    assert spec.modules == (net[0], net[3], net[5]) and spec.between == ((net[1],), (net[4],))
    assert spec.in_shape == (4,) and spec.out_shape == (2,)
    middle = resolve_layer(net[3], top)
    assert middle.in_range == (0, 1) and middle.out_range == (-1, 1) and middle.activation is net[4]


class Concatenating(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = nn.Linear(3, 3), nn.Linear(3, 3), nn.Linear(6, 2)

    def forward(self, x):
        h = torch.sigmoid(self.a(x))
        return self.c(torch.cat([h, self.b(x)], dim=1))


class Branching(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = nn.Linear(3, 3), nn.Linear(3, 3), nn.Linear(3, 3)

    def forward(self, x):
        h = torch.tanh(self.a(x))
        return self.c(self.b(h)), h


class Stacked(nn.Module):
    def __init__(self):
        super().__init__()
        self.block, self.head = Residual(), nn.Linear(3, 2)

    def forward(self, x):
        return self.head(self.block(x))


@pytest.mark.parametrize("make, first, last, breaking", [
    (Stacked, "block.fc1", "head", r"'Tensor.add' \(a residual add of 2 tensors\) breaks it"),
    (Concatenating, "a", "c", r"'torch.cat' \(a concatenation of 2 tensors\) breaks it"),
    (Branching, "a", "c", r"the output of 'torch.tanh' \(an operation of 1 tensor\) goes to 2 places "
                          r"\(module 'b' \(Linear\), the model's output\), not one"),
    (Branching, "c", "a", r"layer is not downstream of in_layer"),
])
def test_in_layer_only_along_a_chain(dei, make, first, last, breaking):
    torch.manual_seed(0)
    model = make()
    top = dei.topology_of(model, torch.zeros(1, 3))
    modules = dict(model.named_modules())
    message = rf"in_layer='{first}' \(Linear\) to layer='{last}' \(Linear\): .*{breaking}"
    with pytest.raises(ValueError, match=message):
        dei.ei_parts(modules[last], top, in_layer=modules[first], samples=100, progress=False)


def test_in_layer_path_inside_a_block_is_the_models_function(dei):
    torch.manual_seed(0)
    model = Stacked()
    top = dei.topology_of(model, torch.zeros(1, 3))
    spec = resolve_layer(model.block.fc2, top, in_layer=model.block.fc1)
    assert spec.modules == (model.block.fc1, model.block.fc2) and spec.between == ((torch.sigmoid,),)
    x = torch.rand(10, 3)
    torch.testing.assert_close(spec.forward(x), model.block.fc2(torch.sigmoid(model.block.fc1(x))), rtol=0, atol=0)


class Escaping(nn.Module):
    """A layer whose output leaves torch (numpy) before the next layer."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.act = nn.Linear(3, 3), nn.Linear(3, 2), nn.Sigmoid()

    def forward(self, x):
        h = torch.from_numpy(np.tanh(self.a(x).numpy()))
        return self.act(self.b(h))


def test_untraceable_layer_falls_back_with_a_warning(dei):
    model = Escaping()
    top = dei.topology_of(model, torch.zeros(1, 3))
    with pytest.warns(UntracedLayerWarning, match=r"layer 'a' \(Linear\): its output leaves torch through "
                                                  r"'Tensor.numpy'.*; assuming deep-ei's rule: its activation is "
                                                  r"the activation module that ran right after it \(none\)"):
        spec = resolve_layer(model.a, top)
    assert spec.activation.__name__ == "identity" and spec.out_range == (-10, 10)
    with pytest.warns(UntracedLayerWarning, match=r"layer 'b' \(Linear\): its input was made outside torch's "
                                                  r"functions.*its input range is that of the activation module "
                                                  r"that ran right before it \(none\)"):
        spec = resolve_layer(model.b, top)
    assert type(spec.activation) is nn.Sigmoid and spec.in_range == (-10, 10)  # the activation is traced


class RefusesModes(nn.Module):
    """A model that cannot run under a torch function mode (its own check)."""

    def __init__(self):
        super().__init__()
        self.a, self.act = nn.Linear(3, 3), nn.Tanh()

    def forward(self, x):
        if torch._C._is_torch_function_mode_enabled():
            raise RuntimeError("this model refuses torch function modes")
        return self.act(self.a(x))


def test_untraceable_model_falls_back_with_warnings(dei):
    model = RefusesModes()
    with pytest.warns(UntracedLayerWarning, match=r"could not be traced \(RuntimeError: this model refuses"):
        top = dei.topology_of(model, torch.zeros(1, 3))
    assert isinstance(top.graph[TRACE], str)
    with pytest.warns(UntracedLayerWarning) as caught:
        spec = resolve_layer(model.a, top)
    messages = sorted(str(w.message) for w in caught)
    assert len(messages) == 2 and all(m.startswith("layer 'a' (Linear): the model could not be traced ("
                                                   "RuntimeError: this model refuses") for m in messages)
    assert messages[0].endswith("its activation is the activation module that ran right after it (Tanh module)")
    assert messages[1].endswith("its input range is that of the activation module that ran right before it (none)")
    assert spec.activation is model.act and spec.out_range == (-1, 1)


def test_the_models_own_error_is_raised(dei):
    with pytest.raises(RuntimeError, match="mat1 and mat2 shapes cannot be multiplied"):
        dei.topology_of(nn.Sequential(nn.Linear(3, 2)), torch.zeros(1, 4))
    with pytest.raises(TypeError, match="model must be a torch.nn.Module, got str"):
        dei.topology_of("model", torch.zeros(1, 4))


def test_hooks_and_modes_are_removed(dei):
    model = Residual()
    dei.topology_of(model, torch.zeros(1, 3))
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    assert not torch._C._is_torch_function_mode_enabled()


# ------------------------------------------------------------------------------------------
# threads
# ------------------------------------------------------------------------------------------
class Mixed(nn.Module):
    """Modules and functions, a residual add and token inputs: many hooks to confuse."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(6, 8), nn.Linear(8, 6), nn.Linear(6, 3)
        self.act, self.drop = nn.Tanh(), nn.Dropout(0.1)

    def forward(self, x):
        h = x + self.fc2(self.drop(torch.sigmoid(self.fc1(x))))
        return self.act(self.fc3(F.relu(h)))


def _summary(dei, model, top):
    nodes = [(m, top.nodes[m]["calls"], top.nodes[m]["input"]["activation"], top.nodes[m]["output"]["activation"])
             for m in top.nodes]
    specs = [resolve_layer(m, top) for m in (model.fc1, model.fc2, model.fc3)]
    return nodes, list(top.edges), [(s.in_shape, s.out_shape, s.in_range, s.out_range, s.activation) for s in specs]


def _in_threads(count, work):
    results, errors = [None] * count, []
    barrier = threading.Barrier(count)

    def run(k):
        try:
            barrier.wait()
            results[k] = work(k)
        except Exception as error:  # reported below, with the thread's number
            errors.append((k, error))

    threads = [threading.Thread(target=run, args=(k,)) for k in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    return results


def test_topology_of_from_8_threads_equals_serial(dei):
    torch.manual_seed(0)
    model = Mixed()
    inputs = [torch.zeros(1, 4, 6), torch.zeros(2, 6)]  # threads trace with different shapes
    serial = [_summary(dei, model, dei.topology_of(model, inputs[k % 2])) for k in range(2)]

    def work(k):
        return [_summary(dei, model, dei.topology_of(model, inputs[(k + r) % 2])) for r in range(8)]

    for k, results in enumerate(_in_threads(8, work)):
        for r, got in enumerate(results):
            assert got == serial[(k + r) % 2], (k, r)
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_causal_plane_from_8_threads_equals_serial(dei):
    torch.manual_seed(0)
    model = Mixed().train()
    kw = dict(samples=3000, sensitivity_samples=40, in_bins=8, out_bins=8, seed=9, progress=False)
    serial = [tuple(vars(r).items()) for r in dei.causal_plane(model, torch.zeros(1, 6), **kw)]
    results = _in_threads(8, lambda k: [tuple(vars(r).items()) for r in
                                        dei.causal_plane(model, torch.zeros(1, 6), **kw)])
    strip = lambda rows: [tuple(kv for kv in row if kv[0] != "seconds") for row in rows]  # noqa: E731
    for got in results:
        assert strip(got) == strip(serial)
    assert model.training and all(m.training for m in model.modules())  # modes restored once all ended
