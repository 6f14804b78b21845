"""`dropout`: does dropout raise or lower the EI of a network's layers?

Identical networks (25-32-32-5 sigmoid on the paper's digits 0-4 at 5x5, the paper's
initialization; the same initial weights, data split and batch order for a given seed) trained
by Adam with dropout after every hidden activation at several rates, rate 0 being the network
without it. Each layer's EI, EI_parts, sensitivity and degeneracy are recorded over training and
compared with the rate-0 network of the same seed (paired differences).

Why not the paper's 25-6-6-6-5: with six-neuron layers dropout stops the network learning, so a
comparison would set a trained network against an untrained one. Measured (this experiment's
first default run, SGD at 0.1 for 200 epochs, 5 seeds): test accuracy 0.989 ± 0.008 without
dropout, 0.80 ± 0.23 at rate 0.1, and chance (0.17) at 0.2 and 0.3; with Adam at 0.01, 0.33-0.39
at 0.3. With 32-neuron layers and Adam every rate up to 0.5 learned (0.98-0.99 on two seeds).

The measurement is made with dropout off (causal_plane measures in eval mode, where nn.Dropout is
the identity). EI is a property of a layer's causal mechanism: the map from an intervention on
its inputs to its outputs. In train mode dropout multiplies the layer's inputs by a random mask
drawn anew at every forward pass, a noise source outside the mechanism that the trained network
uses for its predictions (at test time dropout is off); its mask would enter the measured mutual
information as channel noise and lower every EI by an amount set by the rate alone, not by what
the network learned. Measured in eval mode, a difference between the networks is a difference in
their learned weights: what dropout did to the mechanism.
"""
import torch

from .classifier_runs import classifier_run
from .driver import Plan
from .figures import against, bands, metric_bands
from .options import Scale
from .summary import final_epoch, select
from .tables import differences, final_values, vector_ei_note
from .verdicts import count_directions, direction

SIZES = (25, 32, 32, 5)
BATCH_SIZE = 50
LEARNING_RATE = 0.01  # Adam
NETWORK = "digits 0-4, 25-32-32-5 sigmoid"
KEYS = ("dropout",)
QUANTITIES = ("ei", "ei_parts", "sensitivity", "degeneracy")

DEFAULT = Scale(seeds=5, epochs=200, recordings=11, samples=100_000, sensitivity_samples=2000)
FULL = Scale(seeds=5, epochs=500, recordings=26, samples=10_000_000, sensitivity_samples=5000)
RATES = {False: (0.0, 0.1, 0.3, 0.5), True: (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)}  # by options.full


def _runs(scale, options):
    runs = []
    for rate in RATES[options.full]:
        for seed in range(scale.seeds):
            def make(rate=rate, seed=seed):
                return classifier_run(
                    {"dropout": rate}, seed, data="digits", sizes=SIZES, activation="sigmoid",
                    epochs=scale.epochs, batch_size=BATCH_SIZE, scale=scale, options=options,
                    dropout=rate, optimizer=lambda parameters: torch.optim.Adam(parameters, lr=LEARNING_RATE))
            runs.append((f"dropout {rate:g} seed {seed}", make))
    return runs


