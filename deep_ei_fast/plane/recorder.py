"""CausalPlaneRecorder: the causal plane of every layer, recorded during training into a CSV.

    recorder = CausalPlaneRecorder(model, torch.zeros(1, 25), "run.csv", every=5,
                                   samples=100000, in_range=(0, 1), out_range=(0, 1))
    for epoch in range(recorder.next_step, epochs):
        train_one_epoch(...)
        recorder.record(epoch, loss=loss, accuracy=acc)

Each recorded step appends one row per layer to the CSV in a single write, flushed to disk, so
an interrupted run loses at most the step being written. Opening a recorder on an existing file
resumes it: earlier rows are read back (a half-written last step is dropped), steps already in
the file are not measured again, and new rows are appended.
"""
import csv
import io
import os

from .measure import causal_plane, measured_layer_count
from .rows import PLANE_COLUMNS

_INT_COLUMNS = {"layer", "n_in", "n_out", "samples", "sensitivity_samples", "in_bins", "out_bins"}
_TEXT_COLUMNS = {"name", "module", "rng", "estimator"}


def _parse_value(column, text):
    """A CSV cell back to the type the recorder wrote (int, float or text)."""
    if column in _TEXT_COLUMNS:
        return text
    if column in _INT_COLUMNS:
        return int(text)
    if column == "seed":
        return int(text) if text else ""
    if text == "":
        return None  # a metric not given at that step
    try:
        return float(text)
    except ValueError:
        return text


class CausalPlaneRecorder:
    r"""Records causal_plane(model, input, **measure) every ``every`` steps into ``path``.

    ``unit`` names the step column ("epoch" or "step"). Rows are dicts: the step, the user's
    metrics (keyword arguments of record()), then the PlaneRow fields. ``path=None`` keeps rows
    in memory only. Other keyword arguments go to causal_plane (samples, sensitivity_samples,
    in_range, out_range, in_bins, out_bins, seed, rng, device, progress, ...).
    """

    def __init__(self, model, input, path=None, *, every=1, unit="epoch", **measure):
        if not isinstance(every, int) or isinstance(every, bool) or every < 1:
            raise ValueError(f"every must be a positive integer, got {every!r}")
        if not isinstance(unit, str) or not unit.isidentifier() or unit in PLANE_COLUMNS:
            raise ValueError(f"unit must be a column name such as 'epoch' or 'step', got {unit!r}")
        self.model, self.input, self.path = model, input, path
        self.every, self.unit, self.measure = every, unit, measure
        self.rows = []
        self.metric_names = None  # fixed by the first recorded step (or the file's header)
        if path is not None and os.path.exists(path) and os.path.getsize(path) > 0:
            self._resume()

    @property
    def steps(self):
        """The steps recorded so far, in order."""
        seen = []
        for row in self.rows:
            if not seen or seen[-1] != row[self.unit]:
                seen.append(row[self.unit])
        return seen

    @property
    def next_step(self):
        """The step after the last one recorded (0 for a new recording): where to resume."""
        steps = self.steps
        return steps[-1] + 1 if steps else 0

    def due(self, step):
        """Whether record(step) would measure: a multiple of ``every`` not yet recorded."""
        return step % self.every == 0 and step not in self.steps

    def record(self, step, force=False, **metrics):
        """Measures the plane at ``step`` if it is due (or ``force``), appends and returns its
        rows; returns [] when the step is skipped (not a multiple of ``every``, or recorded)."""
        if not isinstance(step, int) or isinstance(step, bool) or step < 0:
            raise ValueError(f"step must be a non-negative integer, got {step!r}")
        recorded = self.steps
        if step in recorded:
            return []
        if not force and step % self.every != 0:
            return []
        if recorded and step < recorded[-1]:
            raise ValueError(f"step {step} comes before the last recorded {self.unit} "
                             f"{recorded[-1]}: steps must increase")
        names = tuple(sorted(metrics))
        for name in names:
            if name == self.unit or name in PLANE_COLUMNS:
                raise ValueError(f"metric name {name!r} clashes with a column of the recording")
        if self.metric_names is None:
            self.metric_names = names
        elif names != self.metric_names:
            raise ValueError(f"metrics {list(names)} differ from the recording's "
                             f"{list(self.metric_names)}: give the same metrics at every step")
        plane = causal_plane(self.model, self.input, **self.measure)
        new_rows = [{self.unit: step, **{k: metrics[k] for k in names}, **vars(row)}
                    for row in plane]
        self._append(new_rows)
        self.rows.extend(new_rows)
        return new_rows

    def to_dataframe(self):
        import pandas as pd
        return pd.DataFrame(self.rows, columns=self.columns)

    @property
    def columns(self):
        return [self.unit, *(self.metric_names or ()), *PLANE_COLUMNS]

    # -- the CSV file ---------------------------------------------------------------------

    def _append(self, rows):
        if self.path is None:
            return
        new_file = not os.path.exists(self.path) or os.path.getsize(self.path) == 0
        text = io.StringIO()  # the whole step, so that it reaches the file in one write
        writer = csv.DictWriter(text, fieldnames=self.columns, lineterminator="\n")
        if new_file:
            writer.writeheader()
        writer.writerows(rows)
        with open(self.path, "a", newline="") as handle:
            handle.write(text.getvalue())
            handle.flush()
            os.fsync(handle.fileno())

    def _resume(self):
        with open(self.path, newline="") as handle:
            text = handle.read()
        complete = text if text.endswith("\n") else text[: text.rfind("\n") + 1]
        table = list(csv.reader(complete.splitlines()))
        if not table:
            raise ValueError(f"{self.path}: cannot resume, the file has no complete header line")
        header = table[0]
        if not header or header[0] != self.unit or tuple(header[-len(PLANE_COLUMNS):]) != PLANE_COLUMNS:
            raise ValueError(f"{self.path}: not a causal-plane recording with step column "
                             f"{self.unit!r} (header {header!r})")
        self.metric_names = tuple(header[1: len(header) - len(PLANE_COLUMNS)])
        rows = []
        for line_number, cells in enumerate(table[1:], start=2):
            if len(cells) != len(header):
                raise ValueError(f"{self.path}: line {line_number} has {len(cells)} fields, "
                                 f"the header {len(header)}")
            row = {self.unit: int(cells[0])}
            for column, cell in zip(header[1:], cells[1:]):
                row[column] = _parse_value(column, cell)
            rows.append(row)
        rows = self._drop_incomplete_last_step(rows)
        self.rows = rows
        if len(rows) != len(table) - 1 or complete != text:
            # Cut the half-written tail (keeping the complete lines as they were), so that
            # appends continue a clean file.
            lines = complete.splitlines(keepends=True)[: len(rows) + 1]
            self._replace_file("".join(lines))

    def _drop_incomplete_last_step(self, rows):
        """A step's rows are written in one write; a last step with fewer rows than the model
        has layers was cut short: drop it, so that it is measured again."""
        per_step = measured_layer_count(self.model, self.input, self.measure.get("layers"))
        counts = {}
        for row in rows:
            counts[row[self.unit]] = counts.get(row[self.unit], 0) + 1
        last = rows[-1][self.unit] if rows else None
        for step, count in counts.items():
            if count > per_step or (count < per_step and step != last):
                raise ValueError(f"{self.path}: {self.unit} {step} has {count} rows but the model "
                                 f"has {per_step} measured layers: a recording of another model?")
        if rows and counts[last] < per_step:
            return rows[: len(rows) - counts[last]]
        return rows

    def _replace_file(self, content):
        temporary = f"{self.path}.tmp"
        with open(temporary, "w", newline="") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)

