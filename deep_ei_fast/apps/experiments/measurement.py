"""The causal plane of a trained network, each Linear layer with its own input and output ranges.

causal_plane applies one (in_range, out_range) pair to every layer it measures. The networks here
take data in [0, 1] while their hidden layers live in their activation's range (tanh: (-1, 1)),
so each layer is measured by its own causal_plane call: the first layer's input noise covers the
data's range, every later layer's the range of the activation before it, and every layer's
output is binned over its activation's range (deep-ei's table: sigmoid (0, 1), tanh (-1, 1),
relu (0, 10)). The rows are those of causal_plane, renumbered 0, 1, ... along the network.

The device is the model's: noise, forward passes and counting run where its parameters are.
"""
from dataclasses import dataclass

import torch
from torch import nn

from ...api.tables import VALID_ACTIVATIONS
from ...plane.measure import causal_plane
from ...plane.rows import CausalPlane

ESTIMATOR = "shuffle"  # bias-corrected, with standard errors (docs/estimators.rst)
DATA_RANGE = (0.0, 1.0)  # every data set here is scaled into [0, 1]


def activation_range(activation):
    """deep-ei's output range of an activation module ("sigmoid", "tanh", "relu" or a module)."""
    from ..networks import ACTIVATIONS
    module_type = ACTIVATIONS[activation] if isinstance(activation, str) else type(activation)
    return tuple(float(v) for v in VALID_ACTIVATIONS[module_type])


def chain_ranges(widths, activation, data_range=DATA_RANGE):
    """[(in_range, out_range)] of each layer of an MLP with ``len(widths) - 1`` Linear layers,
    each followed by ``activation``: the first layer's input is the data's range."""
    inner = activation_range(activation)
    return [(data_range if k == 0 else inner, inner) for k in range(len(widths) - 1)]


@dataclass(frozen=True)
class PlaneSettings:
    """How every plane of an experiment is measured."""
    samples: int
    sensitivity_samples: int
    bins: int


def model_device(model):
    """The device of the model's parameters (cpu for a model without any)."""
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def measure_layers(model, example, layers, ranges, settings, seed):
    """A CausalPlane with one row per module of ``layers``, the k-th measured with ``ranges[k]``
    and philox ``seed``, by the shuffle estimator with standard errors, on the model's device."""
    if len(layers) != len(ranges):
        raise ValueError(f"measure_layers: {len(layers)} layers but {len(ranges)} ranges")
    device = model_device(model)
    rows = []
    for index, (layer, (in_range, out_range)) in enumerate(zip(layers, ranges)):
        plane = causal_plane(model, example.to(device), layers=[layer], samples=settings.samples,
                             sensitivity_samples=settings.sensitivity_samples, in_range=in_range,
                             out_range=out_range, in_bins=settings.bins, out_bins=settings.bins,
                             device=str(device), seed=seed, progress=False, estimator=ESTIMATOR,
                             standard_errors=True)
        row = plane[0]
        row.layer = index
        rows.append(row)
    return CausalPlane(rows)


def linear_layers(model):
    """The model's Linear modules in the order of model.modules()."""
    return [m for m in model.modules() if isinstance(m, nn.Linear)]
