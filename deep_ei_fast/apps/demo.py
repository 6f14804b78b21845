"""The demo: the paper's networks trained while their layers move through the causal plane.

Two tasks of "Examining the causal structures of deep neural networks using information theory"
(Mattsson, Michaud & Hoel, 2020), on data bundled with scikit-learn:
- iris: 4 -> 5 -> 5 -> 3 on the Iris data (inputs divided by 8, so in [0, 1)), 100 training and
  50 test examples, SGD batch size 10, 4000 epochs;
- digits: 25 -> 6 -> 6 -> 6 -> 5 on the 8x8 digits 0-4, averaged down to 5x5 and scaled to [0, 1],
  80% training / 20% test, SGD batch size 50, 500 epochs.
Both: bias-free, sigmoid after every layer, weights uniform in +-1/sqrt(fan_in), SGD on the
summed squared error against one-hot targets, learning rate 0.1 (at 1e-2 the digits network
stays at chance, 0.17 test accuracy, for 300 epochs and ends at 0.54; at 0.1 both networks
learn: about 0.98 test accuracy on iris, 0.99 on digits).

The causal plane of every layer is recorded before training and then every `every` epochs
(default: 20 recordings per run) with 8 bins and ranges (0, 1), into <out>/<task>.csv, and drawn
into <task>_plane.png, <task>_measures.png and <task>_plane.gif. Defaults measure EI and EI_parts
from 1e6 noise samples and sensitivity from 5000 per input neuron; --full uses the paper's 1e7
and records every epoch (digits) or every 10 epochs (iris), which takes hours.
"""
import os
import time
from dataclasses import dataclass

import torch
from torch import nn

from ..plane.plots import animate_causal_plane, plot_causal_plane, plot_measures
from ..plane.recorder import CausalPlaneRecorder
from .networks import paper_network

LEARNING_RATE = 0.1
BINS = 8
DEFAULT_RECORDINGS = 20
# Why the untrained networks' degeneracy is negative (docs/causal_plane.rst, "Negative degeneracy").
NEGATIVE_DEGENERACY = (
    f"Degeneracy is negative where EI exceeds the sensitivity, as before training: with the initial "
    f"weights (|w| <= 1/sqrt(fan_in)) one input varied alone, the others at 0 (how sensitivity is "
    f"measured), moves a sigmoid output by at most 0.1, never across one of the {BINS} bins' edges, so "
    f"the sensitivity is about 0 bits; all inputs varied together do cross them (EI > 0). With 64 bins "
    f"it is positive.")
# The recorded metrics' axis labels in the measures figure.
METRIC_LABELS = {"loss": "training loss (squared error per example)",
                 "train_accuracy": "training accuracy (fraction correct)",
                 "test_accuracy": "test accuracy (fraction correct)"}


@dataclass(frozen=True)
class Task:
    name: str
    sizes: tuple
    epochs: int
    batch_size: int
    full_every: int  # recording interval of --full


TASKS = {
    "iris": Task("iris", (4, 5, 5, 3), epochs=4000, batch_size=10, full_every=10),
    "digits": Task("digits", (25, 6, 6, 6, 5), epochs=500, batch_size=50, full_every=1),
}


def iris_data(seed):
    """(x_train, y_train, x_test, y_test): 100 / 50 examples, inputs / 8, integer labels."""
    from sklearn.datasets import load_iris
    data = load_iris()
    x = torch.tensor(data.data, dtype=torch.float32) / 8.0
    y = torch.tensor(data.target, dtype=torch.int64)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    train, test = order[:100], order[100:]
    return x[train], y[train], x[test], y[test]


def digits_data(seed):
    """(x_train, y_train, x_test, y_test): digits 0-4 as 5x5 images in [0, 1], 80% / 20%."""
    from sklearn.datasets import load_digits
    data = load_digits()
    keep = data.target < 5
    images = torch.tensor(data.images[keep], dtype=torch.float32).unsqueeze(1) / 16.0
    x = nn.functional.adaptive_avg_pool2d(images, (5, 5)).reshape(-1, 25)
    y = torch.tensor(data.target[keep], dtype=torch.int64)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    split = int(0.8 * len(y))
    return x[order[:split]], y[order[:split]], x[order[split:]], y[order[split:]]


DATA = {"iris": iris_data, "digits": digits_data}


def squared_error(net, x, y):
    """The training loss: squared error against one-hot targets, summed over the batch."""
    targets = nn.functional.one_hot(y, net[-2].out_features).to(x.dtype)
    return ((net(x) - targets) ** 2).sum()


def train_epoch(net, optimizer, x, y, batch_size, generator):
    """One epoch of SGD on the summed squared error against one-hot targets; mean loss/example."""
    order = torch.randperm(len(y), generator=generator)
    total = 0.0
    for start in range(0, len(y), batch_size):
        batch = order[start:start + batch_size]
        optimizer.zero_grad()
        loss = squared_error(net, x[batch], y[batch])
        loss.backward()
        optimizer.step()
        total += loss.item()
    return total / len(y)


def initial_loss(net, x, y):
    """The loss per example before training (what epoch 0 reports)."""
    with torch.no_grad():
        return squared_error(net, x, y).item() / len(y)


def accuracy(net, x, y):
    with torch.no_grad():
        return (net(x).argmax(dim=1) == y).float().mean().item()


@dataclass
class Settings:
    samples: int = 1_000_000
    sensitivity_samples: int = 5000
    every: int = None  # None: epochs // DEFAULT_RECORDINGS
    epochs: int = None  # None: the task's
    seed: int = 0
    full: bool = False
    gif: bool = True
    progress: bool = True
    estimator: str = "plugin"  # causal_plane's estimator and standard_errors (docs/make_figures.py)
    standard_errors: bool = False


