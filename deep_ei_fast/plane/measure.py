"""causal_plane: every layer of a model measured at once (EI, EI_parts, sensitivity, ...).

A layer's place in the causal plane (Mattsson, Michaud & Hoel, 2020) is (sensitivity,
degeneracy), with EI = sensitivity - degeneracy. One call measures every weight layer of a
model: vector EI and EI_parts from one pass of noise (vector_and_pairwise_ei), sensitivity from
a second, one-input-at-a-time pass; the topology and layer resolution are done once.
"""
import dataclasses
import math
import time

import numpy as np
import torch
import torch.nn as nn

from ..api.arguments import check_positive_int, check_settings, settings_on_device
from ..api.ei_functions import measure_vector_and_pairwise
from ..api.layer_resolution import check_modules_on, check_parameters, modules_device, on_device, resolve_layer
from ..api.sample_rules import DEFAULT_MAX_SAMPLES
from ..api.sensitivity import sensitivity_matrix_of
from ..api.topology import NAMES, topology_of
from ..engine.noise_streams import resolve_seed
from ..engine.settings import MeasurementSettings
from ..engine.sharding import Shard
from ..engine.threads import load_aware
from ..estimators.plugin import sum_in_order
from ..estimators.uncertainty import difference_standard_error
from .eval_mode import eval_mode
from .rows import CausalPlane, PlaneRow

# Modules with weights, whose EI the plane shows (exact types, as the topology's nodes).
# Pooling and Flatten nodes of the topology are fixed maps between weight layers; they are not
# measured unless asked for.
WEIGHT_LAYERS = (nn.Linear, nn.Conv2d)


def _check_input_on(input, device):
    """The example input runs through the model (topology): on its device."""
    if isinstance(input, torch.Tensor) and not on_device(input.device, device):
        raise ValueError(f"input is on {input.device}, device={str(device)!r}: move it with "
                         f"input.to({str(device)!r})")


def _select_layers(topology, layers):
    """The layers to measure: every Linear and Conv2d the model calls, in call order, or those
    of ``layers`` (modules, or names as in model.named_modules())."""
    if layers is None:
        return [m for m in topology.nodes if type(m) in WEIGHT_LAYERS]
    if isinstance(layers, (str, nn.Module)):
        layers = [layers]
    names = topology.graph.get(NAMES, {})
    by_name = {name: module for module, name in names.items()}
    chosen = []
    for layer in layers:
        module = by_name.get(layer) if isinstance(layer, str) else layer
        try:
            present = module is not None and module in topology
        except TypeError:
            present = False
        if not present:
            known = [names.get(m, repr(m)) for m in topology.nodes if type(m) in WEIGHT_LAYERS]
            raise ValueError(f"layers: {layer!r} is not a node of the model's topology (a module the "
                             f"forward pass calls); its Linear and Conv2d layers are {known}")
        chosen.append(module)
    return chosen


def _resolve(topology, layers, in_range, out_range):
    """(name, LayerSpec) of each chosen layer, each resolved once from the traced model."""
    names = topology.graph.get(NAMES, {})
    return [(names.get(layer, ""), resolve_layer(layer, topology, None, in_range, out_range))
            for layer in _select_layers(topology, layers)]


def planned_rows(model, input, layers=None, in_range=None, out_range=None):
    """The columns of causal_plane's rows that the measurement does not change (name, module,
    widths, resolved ranges), one dict per row, from one cheap forward pass."""
    with eval_mode(model):
        rows = []
        for name, spec in _resolve(topology_of(model, input), layers, in_range, out_range):
            rows.append(dict(name=name, module=spec.describe(), n_in=spec.n_in,
                             n_out=spec.n_out, in_low=float(spec.in_range[0]),
                             in_high=float(spec.in_range[1]), out_low=float(spec.out_range[0]),
                             out_high=float(spec.out_range[1])))
    return rows


def plane_sensitivity(layer, topology, settings, standard_errors):
    """(sensitivity, its standard error or None) of a layer, as causal_plane reports it."""
    if not standard_errors:
        return sum_in_order(sensitivity_matrix_of(layer, topology, settings, matrix_variant=False)), None
    rows = sensitivity_matrix_of(layer, topology, settings, matrix_variant=False, statistics=True)
    return (sum_in_order(np.concatenate([r.estimate for r in rows])),
            math.sqrt(sum(r.sum_variance for r in rows)))


def _standard_errors(ei, ei_parts, sensitivity):
    """PlaneRow's standard-error fields (all None without standard_errors=True); the
    differences' are bounds (difference_standard_error)."""
    return dict(ei_standard_error=ei, ei_parts_standard_error=ei_parts,
                sensitivity_standard_error=sensitivity,
                degeneracy_standard_error=difference_standard_error(sensitivity, ei),
                degeneracy_parts_standard_error=difference_standard_error(sensitivity, ei_parts),
                integration_standard_error=difference_standard_error(ei, ei_parts))


