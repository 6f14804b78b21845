"""`recurrent`: can EI be measured in a recurrent network, and how?

The object measured is the transition h_t -> h_{t+1} of an Elman nn.RNN (tanh, 8 state neurons)
learning running parity (sequences.py): written as a Linear layer and its tanh
(recurrent_transition.py), it is measured by the same engine as any layer, in two ways
(recurrent_measurement.py): with the input held fixed at each of the task's two symbols (+1, -1),
and with the input drawn as noise alongside the state. nn.GRU is not measured: its step is not a
Linear layer followed by an activation (recurrent_transition.py says why).
"""
import torch

from .driver import Plan
from .figures import bands, metric_bands
from .options import Scale
from .recurrent_measurement import measure_transition
from .runs import Run
from .sequences import ParityNetwork, parity_data, parity_metrics, parity_trainer
from .summary import final_epoch, select
from .tables import changes, final_values, vector_ei_note
from .verdicts import direction

HIDDEN = 8
HELD_INPUTS = (-1.0, 1.0)
TRAIN_SEQUENCES, TRAIN_LENGTH, TEST_SEQUENCES, TEST_LENGTH = 512, 12, 512, 24
BATCH_SIZE = 32
LEARNING_RATE = 0.01
TEST_SEED_OFFSET = 100
KEYS = ("network",)
QUANTITIES = ("ei", "ei_parts", "sensitivity", "degeneracy")

DEFAULT = Scale(seeds=5, epochs=60, recordings=11, samples=100_000, sensitivity_samples=2000)
FULL = Scale(seeds=5, epochs=200, recordings=21, samples=10_000_000, sensitivity_samples=5000)


def parity_run(seed, scale, options):
    """A Run of ParityNetwork(HIDDEN) on running parity, its transition measured."""
    from .measurement import PlaneSettings
    torch.manual_seed(seed)  # nn.RNN's and nn.Linear's initial weights
    net = ParityNetwork(HIDDEN).to(options.device)
    train = parity_data(TRAIN_SEQUENCES, TRAIN_LENGTH, seed, options.device)
    test = parity_data(TEST_SEQUENCES, TEST_LENGTH, seed + TEST_SEED_OFFSET, options.device)
    settings = PlaneSettings(scale.samples, scale.sensitivity_samples, options.bins)
    return Run(config={"network": f"RNN {HIDDEN}, tanh"}, seed=seed, epochs=scale.epochs,
               train_epoch=parity_trainer(net, torch.optim.Adam(net.parameters(), lr=LEARNING_RATE),
                                          *train, BATCH_SIZE, seed + 1),
               evaluate=parity_metrics(net, train, test),
               measure=lambda measure_seed: measure_transition(net.rnn, HELD_INPUTS, settings, measure_seed))


def _runs(scale, options):
    return [(f"RNN parity seed {seed}", lambda seed=seed: parity_run(seed, scale, options))
            for seed in range(scale.seeds)]