def run_task(task, out_dir, settings, log=print):
    """Trains one task's network, recording its causal plane; writes CSV, PNGs and a GIF.
    Returns (recorder, {file kind: path}, seconds training, seconds measuring)."""
    epochs = settings.epochs or task.epochs
    every = settings.every or (task.full_every if settings.full else max(epochs // DEFAULT_RECORDINGS, 1))
    x_train, y_train, x_test, y_test = DATA[task.name](settings.seed)
    net = paper_network(task.sizes, settings.seed)
    optimizer = torch.optim.SGD(net.parameters(), lr=LEARNING_RATE)
    generator = torch.Generator().manual_seed(settings.seed + 1)
    csv_path = os.path.join(out_dir, f"{task.name}.csv")
    if os.path.exists(csv_path):
        os.remove(csv_path)  # the demo trains from scratch: a new recording, not a resumed one
    recorder = CausalPlaneRecorder(
        net, torch.zeros((1, task.sizes[0])), csv_path, every=every, samples=settings.samples,
        sensitivity_samples=settings.sensitivity_samples, in_range=(0, 1), out_range=(0, 1),
        in_bins=BINS, out_bins=BINS, seed=settings.seed, progress=False, estimator=settings.estimator,
        standard_errors=settings.standard_errors)
    detail = log if settings.progress else (lambda line: None)
    detail(f"{task.name}: {' -> '.join(map(str, task.sizes))} sigmoid, {len(y_train)} training / "
           f"{len(y_test)} test examples, {epochs} epochs of SGD (batch {task.batch_size}, lr "
           f"{LEARNING_RATE}), causal plane every {every} epochs")
    train_seconds = measure_seconds = 0.0
    loss = initial_loss(net, x_train, y_train)
    threads = torch.get_num_threads()
    for epoch in range(epochs + 1):
        if epoch > 0:
            start = time.perf_counter()
            torch.set_num_threads(1)  # tiny tensors: one thread avoids thread-pool overhead
            try:
                loss = train_epoch(net, optimizer, x_train, y_train, task.batch_size, generator)
            finally:
                torch.set_num_threads(threads)
            train_seconds += time.perf_counter() - start
        if recorder.due(epoch) or epoch == epochs:
            start = time.perf_counter()
            recorder.record(epoch, force=True, loss=loss, train_accuracy=accuracy(net, x_train, y_train),
                            test_accuracy=accuracy(net, x_test, y_test))
            measure_seconds += time.perf_counter() - start
            last = recorder.rows[-1]
            detail(f"  epoch {epoch:>5}: loss {loss:.4f}, test accuracy {last['test_accuracy']:.3f}, "
                   f"last layer EI {last['ei']:.3f} bits")
    files = {"csv": csv_path}
    title = f"{task.name} {'-'.join(map(str, task.sizes))}"
    # The rotated plane (EI on x): the trajectories run along the diagonal of the plain one.
    files["plane"] = plot_causal_plane(recorder, os.path.join(out_dir, f"{task.name}_plane.png"), title=title,
                                       rotated=True)
    files["measures"] = plot_measures(recorder, os.path.join(out_dir, f"{task.name}_measures.png"), title=title,
                                      labels=METRIC_LABELS)
    if settings.gif:
        files["gif"] = animate_causal_plane(recorder, os.path.join(out_dir, f"{task.name}_plane.gif"), title=title,
                                            rotated=True)
    return recorder, files, train_seconds, measure_seconds


def summary(task, recorder):
    """The first and last recorded epoch of every layer, as printable lines."""
    steps = recorder.steps
    header = (f"{'epoch':>6} {'layer':<14} {'EI':>7} {'EI_parts':>8} {'sensitivity':>11} "
              f"{'degeneracy':>10} {'integration':>11} {'test acc':>8}")
    lines = [f"{task.name}:", header, "-" * len(header)]
    for row in recorder.rows:
        if row["epoch"] not in (steps[0], steps[-1]):
            continue
        lines.append(f"{row['epoch']:>6} {row['module']:<14} {row['ei']:>7.3f} {row['ei_parts']:>8.3f} "
                     f"{row['sensitivity']:>11.3f} {row['degeneracy']:>10.3f} "
                     f"{row['integration']:>11.3f} {row['test_accuracy']:>8.3f}")
    return "\n".join(lines)


def run_demo(out_dir, tasks=("iris", "digits"), settings=None, log=print):
    """Runs the demo's tasks into ``out_dir``; returns {task: (recorder, files)}."""
    settings = settings or Settings()
    if settings.full:
        settings.samples = max(settings.samples, 10_000_000)
    os.makedirs(out_dir, exist_ok=True)
    results = {}
    start = time.perf_counter()
    for name in tasks:
        task = TASKS[name]
        recorder, files, train_s, measure_s = run_task(task, out_dir, settings, log)
        results[name] = (recorder, files)
        last = recorder.rows[-1]
        log(f"{name}: final train accuracy {last['train_accuracy']:.3f}, test accuracy "
            f"{last['test_accuracy']:.3f} (epoch {last['epoch']})")
        log(f"{name}: training {train_s:.1f} s, measuring {measure_s:.1f} s "
            f"({len(recorder.steps)} recordings of {settings.samples:,} samples)")
    log("")
    for name in tasks:
        log(summary(TASKS[name], results[name][0]))
        log("")
    log("Values in bits; degeneracy = sensitivity - EI, integration = EI - EI_parts.")
    if any(row["degeneracy"] < 0 for name in tasks for row in results[name][0].rows):
        log(NEGATIVE_DEGENERACY)
    log("Files:")
    for name in tasks:
        for _kind, path in results[name][1].items():
            log(f"  {path}")
    log(f"total {time.perf_counter() - start:.1f} s")
    return results
