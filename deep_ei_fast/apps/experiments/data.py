"""The experiments' data, all shipped with scikit-learn or generated: each loader returns
(x_train, y_train, x_test, y_test) with inputs in [0, 1] and integer labels, split by ``seed``.

iris and digits 0-4 at 5x5 are the demo's (the paper's two tasks); digits 0-9 at 8x8 is the
harder task of the depth and memorization experiments.
"""
import torch

from ..demo import digits_data, iris_data

TRAIN_FRACTION = 0.8


def digits10_data(seed):
    """All ten digits at 8x8 (64 inputs, pixel values / 16), 80% training / 20% test."""
    from sklearn.datasets import load_digits
    data = load_digits()
    x = torch.tensor(data.data, dtype=torch.float32) / 16.0
    y = torch.tensor(data.target, dtype=torch.int64)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    split = int(TRAIN_FRACTION * len(y))
    return x[order[:split]], y[order[:split]], x[order[split:]], y[order[split:]]


DATASETS = {"iris": iris_data, "digits": digits_data, "digits10": digits10_data}
CLASSES = {"iris": 3, "digits": 5, "digits10": 10}


def load(name, seed, device="cpu"):
    """DATASETS[name](seed) with every tensor on ``device``."""
    return tuple(t.to(device) for t in DATASETS[name](seed))


def shuffled_labels(labels, seed):
    """The labels in a random order (the same multiset: class balance kept), so that a label no
    longer depends on its input: what a network learns of them it must memorize."""
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    return labels[order.to(labels.device)]