@load_aware
def causal_plane(model, input, *, layers=None, samples=None, sensitivity_samples=500,
                 in_range=None, out_range=None, in_bins=64, out_bins=64, batch_size=20,
                 device=None, rng="philox", seed=None, progress=True,
                 memory_bound=None, threshold=0.05, max_samples=DEFAULT_MAX_SAMPLES,
                 estimator="plugin", shuffles=1, standard_errors=False, process_group=None):
    r"""Measures every weight layer (Linear, Conv2d) of ``model`` for the causal plane.

    ``input`` is an example input (batch dimension included), as for topology_of. Each layer
    gets, in bits: vector EI and EI_parts from the same ``samples`` noise samples (None: deep-ei's
    doubling rule on the vector EI, with ``threshold``, stopped at ``max_samples`` with a
    ConvergenceWarning and the row's ``converged`` False), sensitivity from ``sensitivity_samples``
    per input neuron, degeneracy = sensitivity - EI, degeneracy_parts = sensitivity - EI_parts,
    and integration = EI - EI_parts. Ranges default to the topology's (as in every EI function);
    a (low, high) pair applies to every layer. ``seed=None`` with rng="philox" draws one seed
    from torch's generator and uses it for every layer (it is recorded in each row).

    ``estimator`` ("plugin", "miller_madow", "shuffle", with ``shuffles``) corrects every
    measure's sampling bias; standard_errors=True also fills the rows' standard errors (from the
    same counts: see pairwise_stats).

    Any model: one row per Linear and Conv2d that ``model(input)`` calls, in call order, named
    as in ``model.named_modules()``, each measured on its own with the activation that follows
    it in the traced model (topology_of; docs/modern_architectures.rst); ``layers`` selects
    rows by name or module. The model is measured in eval mode (dropout off) and its modes are
    restored afterwards (also when several threads measure it at once). ``device=None``
    measures where the model's parameters are (a model without any: where ``input`` is); its
    parameters and ``input`` must be on ``device`` (ValueError otherwise, naming the device to
    pass). Pair counters stay under
    ``memory_bound`` bytes (None: 2 GiB on the CPU, 3/4 of the device's free memory on CUDA).
    Returns a CausalPlane: a list of rows with to_dataframe() and to_csv().

    ``process_group`` (a torch.distributed group) shares each layer's measurement among its
    ranks; every rank returns the one-process plane (docs/distributed.rst).
    """
    check_positive_int("sensitivity_samples", sensitivity_samples)
    settings = check_settings(MeasurementSettings.of(locals()))
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if device is None:  # the model's device; a model without parameters: the input's
        fallback = input.device if isinstance(input, torch.Tensor) else "cpu"
        settings = settings_on_device(settings, modules_device([model], fallback), "the model")
    check_modules_on([model], settings.device, "model")
    _check_input_on(input, settings.device)
    check_parameters(model.modules(), "causal_plane")
    with eval_mode(model):
        layers = _resolve(topology_of(model, input), layers, in_range, out_range)
        if rng == "philox" and seed is None:
            seed = Shard(process_group).agree(resolve_seed(None))  # rank 0's, on every rank
            settings = dataclasses.replace(settings, seed=seed)
        sensitivity_settings = dataclasses.replace(settings, samples=sensitivity_samples)
        rows = []
        for index, (name, spec) in enumerate(layers):
            start = time.perf_counter()
            measured = measure_vector_and_pairwise(spec, None, settings, description="causal_plane",
                                                   standard_errors=standard_errors)
            ei, ei_parts, drawn, converged = measured.ei, measured.ei_parts, measured.samples, measured.converged
            sens, sens_error = plane_sensitivity(spec, None, sensitivity_settings, standard_errors)
            rows.append(PlaneRow(
                layer=index, name=name, module=spec.describe(), n_in=spec.n_in,
                n_out=spec.n_out, ei=ei, ei_parts=ei_parts, sensitivity=sens,
                degeneracy=sens - ei, degeneracy_parts=sens - ei_parts,
                integration=ei - ei_parts, samples=drawn, converged=converged, sensitivity_samples=sensitivity_samples,
                in_bins=in_bins, out_bins=out_bins, in_low=float(spec.in_range[0]),
                in_high=float(spec.in_range[1]), out_low=float(spec.out_range[0]),
                out_high=float(spec.out_range[1]),
                rng=rng, seed=seed if seed is not None else "", seconds=time.perf_counter() - start,
                estimator=estimator, **_standard_errors(measured.ei_standard_error,
                                                        measured.ei_parts_standard_error, sens_error)))
    return CausalPlane(rows)
