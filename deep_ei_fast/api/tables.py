"""The module and activation tables of deep-ei 0.7.0, with the same names and values."""
import torch.nn as nn

# Modules that become nodes of the topology graph (exact type, not isinstance, as in deep-ei).
VALID_MODULES = {nn.Linear, nn.Conv2d, nn.AvgPool2d, nn.MaxPool2d, nn.Flatten}

# Activations and the range their outputs are assumed to take; type(None) is "no activation".
VALID_ACTIVATIONS = {
    nn.Sigmoid: (0, 1),
    nn.Tanh: (-1, 1),
    nn.ReLU: (0, 10),
    type(None): (-10, 10),
}

POOLING_MODULES = {nn.AvgPool2d, nn.MaxPool2d}

CONVOLUTIONAL_MODULES = {nn.Conv2d}

# deep-ei splits noise into chunks of at most this many floats per tensor (see schedule.py).
MEMORY_LIMIT = 100000000
