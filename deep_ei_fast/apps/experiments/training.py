"""Training and evaluating the classifiers: the demo's SGD epoch on the summed squared error
against one-hot targets, on one thread (the tensors are tiny), and the metrics in eval mode."""
import contextlib

import torch

from ..demo import squared_error, train_epoch


@contextlib.contextmanager
def one_thread():
    """Tiny tensors: one thread avoids the thread pool's overhead (as the demo trains)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@contextlib.contextmanager
def eval_mode(model):
    """The model in eval mode (dropout off), every module's flag restored after."""
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, flag in flags:
            module.training = flag


def classifier_trainer(net, optimizer, x, y, batch_size, seed):
    """A function training ``net`` one epoch (batches in an order drawn from ``seed``)."""
    generator = torch.Generator().manual_seed(seed)

    def train():
        with one_thread():
            net.train()
            train_epoch(net, optimizer, x, y, batch_size, generator)
    return train


def classifier_metrics(net, x_train, y_train, x_test, y_test):
    """A function returning loss (summed squared error per training example), train_accuracy
    and test_accuracy of ``net`` in eval mode."""
    def evaluate():
        with torch.no_grad(), eval_mode(net):
            loss = squared_error(net, x_train, y_train).item() / len(y_train)
            train = (net(x_train).argmax(dim=1) == y_train).float().mean().item()
            test = (net(x_test).argmax(dim=1) == y_test).float().mean().item()
        return {"loss": loss, "train_accuracy": train, "test_accuracy": test}
    return evaluate
