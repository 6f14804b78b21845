"""The module and activation tables of deep-ei 0.7.0, with the same names and values."""
import torch.nn as nn

from ..engine.draw_schedule import MEMORY_LIMIT  # noqa: F401  (deep-ei exports it with the tables)

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
