"""CausalPlaneRecorder: the causal plane of every layer, recorded during training into a CSV.

    recorder = CausalPlaneRecorder(model, torch.zeros(1, 25), "run.csv", every=5,
                                   samples=100000, in_range=(0, 1), out_range=(0, 1))
    for epoch in range(recorder.next_step, epochs):
        train_one_epoch(...)
        recorder.record(epoch, loss=loss, accuracy=acc)

Each recorded step appends one row per layer to the CSV in a single write, flushed to disk, so
an interrupted run loses at most the step being written. Opening a recorder on an existing file
resumes it: earlier rows are read back (a half-written last step is dropped), steps already in
the file are not measured again, and new rows are appended. Only a recording this recorder would
have written resumes: other module names or widths, bins, ranges, samples, sensitivity samples,
rng, seed (or estimator, when the file has that column) fail with a ValueError naming the first
difference and its line, as do corrupted cells and steps out of order. Text metrics round-trip
(quoted, newlines included); a metric that reads as a number comes back as a float.
"""
import csv
import difflib
import inspect
import io
import math
import os

from .measure import causal_plane, planned_rows
from .output_file import check_output_file
from .rows import PLANE_COLUMNS

_INT_COLUMNS = {"layer", "n_in", "n_out", "samples", "sensitivity_samples", "in_bins", "out_bins"}
_TEXT_COLUMNS = {"name", "module", "rng", "estimator"}
_BOOL_CELLS = {"True": True, "False": False}

# causal_plane's keyword arguments (what a recorder passes on) and their defaults.
_MEASURE_DEFAULTS = {name: p.default for name, p in inspect.signature(causal_plane).parameters.items()
                     if p.kind is inspect.Parameter.KEYWORD_ONLY}


