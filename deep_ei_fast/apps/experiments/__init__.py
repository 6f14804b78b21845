"""The paper's open questions, one command each: `python -m deep_ei_fast experiment NAME`.

    from deep_ei_fast.apps.experiments import Options, run_experiment, run_dropout
    result = run_experiment("dropout", "out/dropout", Options(seeds=2))
    result = run_dropout("out/dropout", Options(seeds=2))      # the same
    result.files["report"], result.findings

Each experiment trains several seeds of its networks, records every layer's causal plane during
training (shuffle estimator with standard errors) and writes a folder: rows.csv, summary.csv,
PNG figures, GIFs and report.md (docs/experiments.rst).
"""
from .depth import PLAN as DEPTH
from .driver import Result, conduct
from .dropout import PLAN as DROPOUT
from .memorization import PLAN as MEMORIZATION
from .options import Options, Scale
from .paper import PLAN as PAPER
from .recurrent import PLAN as RECURRENT

PLANS = {plan.name: plan for plan in (PAPER, DROPOUT, MEMORIZATION, DEPTH, RECURRENT)}
__all__ = ["Options", "Result", "Scale", "PLANS", "run_experiment", *(f"run_{name}" for name in PLANS)]


def run_experiment(name, out_dir, options=None, log=print):
    """Runs experiment ``name`` (one of PLANS) into ``out_dir`` (made if missing) with ``options``
    (None: the default scale); ``log`` gets the progress lines. Returns its driver.Result."""
    if name not in PLANS:
        raise ValueError(f"experiment {name!r} is not one of {', '.join(PLANS)}")
    return conduct(PLANS[name], out_dir, options, log)


def _runner(name):
    def run(out_dir, options=None, log=print):
        return run_experiment(name, out_dir, options, log)
    run.__name__ = run.__qualname__ = f"run_{name}"
    run.__doc__ = f"run_experiment({name!r}, out_dir, options, log): {PLANS[name].title}."
    return run


run_paper = _runner("paper")
run_dropout = _runner("dropout")
run_memorization = _runner("memorization")
run_depth = _runner("depth")
run_recurrent = _runner("recurrent")