def _outputs(out):
    files, entries, rows, report, scale = out.files, out.entries, out.rows, out.report, out.scale
    title = f"RNN({HIDDEN}) transition h_t -> h_t+1, running parity"
    files["measures"] = bands({"RNN": entries}, QUANTITIES, out.path("transition_measures.png"), title)
    files["accuracy"] = metric_bands({"RNN": entries}, ("train_accuracy", "test_accuracy"), out.path("accuracy.png"),
                                     "running parity (test: sequences twice as long)")
    out.plane_figures("transition", entries, title, f"RNN({HIDDEN}) transition")
    last = final_epoch(rows)
    report.section(
        "What was measured",
        f"An Elman nn.RNN (1 input, {HIDDEN} tanh state neurons, biases) with a Linear readout, trained "
        f"{scale.epochs} epochs by Adam (learning rate {LEARNING_RATE}, batch {BATCH_SIZE}) on running parity: "
        f"{TRAIN_SEQUENCES} random bit streams of length {TRAIN_LENGTH} fed as +-1, the target at every step the "
        f"parity of the bits so far; test accuracy on {TEST_SEQUENCES} new streams of length {TEST_LENGTH}. "
        f"{scale.seeds} seeds (initial weights, data, batch order).",
        "The measured object is the transition h_t -> h_{t+1} = tanh(W_hh h_t + W_ih x_t + b), a Linear "
        "layer and its tanh, built from the RNN's weights at each recording and measured by the engine "
        "(shuffle estimator) with the state's noise in (-1, 1) and outputs binned over (-1, 1):",
        "- input held at -1 and at +1 (rows 1 and 2): Linear(8, 8) with bias W_ih x + b; causal_plane, with "
        "its standard errors;\n"
        "- input as noise (row 3): Linear(9, 8) over [h_t, x_t], both uniform noise in (-1, 1); EI = "
        "I(h_t; h_{t+1}) with the input's noise part of the channel (eis_between_groups, the state as the "
        "input group), EI_parts = the state rows of ei_parts_matrix, sensitivity = the state rows of "
        "sensitivity_matrix (one state neuron fires, the rest and the input at 0).",
        "Numbers are means over seeds with 95% Student t intervals. nn.GRU is not measured: its step "
        "multiplies gates (r * (W_hn h + b_hn)) and mixes in the old state ((1 - z) * n + z * h), so it is not "
        "a Linear layer followed by an elementwise activation, which is what the engine measures; a GRU "
        "transition would need the engine to measure an arbitrary module.")
    report.section(f"The transition after training (epoch {last})",
                   final_values(entries, KEYS, (*QUANTITIES, "integration", "test_accuracy"), last),
                   vector_ei_note(entries, scale.samples, out.options.bins))
    text, moved = changes(rows, [(entries[0]["network"],)], KEYS, QUANTITIES)
    report.section(f"How training moved the transition (epoch {last} - epoch 0, paired by seed)", text)
    names = {e["layer"]: e["name"] for e in entries}
    network = entries[0]["network"]
    lines = [f"- {names[layer]}: EI_parts {direction(*moved[(network,), layer, 'ei_parts'], 'rose', 'fell')}, "
             f"sensitivity {direction(*moved[(network,), layer, 'sensitivity'], 'rose', 'fell')}, EI "
             f"{direction(*moved[(network,), layer, 'ei'], 'rose', 'fell')} over training"
             for layer in sorted(names) if ((network,), layer, "ei_parts") in moved]
    test = select(entries, epoch=last, layer=0)[0]
    report.section(
        "The answer, as measured",
        "Yes, for an Elman RNN: its transition is a Linear layer and an activation, so the engine measures it "
        "exactly as it measures a feedforward layer (tests/test_experiments.py compares the module with "
        "nn.RNN's own step and the engine with a plain plug-in reference on the same samples). What the "
        "input does during the measurement must be chosen: held at a value (one map per input symbol) or "
        f"drawn as noise (one noisy channel). Here the networks reached test accuracy "
        f"{test['test_accuracy']:.3f} ± {test['test_accuracy_ci95']:.3f} on streams twice the training length, "
        "and over training:", "\n".join(lines))
    report.section(
        "What this shows and what it does not",
        "Shows: that a recurrent transition has a place in the causal plane that moves during training, "
        "measured with the input held at each symbol and with the input as noise, with intervals over seeds.",
        "Does not show: gated recurrent networks (GRU, LSTM) or several layers; and vector EI of the 8-neuron "
        "state is limited by the samples (note above), so EI_parts and sensitivity are the resolved measures "
        "at the default scale. The input-as-noise row draws the input from the state's range (-1, 1), where "
        "the task's inputs (+-1) are the two ends.")
    return {"changes": moved}


PLAN = Plan("recurrent", "Effective information of a recurrent transition", DEFAULT, FULL, KEYS, _runs, _outputs)

