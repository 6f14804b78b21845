"""The paper's open questions, one command each: ``python -m deep_ei_fast experiment NAME``::

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
    """Runs one of the paper's open questions as an experiment and writes its results into a folder.

    Trains every seed of the experiment's networks, records every layer's causal plane during
    training (:func:`~deep_ei_fast.causal_plane`, shuffle estimator with standard errors) and
    writes ``rows.csv``, ``summary.csv`` (means over seeds with 95% Student t intervals), PNG
    figures, GIFs and ``report.md`` (:doc:`experiments`). The default scale takes about ten
    minutes on a 2-core CPU; ``Options(full=True)`` is the paper's measurement, meant for a GPU.
    ``python3 -m deep_ei_fast experiment NAME`` runs the same.

    Parameters
    ----------
    name : str
        The experiment, a key of ``PLANS``: ``"paper"``, ``"dropout"``, ``"memorization"``,
        ``"depth"`` or ``"recurrent"``.
    out_dir : str or os.PathLike
        The folder to write into, made if missing.
    options : Options, optional
        The scale (seeds, epochs, recordings, samples) and where it runs. None: ``Options()``,
        the experiment's default scale.
    log : callable, default print
        Called with each progress line (one per run, and a summary).

    Returns
    -------
    Result
        Every row, the aggregated entries, the files written by kind and the headline numbers.

    Raises
    ------
    ValueError
        An unknown ``name``, an ``out_dir`` that exists and is not a folder, or an option out
        of its range (naming it, before any work).
    TypeError
        ``options`` that is not an :class:`Options`.

    Examples
    --------
    A run trains for minutes, so it is not run here (``tests/test_experiments.py`` runs every
    experiment at a tiny scale):

    >>> from deep_ei_fast.apps.experiments import PLANS, Options, run_experiment
    >>> sorted(PLANS)
    ['depth', 'dropout', 'memorization', 'paper', 'recurrent']
    >>> result = run_experiment("memorization", "out/memorization", Options(seeds=2))  # doctest: +SKIP
    >>> result.files["report"]  # doctest: +SKIP
    'out/memorization/report.md'
    >>> run_experiment("speed", "out/speed")
    Traceback (most recent call last):
    ...
    ValueError: experiment 'speed' is not one of paper, dropout, memorization, depth, recurrent
    """
    if name not in PLANS:
        raise ValueError(f"experiment {name!r} is not one of {', '.join(PLANS)}")
    return conduct(PLANS[name], out_dir, options, log)


_RUNNER_DOC = """{title}.

    ``run_experiment({name!r}, out_dir, options, log)``: see :func:`run_experiment` and
    :doc:`experiments/{name}`.

    Parameters
    ----------
    out_dir : str or os.PathLike
        The folder to write into, made if missing.
    options : Options, optional
        The scale and where it runs. None: ``Options()``, the default scale.
    log : callable, default print
        Called with each progress line.

    Returns
    -------
    Result
        Every row, the aggregated entries, the files written by kind and the headline numbers.

    Raises
    ------
    ValueError
        An ``out_dir`` that exists and is not a folder, or an option out of its range.
    TypeError
        ``options`` that is not an :class:`Options`.

    Examples
    --------
    >>> from deep_ei_fast.apps.experiments import Options, run_{name}
    >>> result = run_{name}("out/{name}", Options(seeds=2))  # doctest: +SKIP
    >>> run_{name}("out/{name}", Options(seeds=0))
    Traceback (most recent call last):
    ...
    ValueError: seeds must be a positive integer, got 0
    """


def _runner(name):
    def run(out_dir, options=None, log=print):
        return run_experiment(name, out_dir, options, log)
    run.__name__ = run.__qualname__ = f"run_{name}"
    run.__doc__ = _RUNNER_DOC.format(name=name, title=PLANS[name].title)
    return run


run_paper = _runner("paper")
run_dropout = _runner("dropout")
run_memorization = _runner("memorization")
run_depth = _runner("depth")
run_recurrent = _runner("recurrent")
