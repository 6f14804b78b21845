"""`depth`: on a harder task, do the hidden layers differentiate in the causal plane?

All ten 8x8 digits (64 inputs, 10 classes) learned by tanh networks 64-16-...-16-10 with 2 to 6
hidden layers of 16 (bias-free, the paper's initialization, SGD at 0.01 on the summed squared
error; sigmoid networks of this depth and initialization stay at chance for 60 epochs). The
layers that map one hidden layer to the next (16 -> 16: one for 2 hidden layers, five for 6)
have the same shape, so their places in the plane can be compared directly: their spread is the
standard deviation, across those layers of one network, of EI_parts (and of sensitivity and
degeneracy). Each seed gives one spread; the report gives its mean over seeds with a 95% t
interval, before training and after, and the paired change. A network with a single 16 -> 16
layer (2 hidden layers) has no spread.
"""
import math

import numpy as np
import torch

from .classifier_runs import classifier_run
from .driver import Plan
from .figures import against, metric_bands
from .options import Scale
from .report import table
from .summary import final_epoch, format_interval, interval, paired_difference, select
from .tables import final_values, vector_ei_note
from .verdicts import direction

INPUTS, WIDTH, CLASSES = 64, 16, 10
BATCH_SIZE = 32
LEARNING_RATE = 0.01
KEYS = ("hidden_layers",)
SPREAD_QUANTITIES = ("ei_parts", "sensitivity", "degeneracy")

DEFAULT = Scale(seeds=3, epochs=60, recordings=7, samples=100_000, sensitivity_samples=1000)
FULL = Scale(seeds=5, epochs=200, recordings=21, samples=10_000_000, sensitivity_samples=5000)
DEPTHS = (2, 3, 4, 5, 6)


def sizes(depth):
    return (INPUTS, *([WIDTH] * depth), CLASSES)


def hidden_to_hidden(depth):
    """The layer indices (0 = first Linear) mapping one hidden layer to the next."""
    return list(range(1, depth))


def spreads(rows, depth, quantity, epoch):
    """{seed: standard deviation across the hidden-to-hidden layers of ``quantity``} (needs two)."""
    layers = hidden_to_hidden(depth)
    if len(layers) < 2:
        return {}
    by_seed = {}
    for r in rows:
        if r["hidden_layers"] == depth and r["epoch"] == epoch and r["layer"] in layers:
            by_seed.setdefault(r["training_seed"], []).append(r[quantity])
    return {seed: float(np.std(v, ddof=1)) for seed, v in by_seed.items() if len(v) == len(layers)}


def _runs(scale, options):
    runs = []
    for depth in DEPTHS:
        for seed in range(scale.seeds):
            def make(depth=depth, seed=seed):
                return classifier_run(
                    {"hidden_layers": depth}, seed, data="digits10", sizes=sizes(depth), activation="tanh",
                    epochs=scale.epochs, batch_size=BATCH_SIZE, scale=scale, options=options,
                    optimizer=lambda parameters: torch.optim.SGD(parameters, lr=LEARNING_RATE))
            runs.append((f"{depth} hidden layers seed {seed}", make))
    return runs


