"""A Run of a classifier from the paper's family (apps/networks.py's paper_network): built on the
options' device, trained by SGD-type optimizers on the summed squared error, its Linear layers
measured with their chain's ranges."""
import torch

from ..networks import paper_network
from .data import load
from .measurement import PlaneSettings, chain_ranges, linear_layers, measure_layers
from .runs import Run
from .training import classifier_metrics, classifier_trainer


def classifier_run(config, seed, *, data, sizes, activation, epochs, batch_size, optimizer,
                   scale, options, dropout=0.0, train_examples=None, relabel=None):
    """A Run of paper_network(sizes, seed, activation, dropout) on data set ``data`` split by
    ``seed``; ``optimizer`` is a function of the parameters; ``train_examples`` keeps the first
    that many training examples; ``relabel`` (a function of the training labels) replaces them,
    e.g. by shuffled ones. Batches are drawn from seed + 1."""
    x_train, y_train, x_test, y_test = load(data, seed, options.device)
    if train_examples is not None:
        x_train, y_train = x_train[:train_examples], y_train[:train_examples]
    if relabel is not None:
        y_train = relabel(y_train)
    net = paper_network(sizes, seed, activation, dropout).to(options.device)
    layers, ranges = linear_layers(net), chain_ranges(sizes, activation)
    settings = PlaneSettings(scale.samples, scale.sensitivity_samples, options.bins)
    example = torch.zeros(1, sizes[0])
    return Run(config=config, seed=seed, epochs=epochs,
               train_epoch=classifier_trainer(net, optimizer(net.parameters()), x_train, y_train,
                                              batch_size, seed + 1),
               evaluate=classifier_metrics(net, x_train, y_train, x_test, y_test),
               measure=lambda measure_seed: measure_layers(net, example, layers, ranges, settings,
                                                           measure_seed))
