"""The causal plane of a recurrent transition h_t -> h_{t+1}, as rows like causal_plane's.

One row per way of treating the input (recurrent_transition.py builds the modules):

- input held at each given value: causal_plane of the fixed-input transition, the state's noise
  in the activation's range; the rows carry causal_plane's standard errors.
- input as noise: the [h, x] -> h' transition with state and input both uniform noise, measured
  for the state alone: EI = I(h_t; h_{t+1}) from eis_between_groups with the state as the input
  group (the input's noise is part of the channel), EI_parts = the sum of the state rows of
  ei_parts_matrix, sensitivity = the sum of the state rows of sensitivity_matrix (one state
  neuron fires, every other input, the network's input included, at 0, as sensitivity is
  defined). These three calls have no standard errors; the experiment's intervals come from the
  spread over seeds.

All through the same engine, estimator "shuffle", the same philox seed for every row.
"""
import time

import torch

from ...api.ei_functions import ei_parts_matrix, eis_between_groups
from ...api.sensitivity import sensitivity_matrix
from ...api.topology import topology_of
from ...plane.rows import PlaneRow
from .measurement import ESTIMATOR, activation_range, measure_layers
from .recurrent_transition import fixed_input_transition, noise_input_transition


def _noise_row(rnn, settings, seed, layer, in_range, out_range):
    transition = noise_input_transition(rnn)
    hidden, width = rnn.hidden_size, rnn.hidden_size + rnn.input_size
    device = transition[0].weight.device
    topology = topology_of(transition, torch.zeros(1, width, device=device))
    common = dict(in_range=in_range, in_bins=settings.bins, out_range=out_range, out_bins=settings.bins,
                  device=str(device), seed=seed, progress=False, estimator=ESTIMATOR)
    start = time.perf_counter()
    state, outputs = tuple(range(hidden)), tuple(range(hidden))
    ei = eis_between_groups(transition[0], topology, [(state, outputs)], samples=settings.samples, **common)[0]
    parts = float(ei_parts_matrix(transition[0], topology, samples=settings.samples, **common)[:hidden].sum())
    sensitivity = float(sensitivity_matrix(transition[0], topology, samples=settings.sensitivity_samples,
                                           **common)[:hidden].sum())
    return PlaneRow(
        layer=layer, name="input as noise", module=f"RNN {hidden}->{hidden} (input as noise)",
        n_in=hidden, n_out=hidden, ei=ei, ei_parts=parts, sensitivity=sensitivity, degeneracy=sensitivity - ei,
        degeneracy_parts=sensitivity - parts, integration=ei - parts, samples=settings.samples, converged=True,
        sensitivity_samples=settings.sensitivity_samples, in_bins=settings.bins, out_bins=settings.bins,
        in_low=in_range[0], in_high=in_range[1], out_low=out_range[0], out_high=out_range[1], rng="philox",
        seed=seed, seconds=time.perf_counter() - start, estimator=ESTIMATOR)


def measure_transition(rnn, held_inputs, settings, seed):
    """Rows for the transition with the input held at each of ``held_inputs`` (values of the
    input vector), then one with the input drawn as noise. The engine draws every input of a
    layer from one range, so the input's noise is drawn in the state's range (tanh: (-1, 1),
    where the parity task's inputs +-1 lie)."""
    state_range = activation_range(rnn.nonlinearity)
    rows = []
    for value in held_inputs:
        transition = fixed_input_transition(rnn, value)
        row = measure_layers(transition, torch.zeros(1, rnn.hidden_size), [transition[0]],
                             [(state_range, state_range)], settings, seed)[0]
        row.layer, row.name = len(rows), f"input held at {_text(value)}"
        row.module = f"RNN {rnn.hidden_size}->{rnn.hidden_size} (input {_text(value)})"
        rows.append(row)
    rows.append(_noise_row(rnn, settings, seed, len(rows), state_range, state_range))
    return rows


def _text(value):
    values = torch.as_tensor(value).reshape(-1).tolist()
    return ", ".join(f"{v:+g}" for v in values)
