"""The recurrent experiment's task and network: running parity of a bit stream.

Each sequence is a stream of random bits, fed as x_t = +1 or -1; the target at every step is the
parity (0 or 1) of the bits so far, so the state must carry one bit and flip it on every 1. The
network is an Elman nn.RNN (tanh) with a Linear readout, trained by Adam on the binary cross
entropy of every step. Test sequences are new and twice as long: a network that learned the rule
rather than the training set gets them right.
"""
import torch
from torch import nn

from .training import one_thread


def parity_data(count, length, seed, device="cpu"):
    """(inputs [count, length, 1] of +-1, targets [count, length] of 0/1 parities)."""
    bits = torch.randint(0, 2, (count, length), generator=torch.Generator().manual_seed(seed))
    inputs = (bits * 2 - 1).to(torch.float32).unsqueeze(-1)
    targets = (torch.cumsum(bits, dim=1) % 2).to(torch.float32)
    return inputs.to(device), targets.to(device)


class ParityNetwork(nn.Module):
    """nn.RNN(1, hidden, tanh) and a Linear(hidden, 1) readout of every step's state (logits)."""

    def __init__(self, hidden):
        super().__init__()
        self.rnn = nn.RNN(1, hidden, nonlinearity="tanh", batch_first=True)
        self.readout = nn.Linear(hidden, 1)

    def forward(self, inputs):
        states, _ = self.rnn(inputs)
        return self.readout(states).squeeze(-1)


def parity_trainer(net, optimizer, inputs, targets, batch_size, seed):
    """A function training ``net`` one epoch (batches in an order drawn from ``seed``)."""
    generator = torch.Generator().manual_seed(seed)

    def train():
        with one_thread():
            order = torch.randperm(len(targets), generator=generator).to(targets.device)
            for start in range(0, len(targets), batch_size):
                batch = order[start:start + batch_size]
                optimizer.zero_grad()
                nn.functional.binary_cross_entropy_with_logits(net(inputs[batch]), targets[batch]).backward()
                optimizer.step()
    return train


def parity_metrics(net, train, test):
    """A function returning loss (mean binary cross entropy per step on the training set) and
    train_accuracy / test_accuracy (the fraction of steps whose parity is right)."""
    def evaluate():
        with torch.no_grad():
            logits = net(train[0])
            loss = nn.functional.binary_cross_entropy_with_logits(logits, train[1]).item()
            accuracy = [((net(x) > 0).to(torch.float32) == y).to(torch.float32).mean().item()
                        for x, y in (train, test)]
        return {"loss": loss, "train_accuracy": accuracy[0], "test_accuracy": accuracy[1]}
    return evaluate