def _outputs(out):
    files, entries, rows, report, scale = out.files, out.entries, out.rows, out.report, out.scale
    last = final_epoch(rows)
    depths = sorted({e["hidden_layers"] for e in entries})
    files["accuracy"] = metric_bands({f"{d} hidden": select(entries, hidden_layers=d) for d in depths},
                                     ("train_accuracy", "test_accuracy"), out.path("accuracy.png"),
                                     "digits 0-9 8x8, tanh")
    for quantity in SPREAD_QUANTITIES:
        points = {f"{d} hidden layers": [(e["layer"] + 1, e[quantity], e[f"{quantity}_ci95"])
                                         for e in select(entries, hidden_layers=d, epoch=last)] for d in depths}
        files[f"by_layer_{quantity}"] = against(points, quantity, out.path(f"by_layer_{quantity}.png"),
                                                f"each layer after {last} epochs (95% t bars)", "layer")
    found = {}
    spread_points = {}
    for quantity in SPREAD_QUANTITIES:
        for epoch, label in ((0, "before training"), (last, f"epoch {last}")):
            for d in depths:
                values = spreads(rows, d, quantity, epoch)
                if values:
                    mean, _, half, _ = interval(values.values())
                    found[quantity, d, epoch] = (mean, half)
                    if quantity == "ei_parts":
                        spread_points.setdefault(label, []).append((d, mean, half))
        for d in depths:
            start, end = spreads(rows, d, quantity, 0), spreads(rows, d, quantity, last)
            if start:
                mean, _, half, _ = paired_difference(end, start)
                found[quantity, d, "change"] = (mean, half)
    if spread_points:
        files["spread"] = against(spread_points, "ei_parts", out.path("spread_ei_parts.png"),
                                  "spread of EI_parts across the 16->16 layers (95% t bars)", "hidden layers")
    for d in depths:
        chosen, title = select(entries, hidden_layers=d), f"digits 0-9, {d} hidden layers of {WIDTH}, tanh"
        out.plane_figures(f"depth_{d}", chosen, title, f"{d} hidden layers")

    report.section(
        "What was measured",
        f"Networks 64-{WIDTH}x(2..6)-10 with tanh after every layer (bias-free, weights uniform in "
        f"+-1/sqrt(fan_in)) trained {scale.epochs} epochs by SGD (learning rate {LEARNING_RATE}, batch "
        f"{BATCH_SIZE}, summed squared error against one-hot targets) on scikit-learn's 8x8 digits, all "
        f"ten classes (80% training, 20% test), {scale.seeds} seeds per depth. Every Linear layer's causal "
        f"plane was recorded at {scale.recordings} epochs (shuffle estimator; first layer's input noise in "
        "(0, 1), every later layer's in (-1, 1), outputs in (-1, 1)).",
        f"Spread: for each network, the standard deviation across its {WIDTH} -> {WIDTH} layers (the "
        "hidden-to-hidden ones, comparable because they have one shape) of a measure; one value per seed, "
        "then the mean over seeds with its 95% t interval. The change is paired by seed (same network "
        "before and after). The measurement's own noise adds to a spread: the mean standard error of "
        "one layer's EI_parts is given beside it for scale.")
    report.section(f"Each layer after training (epoch {last})",
                   final_values(entries, KEYS, ("ei_parts", "sensitivity", "degeneracy", "test_accuracy"), last),
                   vector_ei_note(entries, scale.samples, out.options.bins))
    lines = []
    for d in depths:
        noise = np.mean([e["mean_ei_parts_standard_error"] for e in select(entries, hidden_layers=d, epoch=last)
                         if e["layer"] in hidden_to_hidden(d)])
        cells = []
        for quantity in SPREAD_QUANTITIES:
            before, after = found.get((quantity, d, 0)), found.get((quantity, d, last))
            change = found.get((quantity, d, "change"))
            cells += ["n/a" if v is None else format_interval(*v) for v in (before, after, change)]
        lines.append([d, len(hidden_to_hidden(d)), *cells, f"{noise:.4f}" if not math.isnan(noise) else "n/a"])
    header = ["hidden layers", "16->16 layers"]
    for quantity in ("EI_parts", "sensitivity", "degeneracy"):
        header += [f"{quantity} spread, epoch 0", f"{quantity} spread, epoch {last}", "change"]
    header.append("EI_parts measurement SE")
    report.section("The spread between hidden layers (bits)", table(header, lines))
    answers = [f"- {d} hidden layers: EI_parts spread {direction(*found[('ei_parts', d, 'change')], 'grew', 'shrank')}"
               f" ({format_interval(*found[('ei_parts', d, 'change')])} bits), sensitivity spread "
               f"{direction(*found[('sensitivity', d, 'change')], 'grew', 'shrank')}, degeneracy spread "
               f"{direction(*found[('degeneracy', d, 'change')], 'grew', 'shrank')}"
               for d in depths if ("ei_parts", d, "change") in found]
    report.section(
        "The answer, as measured",
        "Do the hidden layers differentiate during training? Change of the spread across the 16 -> 16 "
        "layers from epoch 0 to the end (paired 95% intervals):", "\n".join(answers) or "(no depth with two "
        "16 -> 16 layers was run)")
    report.section(
        "What this shows and what it does not",
        "Shows: whether the hidden-to-hidden layers of these networks, identical in shape and alike in "
        "the plane at initialization, end training at measurably different places, and how that "
        "depends on depth, with the uncertainty over seeds.",
        "Does not show: that depth is needed for this task (two hidden layers reach about the same test "
        "accuracy, see the table), nor why layers differ. A spread is a standard deviation of a few "
        "layers, so it is biased upward by measurement noise (compare with the measurement SE) and "
        "noisy with few seeds. Vector EI of 16-input layers is not resolved (note above), so the spread "
        "is of the pairwise quantities.")
    return {"spread": found}


PLAN = Plan("depth", "Depth: do hidden layers differentiate in the causal plane?", DEFAULT, FULL, KEYS,
            _runs, _outputs)

