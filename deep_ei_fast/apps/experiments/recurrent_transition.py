"""A recurrent network's transition h_t -> h_{t+1} as a plain feedforward module the engine measures.

An Elman nn.RNN (one layer, one direction, tanh or relu) steps its state as

    h_{t+1} = act(W_hh h_t + W_ih x_t + b_ih + b_hh).

That is a Linear layer followed by an elementwise activation, so the engine measures it exactly
once it is written as one:

- input held fixed at x: Linear(H, H) with weight W_hh and bias W_ih x + b_ih + b_hh, then act;
  its inputs are the H state neurons.
- input drawn as noise: Linear(H + I, H) over the concatenation [h_t, x_t] with weight
  [W_hh | W_ih] and bias b_ih + b_hh, then act; its first H inputs are the state, the last I the
  input, both intervened on with uniform noise.

A GRU or LSTM step is not of this form: its gates multiply (r * (W_hn h + b_hn), (1 - z) * n) and
its new state mixes in the old one (z * h), so no Linear-then-activation describes it, and it is
refused here rather than approximated.
"""
import torch
from torch import nn

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU}


def check_elman(rnn):
    """ValueError unless ``rnn`` is an nn.RNN whose step is one Linear and an activation."""
    if isinstance(rnn, (nn.GRU, nn.LSTM)):
        raise ValueError(f"{type(rnn).__name__}: its step multiplies gates and mixes in the old state, so it "
                         "is not a Linear layer followed by an activation; only nn.RNN transitions are measured")
    if not isinstance(rnn, nn.RNN):
        raise ValueError(f"rnn must be a torch.nn.RNN, got {type(rnn).__name__}")
    if rnn.num_layers != 1 or rnn.bidirectional or getattr(rnn, "proj_size", 0):
        raise ValueError(f"rnn must have one layer, one direction and no projection, got num_layers="
                         f"{rnn.num_layers}, bidirectional={rnn.bidirectional}")


def _parts(rnn):
    check_elman(rnn)
    w_ih, w_hh = rnn.weight_ih_l0.detach(), rnn.weight_hh_l0.detach()
    bias = torch.zeros(rnn.hidden_size, device=w_hh.device, dtype=w_hh.dtype)
    if rnn.bias:
        bias = rnn.bias_ih_l0.detach() + rnn.bias_hh_l0.detach()
    return w_ih, w_hh, bias, ACTIVATIONS[rnn.nonlinearity]


def fixed_input_transition(rnn, x):
    """Sequential(Linear(H, H), activation): h_t -> h_{t+1} with the input held at ``x``
    (a sequence of input_size numbers), on the RNN's device."""
    w_ih, w_hh, bias, activation = _parts(rnn)
    x = torch.as_tensor(x, dtype=w_hh.dtype, device=w_hh.device).reshape(rnn.input_size)
    linear = nn.Linear(rnn.hidden_size, rnn.hidden_size, device=w_hh.device)
    with torch.no_grad():
        linear.weight.copy_(w_hh)
        linear.bias.copy_(w_ih @ x + bias)
    return nn.Sequential(linear, activation())


def noise_input_transition(rnn):
    """Sequential(Linear(H + I, H), activation): [h_t, x_t] -> h_{t+1}, on the RNN's device."""
    w_ih, w_hh, bias, activation = _parts(rnn)
    linear = nn.Linear(rnn.hidden_size + rnn.input_size, rnn.hidden_size, device=w_hh.device)
    with torch.no_grad():
        linear.weight.copy_(torch.cat([w_hh, w_ih], dim=1))
        linear.bias.copy_(bias)
    return nn.Sequential(linear, activation())
