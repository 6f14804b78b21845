"""`deep-ei-fast experiment NAME`: one of the paper's open questions (apps/experiments/)."""
import os

from .experiments import PLANS, Options


def add_parser(sub, positive_int):
    """Adds the ``experiment`` command to the subparsers ``sub``."""
    parser = sub.add_parser(
        "experiment", help="run one of the paper's open questions: " + ", ".join(PLANS),
        description="Trains several seeds of an experiment's networks, records every layer's causal plane "
                    "during training (shuffle estimator with standard errors) and writes rows.csv, "
                    "summary.csv, PNG figures, GIF animations and report.md into --out. The default scale "
                    "stays within about ten minutes on a 2-core CPU; --full uses the paper's 1e7 samples per "
                    "layer (minutes per recording on a CPU, meant for a GPU: --device cuda).")
    parser.add_argument("name", choices=tuple(PLANS), metavar="NAME",
                        help=f"the experiment: {', '.join(PLANS)}")
    parser.add_argument("--out", metavar="DIR", help="output folder (default ./experiment_NAME)")
    parser.add_argument("--full", action="store_true", help="the paper's settings (1e7 samples, more seeds, "
                        "epochs and recordings)")
    parser.add_argument("--seeds", type=positive_int, metavar="N", help="training seeds per configuration")
    parser.add_argument("--epochs", type=positive_int, metavar="N", help="training epochs per run")
    parser.add_argument("--recordings", type=positive_int, metavar="N",
                        help="recordings per run (epoch 0 and the last included)")
    parser.add_argument("--samples", type=positive_int, metavar="N",
                        help="noise samples per layer for EI and EI_parts")
    parser.add_argument("--sensitivity-samples", type=positive_int, metavar="N",
                        help="noise samples per input neuron")
    parser.add_argument("--bins", type=positive_int, default=8, metavar="N", help="bins in and out (default 8)")
    parser.add_argument("--device", default="cpu", metavar="DEVICE",
                        help="where the models are trained and measured (default cpu)")
    parser.add_argument("--no-gif", action="store_true", help="skip the animations")
    parser.add_argument("--quiet", action="store_true", help="no progress bars or progress lines")
    return parser


def run(args, usage_error):
    """Runs the experiment ``args`` name; bad options raise ``usage_error`` (exit 2)."""
    out = args.out or f"experiment_{args.name}"
    if os.path.exists(out) and not os.path.isdir(out):
        raise usage_error(f"--out {out!r} exists and is not a folder")
    options = Options(full=args.full, seeds=args.seeds, epochs=args.epochs, recordings=args.recordings,
                      samples=args.samples, sensitivity_samples=args.sensitivity_samples, bins=args.bins,
                      device=args.device, gif=not args.no_gif, progress=not args.quiet)
    from .experiments import run_experiment
    from .experiments.options import check_options
    try:
        check_options(options)
    except ValueError as error:
        raise usage_error(f"--{str(error).replace('_', '-')}") from None
    log = (lambda line: None) if args.quiet else (lambda line: print(line, flush=True))
    result = run_experiment(args.name, out, options, log)
    print(f"wrote {result.files['report']}")