def _check_measure_keywords(measure):
    """A misspelt causal_plane argument fails at construction, not at the first record()."""
    for name in measure:
        if name not in _MEASURE_DEFAULTS:
            close = difflib.get_close_matches(name, list(_MEASURE_DEFAULTS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise TypeError(f"CausalPlaneRecorder: unknown causal_plane argument {name!r}{hint}; "
                            f"expected one of {sorted(_MEASURE_DEFAULTS)}")


def _parse_value(column, text):
    """A CSV cell back to the type the recorder wrote (int, float, bool or text); metrics
    (columns not of the plane) are numbers when they read as one, else text."""
    if column in _TEXT_COLUMNS:
        return text
    if column in _INT_COLUMNS:
        return int(text)
    if column == "seed":
        return int(text) if text else ""
    if column == "converged":
        if text not in _BOOL_CELLS:
            raise ValueError(f"expected True or False, got {text!r}")
        return _BOOL_CELLS[text]
    if text == "":
        return None  # a metric not given at that step
    try:
        value = float(text)
    except ValueError:
        if column in PLANE_COLUMNS:
            raise
        return text  # a text metric
    return value


def _same(expected, found):
    if isinstance(expected, float) and isinstance(found, float):
        return expected == found or (math.isnan(expected) and math.isnan(found))
    return expected == found


class CausalPlaneRecorder:
    r"""Records ``causal_plane(model, input, **measure)`` every ``every`` steps into a CSV file.

    Each recorded step appends one row per layer in a single write, flushed to disk, so that
    an interrupted run loses at most the step being written. Rows are dicts: the step, the
    metrics given to :meth:`record`, then the :class:`PlaneRow` fields. A recorder opened on
    an existing file resumes it: the rows are read back (a half-written last step is dropped),
    steps already there are not measured again (:attr:`next_step` says where to go on), and
    new rows are appended. Only a file this recorder would have written resumes. Not in
    deep-ei.

    Parameters
    ----------
    model : torch.nn.Module
        The network; it is measured, in eval mode, each time a step is recorded.
    input : torch.Tensor or object
        An example input for :func:`causal_plane`, batch dimension included.
    path : str, os.PathLike or None, default None
        The CSV file: created, or resumed when it exists and is not empty. Checked at once
        (a folder, a device or an unwritable file raises ValueError, another type TypeError).
        None: rows in memory only.
    every : int, default 1
        Record the steps that are multiples of ``every``; a positive integer (ValueError
        otherwise).
    unit : str, default "epoch"
        The name of the step column, such as ``"epoch"`` or ``"step"``: an identifier that is
        not a PlaneRow field (ValueError otherwise).
    **measure
        Keyword arguments of :func:`causal_plane` (``samples``, ``sensitivity_samples``,
        ``in_range``, ``seed``, ``estimator``, ``device``, ...); another name raises TypeError
        at once, suggesting the closest. Without ``device``, causal_plane measures where the
        model's parameters are.

    Raises
    ------
    ValueError
        Bad ``every``, ``unit`` or ``path``; and, resuming, a file that is not a recording of
        this model with these settings (other module names or widths, bins, ranges,
        ``samples``, ``sensitivity_samples``, ``rng``, ``seed`` or ``estimator``), corrupted
        cells, or steps out of order, naming the first difference and its line.
    TypeError
        An unknown keyword of ``measure``, or a ``path`` that is not a path.

    Examples
    --------
    >>> import os
    >>> import tempfile
    >>> import torch
    >>> import deep_ei_fast as deep_ei
    >>> model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Sigmoid())
    >>> folder = tempfile.TemporaryDirectory()
    >>> path = os.path.join(folder.name, "run.csv")
    >>> settings = dict(samples=10000, sensitivity_samples=500, in_bins=8, out_bins=8, seed=0)
    >>> recorder = deep_ei.CausalPlaneRecorder(model, torch.zeros(1, 2), path, every=2, **settings)
    >>> for epoch in range(recorder.next_step, 5):
    ...     loss = model(torch.rand(8, 2)).square().mean()  # one step of gradient descent
    ...     loss.backward()
    ...     with torch.no_grad():
    ...         for parameter in model.parameters():
    ...             parameter -= 0.1 * parameter.grad
    ...             parameter.grad = None
    ...     rows = recorder.record(epoch, loss=loss.item())
    >>> recorder.steps
    [0, 2, 4]
    >>> recorder.columns[:5]
    ['epoch', 'loss', 'layer', 'name', 'module']

    A new recorder on the same file resumes it, after the last recorded step:

    >>> resumed = deep_ei.CausalPlaneRecorder(model, torch.zeros(1, 2), path, every=2, **settings)
    >>> resumed.steps, resumed.next_step
    ([0, 2, 4], 5)
    >>> resumed.to_dataframe()[["epoch", "layer", "module"]]
       epoch  layer       module
    0      0      0  Linear 2->2
    1      2      0  Linear 2->2
    2      4      0  Linear 2->2
    >>> folder.cleanup()
    """

    def __init__(self, model, input, path=None, *, every=1, unit="epoch", **measure):
        if not isinstance(every, int) or isinstance(every, bool) or every < 1:
            raise ValueError(f"every must be a positive integer, got {every!r}")
        if not isinstance(unit, str) or not unit.isidentifier() or unit in PLANE_COLUMNS:
            raise ValueError(f"unit must be a column name such as 'epoch' or 'step', got {unit!r}")
        _check_measure_keywords(measure)
        if path is not None:  # here, not at the first record(), after its measurement
            check_output_file(path, "path")
        self.model, self.input, self.path = model, input, path
        self.every, self.unit, self.measure = every, unit, measure
        self.rows = []
        self.metric_names = None  # fixed by the first recorded step (or the file's header)
        if path is not None and os.path.exists(path) and os.path.getsize(path) > 0:
            self._resume()

    @property
    def steps(self):
        """list of int: the steps recorded so far, in order."""
        seen = []
        for row in self.rows:
            if not seen or seen[-1] != row[self.unit]:
                seen.append(row[self.unit])
        return seen

    @property
    def next_step(self):
        """int: the step after the last one recorded (0 for a new recording): where to resume."""
        steps = self.steps
        return steps[-1] + 1 if steps else 0

    def due(self, step):
        """Whether ``record(step)`` would measure.

        Parameters
        ----------
        step : int
            A step number.

        Returns
        -------
        bool
            True when ``step`` is a multiple of ``every`` not recorded yet.
        """
        return step % self.every == 0 and step not in self.steps

    def record(self, step, force=False, **metrics):
        """Measures the plane at ``step`` if it is due, and appends its rows to the recording.

        Parameters
        ----------
        step : int
            The step (epoch) number, at least 0; steps must increase from one record to the
            next.
        force : bool, default False
            Measure even when ``step`` is not a multiple of ``every`` (a step already recorded
            is still skipped).
        **metrics
            Values recorded beside the plane (loss, accuracy, ...), the same names at every
            step; numbers or text.

        Returns
        -------
        list of dict
            The new rows (one per layer), or ``[]`` when the step is skipped.

        Raises
        ------
        ValueError
            A negative or non-integer ``step``, a step before the last recorded one, a metric
            named like a column, or metrics other than the first step's.
        """
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
        """The rows recorded so far as a pandas DataFrame.

        Returns
        -------
        pandas.DataFrame
            One row per layer and step, with :attr:`columns` as columns.
        """
        import pandas as pd
        return pd.DataFrame(self.rows, columns=self.columns)

    @property
    def columns(self):
        """list of str: the CSV's columns: the step, the metrics, then the PlaneRow fields."""
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
        try:
            with open(self.path, encoding="utf-8", newline="") as handle:
                text = handle.read()
        except UnicodeDecodeError:
            raise ValueError(f"{self.path}: cannot resume, not a text CSV file (not UTF-8)") from None
        if "\0" in text:
            raise ValueError(f"{self.path}: cannot resume, not a text CSV file (NUL bytes)")
        records = self._read_records(text)
        if not records:
            raise ValueError(f"{self.path}: cannot resume, the file has no complete header line")
        header = records[0][1]
        if not header or header[0] != self.unit or tuple(header[-len(PLANE_COLUMNS):]) != PLANE_COLUMNS:
            raise ValueError(f"{self.path}: not a causal-plane recording with step column "
                             f"{self.unit!r} and this version's columns (header {header!r})")
        self.metric_names = tuple(header[1: len(header) - len(PLANE_COLUMNS)])
        rows = []
        for line_number, cells, physical_lines in records[1:]:
            if len(cells) != len(header):
                raise ValueError(f"{self.path}: line {line_number} has {len(cells)} fields, "
                                 f"the header {len(header)}")
            row = {}
            for column, cell in zip(header, cells):
                try:
                    row[column] = int(cell) if column == self.unit else _parse_value(column, cell)
                except ValueError:
                    raise ValueError(f"{self.path}: line {line_number}: column {column!r} holds "
                                     f"{cell!r}, not a valid value") from None
            rows.append((line_number, row, physical_lines))
        rows = self._drop_incomplete_last_step(rows)
        self._check_rows(rows, header)
        self.rows = [row for _, row, _ in rows]
        last_line, _, physical_lines = rows[-1] if rows else records[0]  # the header's
        kept_lines = last_line + physical_lines - 1
        complete = "".join(line + "\n" for line in text.split("\n")[:kept_lines])
        if complete != text:
            # Cut the half-written tail (keeping the complete records as they were), so that
            # appends continue a clean file.
            self._replace_file(complete)

    def _read_records(self, text):
        """[(first line number, cells, physical lines)] of the complete records: a quoted cell
        may hold newlines, and a last record without its line end was cut short."""
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        reader = csv.reader((line + "\n" for line in lines), strict=True)
        records, consumed = [], 0
        try:
            for cells in reader:
                records.append((consumed + 1, cells, reader.line_num - consumed))
                consumed = reader.line_num
        except csv.Error as error:
            if reader.line_num < len(lines):
                raise ValueError(f"{self.path}: line {consumed + 1}: not valid CSV ({error})") from None
            return records  # a quoted cell still open at the end of the file: a cut record
        if records and not text.endswith("\n"):
            records.pop()
        return records

    def _drop_incomplete_last_step(self, rows):
        """A step's rows are written in one write; a last step with fewer rows than the model
        has layers was cut short: drop it, so that it is measured again. Also checks that the
        steps increase and that each step lists the layers in order."""
        per_step = len(self._planned())
        groups = []  # [step, first row index, row count]
        for index, (line_number, row, _) in enumerate(rows):
            step = row[self.unit]
            if groups and groups[-1][0] == step:
                groups[-1][2] += 1
            else:
                if step < 0 or (groups and step < groups[-1][0]):
                    raise ValueError(f"{self.path}: line {line_number}: {self.unit} {step} comes "
                                     f"after {self.unit} {groups[-1][0] if groups else 'none'}: "
                                     "steps must increase")
                if any(g[0] == step for g in groups):
                    raise ValueError(f"{self.path}: line {line_number}: {self.unit} {step} appears twice")
                groups.append([step, index, 1])
            expected_layer = index - groups[-1][1]
            if row["layer"] != expected_layer:
                raise ValueError(f"{self.path}: line {line_number}: layer {row['layer']} where "
                                 f"layer {expected_layer} of {self.unit} {step} was expected")
        for step, first, count in groups:
            if count > per_step or (count < per_step and step != groups[-1][0]):
                raise ValueError(f"{self.path}: line {rows[first][0]}: {self.unit} {step} has {count} "
                                 f"rows but the model has {per_step} measured layers: a recording "
                                 "of another model?")
        if groups and groups[-1][2] < per_step:
            return rows[: groups[-1][1]]
        return rows

    def _planned(self):
        m = self.measure
        return planned_rows(self.model, self.input, m.get("layers"), m.get("in_range"), m.get("out_range"))

    def _expected(self, header):
        """Per layer: the columns a row of this recorder must have, in the order compared."""
        settings = {**_MEASURE_DEFAULTS, **self.measure}
        fixed = {"in_bins": settings["in_bins"], "out_bins": settings["out_bins"],
                 "sensitivity_samples": settings["sensitivity_samples"], "rng": settings["rng"]}
        if settings["samples"] is not None:
            fixed["samples"] = settings["samples"]
        if settings["rng"] == "torch":
            fixed["seed"] = ""
        elif settings["seed"] is not None:
            fixed["seed"] = settings["seed"]
        if "estimator" in header and "estimator" in settings:
            fixed["estimator"] = settings["estimator"]
        return [{**planned, **fixed} for planned in self._planned()]

    def _check_rows(self, rows, header):
        """Refuses a file recorded from another model or with other settings."""
        expected = self._expected(header)
        for line_number, row, _ in rows:
            for column, value in expected[row["layer"]].items():
                if not _same(value, row[column]):
                    raise ValueError(
                        f"{self.path}: cannot resume: line {line_number} (layer {row['layer']}) has "
                        f"{column} = {row[column]!r}, this recorder {value!r}: a recording of "
                        "another model or other settings")

    def _replace_file(self, content):
        temporary = f"{self.path}.tmp"
        with open(temporary, "w", newline="") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)

