"""The command line: `python -m deep_ei_fast` or `deep-ei-fast`.

    deep-ei-fast demo [--out DIR] [--full] ...     train the paper's networks, record, plot
    deep-ei-fast measure MODEL [...]               the causal plane of a saved model or a class
    deep-ei-fast matrix MODEL --layer N --out DIR  one layer's EI_parts matrix and statistics
    deep-ei-fast benchmark [--quick] [...]         causal_plane against layer-by-layer calls
    deep-ei-fast experiment NAME [--full] ...      one of the paper's open questions (experiment_command.py)

Exit codes: EXIT_CODES (printed by --help; docs/cli.rst is checked against them and against
each command's synopsis, see synopsis()).
"""
import argparse
import json
import math
import os
import sys

from ..estimators.registry import ESTIMATORS
from . import experiment_command

EXIT_OK, EXIT_DISAGREE, EXIT_USAGE, EXIT_MODEL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_DISAGREE: "benchmark found that causal_plane and the layer-by-layer calls disagree",
    EXIT_USAGE: "bad arguments (the message names the argument)",
    EXIT_MODEL: "a model that is missing, unreadable, does not fit its description or cannot be measured",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
}


class UsageError(Exception):
    """A bad argument: exit code 2."""


class ModelFileError(Exception):
    """A model file that cannot be used: exit code 3."""


def _positive_int(text):
    """A positive integer, written as one or as a float with an integer value ("1e6")."""
    value = _integer_value(text)
    if value is None or value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _integer_value(text):
    """The integer `text` writes ("12", "1e6"), or None: not a number, not whole, inf or nan."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return None
    return int(number) if math.isfinite(number) and number == int(number) else None


SEED_LIMIT = 2**64  # philox keys are 64-bit; torch.manual_seed takes the same range


def _seed(text):
    """An integer in [0, 2**64): a philox key, or torch.manual_seed's seed (--rng torch)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not 0 <= value < SEED_LIMIT:
        raise argparse.ArgumentTypeError(f"expected an integer in [0, 2**64), got {text!r}")
    return value


def _range(text):
    try:
        low, high = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH (e.g. 0,1), got {text!r}") from None
    if not (math.isfinite(low) and math.isfinite(high)):
        raise argparse.ArgumentTypeError(f"expected finite LOW and HIGH, got {text!r}")
    if not low < high:
        raise argparse.ArgumentTypeError(f"expected LOW < HIGH, got {text!r}")
    return (low, high)