def _outputs(out):
    files, entries, rows, report, scale = out.files, out.entries, out.rows, out.report, out.scale
    rates = sorted({e["dropout"] for e in entries})
    groups = {f"dropout {r:g}": select(entries, dropout=r) for r in rates}
    files["measures"] = bands(groups, QUANTITIES, out.path("dropout_measures.png"), NETWORK)
    files["accuracy"] = metric_bands(groups, ("train_accuracy", "test_accuracy"), out.path("accuracy.png"),
                                     NETWORK)
    last = final_epoch(rows)
    layers = sorted({e["layer"] for e in entries})
    for quantity in ("ei", "ei_parts"):
        points = {f"layer {layer + 1}": [(r, e[quantity], e[f"{quantity}_ci95"])
                                         for r in rates for e in select(entries, dropout=r, epoch=last, layer=layer)]
                  for layer in layers}
        files[f"final_{quantity}"] = against(points, quantity, out.path(f"final_{quantity}.png"),
                                             f"after {last} epochs (mean over seeds, 95% t bars)", "dropout rate")
    for r in rates:
        chosen, title = select(entries, dropout=r), f"{NETWORK}, dropout {r:g}"
        out.plane_figures(f"dropout_{r:g}", chosen, title, f"dropout {r:g}")

    report.section(
        "What was measured",
        f"A 25-32-32-5 sigmoid network (bias-free, weights uniform in +-1/sqrt(fan_in)) on the paper's "
        f"digits 0-4 at 5x5, trained {scale.epochs} epochs by Adam (learning rate {LEARNING_RATE}, batch "
        f"{BATCH_SIZE}, summed squared error against one-hot targets) with nn.Dropout "
        f"after every hidden activation at rates {', '.join(f'{r:g}' for r in rates)}, {scale.seeds} seeds "
        "each; for a given seed every rate starts from the same weights and sees the same batches "
        "(rate 0: no dropout). The paper's 25-6-6-6-5 network is not used: with six-neuron layers dropout "
        "stops it learning (test accuracy at chance at rates 0.2 and 0.3 after 200 epochs), and the "
        "comparison would be of a trained network with an untrained one. Every Linear layer's causal "
        "plane was recorded at "
        f"{scale.recordings} epochs with the shuffle estimator, inputs and outputs in (0, 1).",
        "Dropout is off when measuring: causal_plane measures in eval mode, where dropout is the "
        "identity. EI describes a layer's causal mechanism, the map from an intervention on its "
        "inputs to its outputs; in train mode dropout's random mask, drawn anew at every forward "
        "pass, is a noise source outside that mechanism (the trained network predicts with dropout "
        "off), and it would enter the measured mutual information as channel noise, lowering EI by "
        "an amount set by the rate, not by training. Measured in eval mode, a difference between "
        "the networks is a difference in their learned weights.",
        "Numbers are means over seeds with 95% Student t intervals; differences are paired by seed "
        "(the same initial weights and batches), which removes the seed-to-seed variation the "
        "networks share.")
    report.section(f"The layers after training (epoch {last})",
                   final_values(entries, KEYS, (*QUANTITIES, "test_accuracy"), last),
                   vector_ei_note(entries, scale.samples, out.options.bins))
    pairs = [(f"{r:g} - 0", (r,), (0.0,)) for r in rates if r > 0]
    text, found = differences(rows, pairs, KEYS, QUANTITIES, last)
    report.section(f"Dropout minus no dropout, paired by seed (epoch {last})", text)
    answers = []
    for label, _, _ in pairs:
        for quantity in ("ei", "ei_parts"):
            values = [found[label, layer, quantity] for layer in layers if (label, layer, quantity) in found]
            higher, lower, unknown = count_directions(values)
            per_layer = "; ".join(f"layer {layer + 1}: {direction(*found[label, layer, quantity])}"
                                  for layer in layers if (label, layer, quantity) in found)
            answers.append(f"- rate {label.split()[0]}, {quantity}: {higher} higher, {lower} lower, "
                           f"{unknown} not distinguishable, of {len(values)} layers ({per_layer})")
    report.section(
        "The answer, as measured",
        "Does dropout raise or lower the EI of the layers? Per rate and measure, the layers whose "
        "paired 95% interval excludes 0:", "\n".join(answers))
    report.section(
        "What this shows and what it does not",
        "Shows: for this network, task and training, how dropout at these rates changes each "
        "layer's EI, EI_parts, sensitivity and degeneracy after training, with the intervals above; "
        "and, in the figures, when during training the networks separate.",
        "Does not show: a general law: one small network and task, the learning rate and epochs fixed "
        "rather than tuned per rate, few seeds. Where the test accuracies differ (table above), a "
        "difference in the plane may come from how well the network learned rather than from dropout "
        "as such. Vector EI of the 25- and 32-input layers is not resolved at any practical sample "
        "count (note above), so EI_parts, sensitivity and their difference are the measures to read.")
    return {"differences": found}


PLAN = Plan("dropout", "Dropout and the EI of a network's layers", DEFAULT, FULL, KEYS, _runs, _outputs)

