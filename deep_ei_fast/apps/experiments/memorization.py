"""`memorization`: do layers move differently in the causal plane when a network memorizes?

The same network (64-32-32-10 sigmoid, the paper's initialization) trained on the same small
training set of 8x8 digits (all ten classes) twice per seed: once with the true labels, once
with the same labels shuffled among the examples, so that a label no longer depends on its
image and whatever the network gets right on the training set it has memorized. Test accuracy
is on held-out images with their true labels: about 0.9 for the true labels, chance (0.1) for
the shuffled ones. Both start from the same weights and see the same batches, and are measured
with the same noise, so their planes are identical at epoch 0 and every later difference is
what the labels did.
"""
import torch

from .classifier_runs import classifier_run
from .data import shuffled_labels
from .driver import Plan
from .figures import bands, metric_bands
from .options import Scale
from .summary import final_epoch, select
from .tables import changes, differences, final_values, vector_ei_note
from .verdicts import direction

SIZES = (64, 32, 32, 10)
TRAINING_EXAMPLES = {False: 100, True: 200}  # by options.full: small enough to memorize
BATCH_SIZE = 10
LEARNING_RATE = 0.01  # Adam: SGD at 0.1 barely fits shuffled labels (0.5 after 1000 epochs)
LABEL_SEED_OFFSET = 100
KEYS = ("labels",)
QUANTITIES = ("ei_parts", "sensitivity", "degeneracy", "ei")

DEFAULT = Scale(seeds=5, epochs=300, recordings=11, samples=100_000, sensitivity_samples=2000)
FULL = Scale(seeds=5, epochs=1000, recordings=26, samples=10_000_000, sensitivity_samples=5000)


def _runs(scale, options):
    examples = TRAINING_EXAMPLES[options.full]
    runs = []
    for labels in ("true", "shuffled"):
        for seed in range(scale.seeds):
            def make(labels=labels, seed=seed):
                def relabel(y):
                    return shuffled_labels(y, seed + LABEL_SEED_OFFSET) if labels == "shuffled" else y
                return classifier_run(
                    {"labels": labels}, seed, data="digits10", sizes=SIZES, activation="sigmoid",
                    epochs=scale.epochs, batch_size=BATCH_SIZE, scale=scale, options=options,
                    train_examples=examples, relabel=relabel,
                    optimizer=lambda parameters: torch.optim.Adam(parameters, lr=LEARNING_RATE))
            runs.append((f"{labels} labels seed {seed}", make))
    return runs


def _outputs(out):
    files, entries, rows, report, scale = out.files, out.entries, out.rows, out.report, out.scale
    groups = {f"{name} labels": select(entries, labels=name) for name in ("true", "shuffled")}
    title = "digits 0-9 8x8, 64-32-32-10 sigmoid"
    files["measures"] = bands(groups, QUANTITIES[:3], out.path("memorization_measures.png"), title)
    files["accuracy"] = metric_bands(groups, ("train_accuracy", "test_accuracy"), out.path("accuracy.png"), title)
    for name in ("true", "shuffled"):
        out.plane_figures(name, select(entries, labels=name), f"{title}, {name} labels", f"{name} labels")
    last = final_epoch(rows)
    examples = TRAINING_EXAMPLES[out.options.full]
    report.section(
        "What was measured",
        f"A 64-32-32-10 sigmoid network (bias-free, weights uniform in +-1/sqrt(fan_in)) trained "
        f"{scale.epochs} epochs by Adam (learning rate {LEARNING_RATE}, batch {BATCH_SIZE}, summed squared "
        f"error against one-hot targets) on {examples} training images of scikit-learn's 8x8 digits "
        "(all ten classes), with their true labels and, separately, with those labels shuffled among "
        f"the {examples} images; {scale.seeds} seeds, each seed's two runs sharing initial weights, "
        "images, batch order and measurement noise. Test accuracy is on the held-out 20% of the data "
        "set with true labels. Every Linear layer's causal plane was recorded at "
        f"{scale.recordings} epochs (shuffle estimator, inputs and outputs in (0, 1), "
        f"{out.options.bins} bins).",
        "Numbers are means over seeds with 95% Student t intervals; differences are paired by seed.")
    report.section(f"After training (epoch {last})",
                   final_values(entries, KEYS, (*QUANTITIES, "train_accuracy", "test_accuracy"), last),
                   vector_ei_note(entries, scale.samples, out.options.bins))
    text, moved = changes(rows, [("true",), ("shuffled",)], KEYS, QUANTITIES[:3])
    report.section(f"How far each layer moved (epoch {last} - epoch 0, paired by seed)", text)
    text, found = differences(rows, [("shuffled - true", ("shuffled",), ("true",))], KEYS,
                              (*QUANTITIES, "train_accuracy", "test_accuracy"), last)
    report.section(f"Shuffled minus true labels, paired by seed (epoch {last})", text)
    layers = sorted({e["layer"] for e in entries})
    lines = [f"- layer {layer + 1}: EI_parts {direction(*found['shuffled - true', layer, 'ei_parts'])}, "
             f"sensitivity {direction(*found['shuffled - true', layer, 'sensitivity'])}, degeneracy "
             f"{direction(*found['shuffled - true', layer, 'degeneracy'])} when memorizing"
             for layer in layers if ("shuffled - true", layer, "ei_parts") in found]
    train = found.get(("shuffled - true", 0, "train_accuracy"), (float("nan"),) * 2)
    test = found.get(("shuffled - true", 0, "test_accuracy"), (float("nan"),) * 2)
    report.section(
        "The answer, as measured",
        f"Memorizing (shuffled labels) against generalizing (true labels), the same network and "
        f"images: train accuracy differs by {train[0]:+.3f} ± {train[1]:.3f}, test accuracy by "
        f"{test[0]:+.3f} ± {test[1]:.3f}. In the causal plane, layer by layer (paired 95% intervals):",
        "\n".join(lines))
    report.section(
        "What this shows and what it does not",
        "Shows: whether, for this network and data, the layers' EI_parts, sensitivity and degeneracy "
        "end up different when the labels must be memorized, and in which layers; the figures show "
        "when during training the two separate. The shuffled network also fits its labels less well "
        "(train accuracy below 1), so part of a difference may come from how far training got rather "
        "than from memorizing as such.",
        "Does not show: that EI predicts generalization in general (one architecture, one small data "
        "set, few seeds), nor anything about the vector EI of these layers, which is not resolved at "
        "32 and 64 inputs (note above).")
    return {"differences": found, "changes": moved}


PLAN = Plan("memorization", "Memorization against generalization in the causal plane", DEFAULT, FULL,
            KEYS, _runs, _outputs)

