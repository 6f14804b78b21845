"""What every experiment does in the same way: check its options, train and record each
(configuration, seed) run, write rows.csv (every row) and summary.csv (means over seeds with 95%
intervals), then hand the rows to the experiment for its figures and report.md."""
import os
import time
from dataclasses import dataclass, field

from .figures import animation, plane
from .options import Options, check_options
from .report import Report, load_average, now, write_csv
from .runs import record_run
from .summary import aggregate

MEASURE_SEED_OFFSET = 1000  # the philox seed of a run's measurements: training seed + this


@dataclass
class Result:
    """What an experiment wrote and found: what :func:`run_experiment` returns.

    Attributes
    ----------
    rows : list of dict
        Every recorded row (``rows.csv``): the configuration's columns, ``training_seed``,
        ``epoch``, the metrics, then the :class:`~deep_ei_fast.PlaneRow` fields.
    entries : list of dict
        One per configuration, epoch and layer (``summary.csv``): each measure's mean over
        seeds (``q``), standard error (``q_sem``) and 95% Student t half-width (``q_ci95``).
    files : dict of str to str
        The files written, by kind (``"rows"``, ``"summary"``, ``"report"``, the figures).
    findings : dict
        The headline numbers of the report, each a (mean, 95% half-width) pair or a plain
        value.

    Examples
    --------
    >>> from deep_ei_fast.apps.experiments import Result
    >>> result = Result(rows=[], entries=[], files={"report": "out/report.md"})
    >>> result.files["report"], result.findings
    ('out/report.md', {})
    """
    rows: list
    entries: list
    files: dict
    findings: dict = field(default_factory=dict)


@dataclass
class Plan:
    """An experiment: its name, title, scales, the columns that name a configuration, the runs
    it trains (a function of the scale and options returning (description, make_run) pairs, a run
    built only when its turn comes) and the function writing its figures and report sections."""
    name: str
    title: str
    default: object
    full: object
    keys: tuple
    runs: object  # (scale, options) -> [(description, () -> Run)]
    outputs: object  # (ExperimentOutput) -> findings dict


@dataclass
class ExperimentOutput:
    """What an experiment's outputs function is given: the rows, their aggregate, the scale
    and options, the folder, the files written so far (it adds its own) and the report."""
    rows: list
    entries: list
    scale: object
    options: Options
    folder: str
    files: dict
    report: Report

    def path(self, name):
        return os.path.join(self.folder, name)

    def plane_figures(self, name, entries, title, gif_title=None):
        """plane_<name>.png and (unless --no-gif) plane_<name>.gif of one configuration's entries;
        the GIF's frames are titled "<gif_title or title>: epoch N" (short enough to fit)."""
        self.files[f"plane_{name}"] = plane(entries, self.path(f"plane_{name}.png"), title)
        if self.options.gif:
            self.files[f"gif_{name}"] = animation(entries, self.path(f"plane_{name}.gif"), gif_title or title)


def conduct(plan, out_dir, options=None, log=print):
    """Runs ``plan`` into ``out_dir`` (made if missing); returns a Result."""
    options = check_options(options if options is not None else Options())
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ValueError(f"out_dir {out_dir!r} exists and is not a folder")
    scale = options.scale(plan.default, plan.full)
    os.makedirs(out_dir, exist_ok=True)
    started, load_before, start = now(), load_average(), time.perf_counter()
    runs = plan.runs(scale, options)
    log(f"{plan.name}: {len(runs)} runs of {scale.epochs} epochs, {scale.recordings} recordings of "
        f"{scale.samples:,} samples per layer (load average {load_before})")
    rows = []
    for k, (description, make_run) in enumerate(runs):
        run = make_run()
        rows += record_run(run, scale.recordings, run.seed + MEASURE_SEED_OFFSET, options.progress,
                           f"[{k + 1}/{len(runs)}] {description}")
        last = rows[-1]
        log(f"  [{k + 1}/{len(runs)}] {description}: " + ", ".join(
            f"{m} {last[m]:.3f}" for m in ("train_accuracy", "test_accuracy") if m in last))
    entries = aggregate(rows, plan.keys)
    files = {"rows": write_csv(rows, os.path.join(out_dir, "rows.csv")),
             "summary": write_csv(entries, os.path.join(out_dir, "summary.csv"))}
    report = Report(plan.title, scale, options, started, load_before)
    output = ExperimentOutput(rows, entries, scale, options, out_dir, files, report)
    findings = plan.outputs(output)
    files["report"] = report.write(os.path.join(out_dir, "report.md"), time.perf_counter() - start)
    log(f"{plan.name}: wrote {len(files)} files into {out_dir} in {(time.perf_counter() - start) / 60:.1f} min")
    return Result(rows, entries, files, findings)
