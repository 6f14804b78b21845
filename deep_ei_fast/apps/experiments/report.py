"""report.md and the CSV files of an experiment's folder.

Every report opens with how it was made (command, machine, load, date, wall time, scale) and
then the experiment's own sections: what was measured, the numbers with 95% intervals over
seeds, and what they do and do not show.
"""
import csv
import datetime
import os
import platform
import sys

import torch


def write_csv(rows, path):
    """Every row (dicts with the same keys) into ``path``, columns in the first row's order."""
    columns = list(rows[0]) if rows else []
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def load_average():
    try:
        return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        return "unknown"


def machine(device):
    """A line naming the machine the run used."""
    name = f"{platform.node() or 'unknown host'}, {os.cpu_count()} CPUs, {platform.machine()}"
    if str(device).startswith("cuda") and torch.cuda.is_available():
        name += f", {torch.cuda.get_device_name(torch.device(device))}"
    return f"{name}; torch {torch.__version__}, {torch.get_num_threads()} threads"


def table(header, rows):
    """A markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


class Report:
    """The lines of report.md: a provenance header, then the sections the experiment adds."""

    def __init__(self, title, scale, options, started, load_before):
        self.lines = [f"# {title}", ""]
        self.scale, self.options = scale, options
        self.started, self.load_before = started, load_before

    def section(self, heading, *paragraphs):
        self.lines += [f"## {heading}", ""]
        for paragraph in paragraphs:
            self.lines += [paragraph, ""]

    def write(self, path, wall_seconds):
        s, o = self.scale, self.options
        provenance = [
            f"- command: `{' '.join(['python -m deep_ei_fast'] + sys.argv[1:]) if _from_cli() else 'a Python call'}`",
            f"- machine: {machine(o.device)}; device: {o.device}",
            f"- date (UTC): {self.started:%Y-%m-%d %H:%M}; wall time {wall_seconds / 60:.1f} min; load "
            f"average (1, 5, 15 min) before {self.load_before}, after {load_average()}",
            f"- scale ({'full' if o.full else 'default'}{' with overrides' if _overridden(o) else ''}): "
            f"{s.seeds} seeds, {s.epochs} epochs, {s.recordings} recordings per run (epochs spaced "
            f"quadratically, denser early), {s.samples:,} "
            f"samples per layer, {s.sensitivity_samples:,} sensitivity samples per input neuron, "
            f"{o.bins} bins, shuffle estimator",
        ]
        text = "\n".join(self.lines[:2] + provenance + [""] + self.lines[2:])
        with open(path, "w") as handle:
            handle.write(text.rstrip() + "\n")
        return path


def _from_cli():
    return os.path.basename(sys.argv[0]) in ("__main__.py", "deep-ei-fast")


def _overridden(options):
    return any(getattr(options, n) is not None for n in ("seeds", "epochs", "recordings", "samples",
                                                          "sensitivity_samples"))


def now():
    return datetime.datetime.now(datetime.timezone.utc)
