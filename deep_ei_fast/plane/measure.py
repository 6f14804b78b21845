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
from ..api.docstrings import shared_entries
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
@shared_entries
def causal_plane(model, input, *, layers=None, samples=None, sensitivity_samples=500,
                 in_range=None, out_range=None, in_bins=64, out_bins=64, batch_size=20,
                 device=None, rng="philox", seed=None, progress=True,
                 memory_bound=None, threshold=0.05, max_samples=DEFAULT_MAX_SAMPLES,
                 estimator="plugin", shuffles=1, standard_errors=False, process_group=None):
    r"""Measures every weight layer (Linear, Conv2d) of ``model`` for the causal plane.

    A layer's place in the causal plane (Mattsson, Michaud and Hoel, 2020) is (sensitivity,
    degeneracy), with EI = sensitivity - degeneracy (:doc:`causal_plane`). Each layer gets, in
    bits: the vector EI and EI_parts from the same noise samples (as
    :func:`vector_and_pairwise_ei`), the sensitivity from a second pass, one input at a time
    (as :func:`sensitivity`), and their differences. One row per Linear and Conv2d that
    ``model(input)`` calls, in call order, named as in ``model.named_modules()``, each
    measured on its own with the activation that follows it in the traced model
    (:func:`topology_of`, :doc:`modern_architectures`). The model is measured in eval mode
    (dropout off), and its modules' modes are restored afterwards (also when several threads
    measure it at once). Not in deep-ei.

    Parameters
    ----------
    model : torch.nn.Module
        The network.
    input : torch.Tensor or object
        An example input, batch dimension included, as for :func:`topology_of`; on
        ``device`` when it is a tensor (ValueError otherwise).
    layers : str, torch.nn.Module or list, optional
        The rows to measure, by name (as in ``model.named_modules()``) or module; each must be
        a module the forward pass calls (ValueError listing the Linear and Conv2d layers
        otherwise). None: every Linear and Conv2d.
    {samples_converging}
    sensitivity_samples : int, default 500
        Noise samples per input neuron behind the sensitivity, at least 1.
    in_range : (float, float), optional
        The (low, high) range of the input noise of every layer. None: each layer's own, as
        the EI functions take it (the range of the activation its input comes from; no
        activation: (-10, 10); after an unbounded one, ValueError).
    out_range : (float, float), optional
        The range binned for every layer's outputs. None: each layer's own (the range of the
        activation that follows it; none: (-10, 10); an unbounded one: ValueError).
        ``"dynamic"`` raises ValueError.
    {in_bins}
    {out_bins}
    {batch_size}
    device : str, torch.device or None, default None
        Where the noise is drawn and the model run: ``'cpu'``, ``'cuda'``, ``'cuda:N'``, or
        None: the device of the model's parameters and buffers (a model without any: the
        device of ``input``, or the CPU). The whole model and ``input`` must be there
        (ValueError naming the device to pass otherwise).
    {rng}
    {seed}
        One seed serves every layer, and each row records it.
    {progress}
    {memory_bound}
    {threshold_vector}
    {max_samples}
        A layer stopped there has ``converged=False`` in its row.
    {estimator}
        It applies to every measure of the row.
    {shuffles}
    standard_errors : bool, default False
        Also fill the rows' standard errors, from the same counts (:func:`pairwise_stats`,
        :func:`vector_stats`, :func:`sensitivity_stats`); the differences' are bounds that
        hold whatever the correlation of their terms.
    {process_group}
        Each layer's measurement is shared among the ranks.

    Returns
    -------
    CausalPlane
        A list of :class:`PlaneRow`, one per measured layer, in call order; ``to_csv()``,
        ``to_dataframe()`` and ``print`` show them.

    Raises
    ------
    {raises}

    Warns
    -----
    {warns_convergence}
    {warns_untraced}

    Examples
    --------
    Layer ``0``'s outputs both repeat input 0: with 8 bins, 3 bits of EI, but 6 of sensitivity
    (input 0 alone reaches both outputs); its degeneracy is the difference. Layer ``1`` copies
    each input to its own output: EI and sensitivity are both 6 bits.

    >>> import torch
    >>> import deep_ei_fast as deep_ei
    >>> model = torch.nn.Sequential(torch.nn.Linear(2, 2, bias=False), torch.nn.Linear(2, 2, bias=False))
    >>> with torch.no_grad():
    ...     _ = model[0].weight.copy_(torch.tensor([[1.0, 0.0], [1.0, 0.0]]))
    ...     _ = model[1].weight.copy_(torch.eye(2))
    >>> plane = deep_ei.causal_plane(model, torch.zeros(1, 2), samples=10000, sensitivity_samples=1000,
    ...                              in_bins=8, out_bins=8, seed=0)
    >>> for row in plane:
    ...     print(row.name, row.module, round(row.ei, 1), round(row.sensitivity, 1))
    0 Linear 2->2 3.0 6.0
    1 Linear 2->2 6.0 6.0
    >>> round(plane[0].degeneracy, 1)
    3.0
    """
    check_positive_int("sensitivity_samples", sensitivity_samples)
    settings = check_settings(MeasurementSettings(
        samples=samples, batch_size=batch_size, in_range=in_range, in_bins=in_bins,
        out_range=out_range, out_bins=out_bins, device=device, rng=rng, seed=seed,
        progress=progress, memory_bound=memory_bound, threshold=threshold,
        max_samples=max_samples, estimator=estimator, shuffles=shuffles,
        process_group=process_group))
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
