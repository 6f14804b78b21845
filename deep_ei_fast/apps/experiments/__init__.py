"""The paper's open questions, one command each: `python -m deep_ei_fast experiment NAME`.

    from deep_ei_fast.apps.experiments import Options, run_experiment
    result = run_experiment("dropout", "out/dropout", Options(seeds=2))
    result.files["report"], result.findings

Each experiment trains several seeds of its networks, records every layer's causal plane during
training (shuffle estimator with standard errors) and writes a folder: rows.csv, summary.csv,
PNG figures, a GIF and report.md (docs/experiments.rst).
"""
from .depth import PLAN as DEPTH, run_depth  # noqa: F401
from .driver import Result  # noqa: F401
from .dropout import PLAN as DROPOUT, run_dropout  # noqa: F401
from .memorization import PLAN as MEMORIZATION, run_memorization  # noqa: F401
from .options import Options, Scale  # noqa: F401
from .paper import PLAN as PAPER, run_paper  # noqa: F401
from .recurrent import PLAN as RECURRENT, run_recurrent  # noqa: F401

PLANS = {plan.name: plan for plan in (PAPER, DROPOUT, MEMORIZATION, DEPTH, RECURRENT)}


def run_experiment(name, out_dir, options=None, log=print):
    """Runs experiment ``name`` (one of PLANS) into ``out_dir``; returns its Result."""
    from .driver import conduct
    if name not in PLANS:
        raise ValueError(f"experiment {name!r} is not one of {', '.join(PLANS)}")
    return conduct(PLANS[name], out_dir, options, log)
