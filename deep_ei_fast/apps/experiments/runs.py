"""One training run with the causal plane recorded along the way, and its rows.

A Run is what differs between experiments (how to train one epoch, what to evaluate, what to
measure); record_run is what they share: train epoch by epoch under a progress bar, and at the
recording epochs evaluate the metrics and measure the plane. Every row is one layer at one
recorded epoch: the configuration's columns, training_seed, epoch, the metrics, then
causal_plane's columns (plane/rows.py; their ``seed`` is the measurement's philox seed).
"""
from dataclasses import dataclass
from typing import Callable

from ...engine.progress import progress_bar


@dataclass
class Run:
    config: dict  # the configuration's columns, e.g. {"task": "iris", "activation": "tanh"}
    seed: int  # the training seed (initial weights, data split, batch order)
    epochs: int
    train_epoch: Callable[[], None]  # one epoch of training
    evaluate: Callable[[], dict]  # metrics at the current weights, e.g. loss and accuracies
    measure: Callable[[int], list]  # the plane's rows at the current weights, given a philox seed


def recording_epochs(epochs, recordings):
    """``recordings`` epochs from 0 to ``epochs``, spaced quadratically: denser early, where the
    plane moves most (fewer when two would round to the same epoch)."""
    return sorted({round(epochs * (k / (recordings - 1)) ** 2) for k in range(recordings)})


def record_run(run, recordings, measure_seed, progress=True, description="training"):
    """Trains ``run`` for its epochs, recording at recording_epochs(); returns the row dicts."""
    due = set(recording_epochs(run.epochs, recordings))
    rows = []
    with progress_bar(progress, run.epochs, description, unit="epoch") as bar:
        for epoch in range(run.epochs + 1):
            if epoch > 0:
                run.train_epoch()
                bar.update(1)
            if epoch not in due:
                continue
            metrics = run.evaluate()
            plane = run.measure(measure_seed)
            for row in plane:
                columns = vars(row)
                clash = set(columns) & {*run.config, *metrics, "training_seed", "epoch"}
                if clash:
                    raise ValueError(f"record_run: columns {sorted(clash)} of the run clash with the plane's")
                rows.append({**run.config, "training_seed": run.seed, "epoch": epoch, **metrics, **columns})
            bar.set_postfix({k: f"{v:.3g}" for k, v in metrics.items()}, refresh=False)
    return rows
