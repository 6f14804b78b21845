"""topology_of on networkx 3: the graph every EI function reads shapes and ranges from."""
import networkx as nx
import pytest
import torch
import torch.nn as nn


def test_simple_chain(dei):
    net = nn.Sequential(nn.Linear(42, 20), nn.Sigmoid(), nn.Linear(20, 10), nn.Tanh(), nn.Linear(10, 3))
    l1, s, l2, t, l3 = net
    top = dei.topology_of(net, torch.zeros((1, 42)))
    assert isinstance(top, nx.DiGraph)
    assert None not in top.nodes
    assert list(top.nodes) == [l1, l2, l3]
    assert set(top.edges) == {(l1, l2), (l2, l3)}
    assert top.nodes[l1]["input"]["activation"] is None
    assert top.nodes[l1]["output"]["activation"] is s
    assert top.nodes[l2]["input"]["activation"] is s
    assert top.nodes[l2]["output"]["activation"] is t
    assert top.nodes[l3]["input"]["activation"] is t
    assert top.nodes[l3]["output"]["activation"] is None
    assert top.nodes[l1]["input"]["shape"] == (1, 42)
    assert top.nodes[l1]["output"]["shape"] == (1, 20)
    assert top.nodes[l2]["input"]["shape"] == (1, 20)
    assert top.nodes[l3]["output"]["shape"] == (1, 3)
    for n in top.nodes:
        assert set(top.nodes[n]) >= {"input", "output"}
        assert set(top.nodes[n]["input"]) >= {"activation", "shape"}
        assert isinstance(top.nodes[n]["input"]["shape"], tuple)


def test_batch_dimension_is_recorded(dei):
    net = nn.Sequential(nn.Linear(4, 2), nn.ReLU())
    top = dei.topology_of(net, torch.zeros((5, 4)))
    assert top.nodes[net[0]]["input"]["shape"] == (5, 4)
    assert top.nodes[net[0]]["output"]["shape"] == (5, 2)
    assert top.nodes[net[0]]["output"]["activation"] is net[1]


def test_nested_sequentials_call_order(dei):
    inner1 = nn.Sequential(nn.Linear(6, 5), nn.ReLU())
    inner2 = nn.Sequential(nn.Sequential(nn.Linear(5, 4)), nn.Sigmoid(), nn.Linear(4, 3))
    net = nn.Sequential(inner1, nn.Tanh(), inner2)
    a, relu = inner1
    b = inner2[0][0]
    sig = inner2[1]
    c = inner2[2]
    top = dei.topology_of(net, torch.zeros((1, 6)))
    assert list(top.nodes) == [a, b, c]
    assert set(top.edges) == {(a, b), (b, c)}
    # ReLU then Tanh run after a: as in deep-ei, the output activation is the one that ran
    # right after a (ReLU); the input activation of b is the one that ran just before it (Tanh)
    assert top.nodes[a]["output"]["activation"] is relu
    assert top.nodes[b]["input"]["activation"] is net[1]
    assert top.nodes[b]["output"]["activation"] is sig
    assert top.nodes[c]["input"]["activation"] is sig
    assert top.nodes[c]["output"]["activation"] is None
    assert None not in top.nodes


def test_call_order_not_definition_order(dei):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.last = nn.Linear(3, 2)
            self.first = nn.Linear(4, 3)
            self.act = nn.Sigmoid()

        def forward(self, x):
            return self.last(self.act(self.first(x)))

    net = Net()
    top = dei.topology_of(net, torch.zeros((1, 4)))
    assert list(top.nodes) == [net.first, net.last]
    assert list(top.edges) == [(net.first, net.last)]
    assert top.nodes[net.last]["input"]["activation"] is net.act


def test_unsupported_modules_are_skipped(dei):
    net = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.0), nn.Sigmoid(), nn.Identity(), nn.Linear(4, 2))
    top = dei.topology_of(net, torch.zeros((1, 4)))
    assert list(top.nodes) == [net[0], net[4]]
    assert top.nodes[net[0]]["output"]["activation"] is net[2]


def test_conv2d_nodes(dei):
    conv = nn.Conv2d(3, 5, kernel_size=(2, 4), stride=2, padding=1)
    pool = nn.MaxPool2d(2)
    net = nn.Sequential(conv, nn.ReLU(), pool, nn.Flatten(), nn.Linear(5 * 4 * 3, 7), nn.Sigmoid())
    x = torch.zeros((1, 3, 16, 14))
    top = dei.topology_of(net, x)
    out = net(x)  # the graph building does not alter the model
    assert out.shape == (1, 7)
    assert list(top.nodes) == [conv, pool, net[3], net[4]]
    assert None not in top.nodes
    assert top.nodes[conv]["input"]["shape"] == (1, 3, 2, 4)
    out_shape = top.nodes[conv]["output"]["shape"]
    assert out_shape[0] == 1 and int(torch.tensor(out_shape[1:]).prod()) == 5
    assert top.nodes[conv]["output"]["activation"] is net[1]
    assert top.nodes[pool]["input"]["activation"] is net[1]
    assert top.nodes[net[4]]["input"]["shape"] == (1, 60)
    assert top.nodes[net[4]]["output"]["activation"] is net[5]
    assert len(top.edges) == 3


def test_hooks_removed(dei):
    net = nn.Sequential(nn.Linear(2, 2), nn.Sigmoid())
    dei.topology_of(net, torch.zeros((1, 2)))
    for m in net.modules():
        assert len(m._forward_hooks) == 0


def test_graph_usable_by_deep_ei(dei):
    deep_ei = pytest.importorskip("deep_ei")
    net = nn.Sequential(nn.Linear(3, 3), nn.Sigmoid(), nn.Linear(3, 2), nn.Sigmoid())
    top = dei.topology_of(net, torch.zeros((1, 3)))
    torch.manual_seed(0)
    v = deep_ei.ei_parts(net[2], top, samples=500, in_layer=net[0], in_range=(0, 1), in_bins=8, out_bins=8)
    assert v >= 0.0