def _int_list(text):
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if len(values) < 1 or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def _json_object(text):
    try:
        value = json.loads(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a JSON object, e.g. '{{\"width\": 64}}', got {text!r}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


def _add_measure_options(parser, samples_default, seed_help="philox seed (default 0)"):
    parser.add_argument("--samples", type=_positive_int, default=samples_default, metavar="N",
                        help=f"noise samples per layer for EI and EI_parts (default {samples_default:,})")
    parser.add_argument("--sensitivity-samples", type=_positive_int, default=5000, metavar="N",
                        help="noise samples per input neuron for sensitivity (default 5000)")
    parser.add_argument("--seed", type=_seed, default=0, metavar="N", help=seed_help)


def _add_model_options(parser):
    """How MODEL is read (apps/saved_model.py): measure's and matrix's."""
    parser.add_argument("model", metavar="MODEL",
                        help="a file saved with torch.save (a state dict of an nn.Sequential of Linear "
                             "layers, or a whole module), or a class package.module:Name")
    parser.add_argument("--arch", type=_int_list, metavar="WIDTHS",
                        help="optional check of a state dict's layer widths, e.g. 25,6,6,6,5 (they are "
                             "read from the file)")
    parser.add_argument("--activation", choices=("sigmoid", "tanh", "relu", "none"), default="sigmoid",
                        help="activation after every Linear of a state dict (default sigmoid)")
    parser.add_argument("--bias", action="store_true",
                        help="optional check that a state dict's Linear layers have biases (they are read "
                             "from the file)")
    parser.add_argument("--allow-pickle", action="store_true",
                        help="allow loading a whole pickled nn.Module (runs code from the file)")
    parser.add_argument("--weights", metavar="FILE",
                        help="a state dict to load into the class MODEL names (default: its initial weights)")
    parser.add_argument("--model-kwargs", type=_json_object, metavar="JSON",
                        help="keyword arguments of the class MODEL names, a JSON object")
    parser.add_argument("--input-shape", type=_int_list, metavar="SHAPE",
                        help="example input shape with the batch dimension, e.g. 1,25 (default: "
                             "from the first Linear layer)")


def _add_binning_options(parser):
    parser.add_argument("--bins", type=_positive_int, default=8, metavar="N", help="bins in and out (default 8)")
    parser.add_argument("--in-range", type=_range, metavar="LOW,HIGH",
                        help="input noise range (default: topology)")
    parser.add_argument("--out-range", type=_range, metavar="LOW,HIGH", help="output range (default: topology)")


def _add_estimator_options(parser, default):
    parser.add_argument("--estimator", choices=ESTIMATORS, default=default,
                        help=f"MI estimator (default {default}); see docs/estimators.rst")
    parser.add_argument("--shuffles", type=_positive_int, default=1, metavar="N",
                        help="null pairings averaged by --estimator shuffle (default 1)")


def _add_device_option(parser):
    parser.add_argument("--device", metavar="DEVICE",
                        help="where to measure: cpu, cuda or cuda:N; the model and its example input "
                             "are moved there (default: the model's device: where a file's tensors "
                             "were saved, or where the class made them; the CPU when that is a GPU "
                             "this machine lacks)")


def _add_matrix_parser(sub):
    matrix = sub.add_parser(
        "matrix", help="one layer's EI_parts matrix and estimator statistics, saved as .npy",
        description="Measures one Linear/Conv2d layer of a saved model (MODEL as for measure) with "
                    "pairwise_stats and writes ei_parts_matrix.npy (the estimator's MI of every "
                    "pair, bits), plugin_mi.npy, standard_error.npy, p_value.npy, significant.npy "
                    "and metadata.json into --out. Noise is philox (seeded by --seed). Runs under "
                    "torchrun: with WORLD_SIZE > 1 it starts the default process group and only "
                    "rank 0 writes.")
    _add_model_options(matrix)
    matrix.add_argument("--layer", type=int, required=True, metavar="N",
                        help="the layer's number in measure's output (causal_plane's rows, from 0)")
    matrix.add_argument("--out", required=True, metavar="DIR", help="output folder (made if missing)")
    matrix.add_argument("--samples", type=_positive_int, default=100_000, metavar="N",
                        help="noise samples (default 100,000)")
    matrix.add_argument("--seed", type=_seed, default=0, metavar="N", help="philox seed (default 0)")
    _add_binning_options(matrix)
    _add_estimator_options(matrix, "plugin")
    matrix.add_argument("--q", type=float, default=0.05, metavar="Q",
                        help="Benjamini-Hochberg false discovery rate of significant.npy (default 0.05)")
    matrix.add_argument("--memory-bound", type=_positive_int, metavar="BYTES",
                        help="bytes of pair counters held at once (default: the device's); more "
                             "pairs are counted in tiles, one pass over the samples each")
    matrix.add_argument("--checkpoint", metavar="DIR",
                        help="folder of finished tiles: a run stopped and started again with the "
                             "same arguments skips them (docs/long_runs.rst)")
    _add_device_option(matrix)
    matrix.add_argument("--quiet", action="store_true", help="no progress bar")


def build_parser():
    from .demo import DEFAULT_RECORDINGS, TASKS
    parser = argparse.ArgumentParser(
        prog="deep-ei-fast", description="Effective information and the causal plane of PyTorch networks.",
        epilog="Exit codes: " + "; ".join(f"{code} {meaning}" for code, meaning in EXIT_CODES.items()) + ".")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    demo = sub.add_parser(
        "demo", help="train the paper's Iris and digits networks, recording the causal plane",
        description="Trains the paper's Iris (4-5-5-3) and digits (25-6-6-6-5) networks on data "
                    "bundled with scikit-learn, records every layer's causal plane during training "
                    "and writes CSV, PNG and GIF files into --out, then prints a summary.")
    demo.add_argument("--out", default="causal_plane_demo", metavar="DIR",
                      help="output folder (default ./causal_plane_demo)")
    demo.add_argument("--tasks", default="iris,digits", metavar="TASKS",
                      help=f"comma-separated tasks among {', '.join(TASKS)} (default both)")
    demo.add_argument("--full", action="store_true",
                      help="the paper's settings: 1e7 samples, recording every epoch (digits) or every "
                           "10 epochs (iris); takes hours")
    demo.add_argument("--epochs", type=_positive_int, metavar="N",
                      help="training epochs (default: iris 4000, digits 500)")
    demo.add_argument("--every", type=_positive_int, metavar="N",
                      help=f"record every N epochs (default: epochs / {DEFAULT_RECORDINGS})")
    _add_measure_options(demo, 1_000_000)
    demo.add_argument("--no-gif", action="store_true", help="skip the animated GIF")
    demo.add_argument("--quiet", action="store_true", help="no per-recording progress lines")

    measure = sub.add_parser(
        "measure", help="the causal plane of a saved model or of a class",
        description="Measures every Linear/Conv2d layer of a model. MODEL is a state dict saved with "
                    "torch.save(model.state_dict(), path) of an nn.Sequential of Linear layers (their "
                    "widths and biases are read from the file; --activation follows each), a whole "
                    "nn.Module saved with torch.save(model, path) (loading it runs pickled code: pass "
                    "--allow-pickle if you trust the file), or a class package.module:Name (called "
                    "with --model-kwargs, loaded with --weights), for any architecture.")
    _add_model_options(measure)
    _add_binning_options(measure)
    measure.add_argument("--rng", choices=("philox", "torch"), default="philox",
                         help="noise: philox (counter-based, seeded by --seed; the default) or torch "
                              "(deep-ei 0.7.0's own draws from torch's generator, for its exact numbers)")
    _add_device_option(measure)
    measure.add_argument("--csv", metavar="FILE", help="also write the rows to this CSV file (its folder must exist)")
    _add_estimator_options(measure, "plugin")
    measure.add_argument("--standard-errors", action="store_true",
                         help="also give the standard errors of EI, EI_parts and sensitivity")
    _add_measure_options(measure, 1_000_000, seed_help="philox seed (default 0); with --rng torch, "
                                                       "torch.manual_seed(SEED) is called before measuring")

    bench = sub.add_parser(
        "benchmark", help="time causal_plane against layer-by-layer calls",
        description="Times causal_plane against ei + ei_parts + sensitivity called layer by layer "
                    "on the paper's 25-6-6-6-5 network (same seed, same values) and prints a "
                    "markdown table. benchmarks/compare.py in the repository compares the engine "
                    "with deep-ei 0.7.0 and plain torch.")
    bench.add_argument("--quick", action="store_true", help="1e5 samples and one repeat")
    bench.add_argument("--repeats", type=_positive_int, default=3, metavar="N",
                       help="timings of each way (default 3)")
    bench.add_argument("--torch-samples", type=int, default=100_000, metavar="N",
                       help="samples of the comparison with deep-ei's own draws (rng='torch', "
                            "batch_size 20; default 100,000; 0: skip it)")
    bench.add_argument("--output", metavar="FILE", help="also write the markdown report to this file")
    _add_measure_options(bench, 1_000_000)
    _add_matrix_parser(sub)
    experiment_command.add_parser(sub, _positive_int)
    return parser


def _run_demo(args):
    from .demo import TASKS, Settings, run_demo
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    unknown = [t for t in tasks if t not in TASKS]
    if unknown or not tasks:
        raise UsageError(f"--tasks: unknown task(s) {unknown or tasks!r}; choose among {', '.join(TASKS)}")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise UsageError(f"--out {args.out!r} exists and is not a folder")
    settings = Settings(samples=args.samples, sensitivity_samples=args.sensitivity_samples,
                        every=args.every, epochs=args.epochs, seed=args.seed, full=args.full,
                        gif=not args.no_gif, progress=not args.quiet)
    run_demo(args.out, tasks, settings, lambda line: print(line, flush=True))


def _check_csv_path(path):
    """--csv must name a file that can be written: checked before the (long) measurement."""
    from ..plane.output_file import check_output_file
    try:
        check_output_file(path, "--csv")
    except ValueError as error:
        raise UsageError(str(error)) from None


def _write_csv(plane, path):
    """The rows into --csv; a failure there (a full disk) is one line, not a traceback."""
    try:
        plane.to_csv(path)
    except OSError as error:
        raise UsageError(f"--csv {path!r}: cannot write the rows ({error.strerror}); they are "
                         "printed above") from None


def _ranges_used(args, plane):
    """Lines naming each layer's input and output ranges, and where they came from."""
    from .matrix_command import layer_label
    lines = []
    for row in plane:
        sources = ["--in-range" if args.in_range else "topology",
                   "--out-range" if args.out_range else "topology"]
        lines.append(f"  layer {row.layer} {layer_label(row.name, row.module)}: input "
                     f"({row.in_low:g}, {row.in_high:g}) [{sources[0]}], output ({row.out_low:g}, "
                     f"{row.out_high:g}) [{sources[1]}]")
    return ["ranges used (topology: from the activation before / after the layer; none "
            "recorded: (-10, 10)):", *lines]


def _requested_device(args):
    """--device as a torch.device (None: not given), checked before loading: a bad --device is
    a usage error."""
    from ..api.arguments import check_device
    if args.device is None:
        return None
    try:
        return check_device(args.device)
    except ValueError as error:
        raise UsageError(f"--device: {error}") from None


def _model_device(requested, loaded):
    """--device, or else the model's own device type (the CPU, with a note, when it is one this
    machine cannot use)."""
    import torch

    from ..api.arguments import check_device
    if requested is not None:
        return requested
    try:
        return check_device(loaded.device_type)
    except ValueError as error:
        print(f"note: the model's tensors are on {loaded.device_type}, which cannot be used here "
              f"({error}): measuring on the CPU (--device to choose)", file=sys.stderr)
        return torch.device("cpu")


def _load(args):
    """The LoadedModel of MODEL, or ModelFileError (exit 3)."""
    from .saved_model import load_model
    try:
        return load_model(args.model, arch=args.arch, activation=args.activation, bias=args.bias,
                          allow_pickle=args.allow_pickle, input_shape=args.input_shape,
                          weights=args.weights, model_kwargs=args.model_kwargs)
    except (OSError, ValueError, TypeError, RuntimeError) as error:
        raise ModelFileError(str(error)) from None


def _run_measure(args):
    import torch

    from ..plane.measure import causal_plane
    if args.csv:
        _check_csv_path(args.csv)
    requested = _requested_device(args)
    loaded = _load(args)
    device = _model_device(requested, loaded)
    print(f"model: {loaded.description}; measured on {device}")
    model = loaded.model.to(device)  # causal_plane measures on `device`: the model must be there too
    seed = args.seed
    if args.rng == "torch":  # deep-ei's draws come from torch's global generator
        torch.manual_seed(seed)
        seed = None
    try:
        plane = causal_plane(model, torch.zeros(loaded.input_shape, device=device), samples=args.samples,
                             sensitivity_samples=args.sensitivity_samples, in_range=args.in_range,
                             out_range=args.out_range, in_bins=args.bins, out_bins=args.bins,
                             rng=args.rng, seed=seed, device=device,
                             estimator=args.estimator, shuffles=args.shuffles,
                             standard_errors=args.standard_errors)
    except (ValueError, TypeError) as error:
        message = str(error)
        if message.startswith("causal_plane:"):
            raise ModelFileError(f"{args.model}: {message}") from None
        raise UsageError(message) from None
    print(plane)
    print("\n".join(_ranges_used(args, plane)))
    if args.csv:
        _write_csv(plane, args.csv)
        print(f"wrote {args.csv}")


def _run_matrix(args):
    from . import matrix_command
    problem = matrix_command.check_out_folder(args.out)
    if problem is None and args.checkpoint and os.path.exists(args.checkpoint) and not os.path.isdir(args.checkpoint):
        problem = f"--checkpoint {args.checkpoint!r} exists and is not a folder"
    if problem is None and not 0 < args.q < 1:
        problem = f"--q must be in (0, 1), got {args.q:g}"
    if problem:
        raise UsageError(problem)
    requested = _requested_device(args)
    loaded = _load(args)
    device = _model_device(requested, loaded)
    try:
        matrix_command.run_matrix(args, loaded.model, loaded.input_shape, device,
                                  lambda line: print(line, flush=True), description=loaded.description)
    except (ValueError, TypeError) as error:
        raise UsageError(str(error)) from None


def _run_benchmark(args):
    from .plane_benchmark import run
    samples, repeats, torch_samples = ((100_000, 1, 10_000) if args.quick
                                       else (args.samples, args.repeats, args.torch_samples))
    report, same = run(samples, args.sensitivity_samples, repeats, torch_samples)
    print()
    print(report)
    if args.output:
        directory = os.path.dirname(args.output)
        if directory:
            os.makedirs(directory, exist_ok=True)
        with open(args.output, "w") as handle:
            handle.write(report)
        print(f"wrote {args.output}")
    if not same:
        print("error: causal_plane and the layer-by-layer calls disagree", file=sys.stderr)
        return EXIT_DISAGREE
    return EXIT_OK


def synopsis(parser, command):
    """One line of `command`'s arguments, as docs/cli.rst shows it (a test compares them):
    positionals, then the options in the order --help lists them."""
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    items = [command]
    actions = subparsers.choices[command]._actions
    for action in [a for a in actions if not a.option_strings] + [a for a in actions if a.option_strings]:
        if isinstance(action, argparse._HelpAction):
            continue
        if not action.option_strings:
            items.append(action.metavar or action.dest.upper())
            continue
        text = max(action.option_strings, key=len)
        if action.nargs != 0:
            text += " " + (action.metavar or "|".join(map(str, action.choices or ())) or action.dest.upper())
        items.append(text if action.required else f"[{text}]")
    return " ".join(items)


COMMANDS = {"demo": _run_demo, "measure": _run_measure, "benchmark": _run_benchmark,
            "matrix": _run_matrix, "experiment": lambda args: experiment_command.run(args, UsageError)}


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)  # exits with 2 on bad arguments
    try:
        return COMMANDS[args.command](args) or EXIT_OK
    except UsageError as error:
        print(f"{parser.prog} {args.command}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except ModelFileError as error:
        print(f"{parser.prog} {args.command}: error: {error}", file=sys.stderr)
        return EXIT_MODEL
    except KeyboardInterrupt:
        print(f"{parser.prog} {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def entry_point():
    sys.exit(main())
