"""Plots of a causal-plane recording (matplotlib, an optional dependency: pip install matplotlib)::

    plot_causal_plane(recording, "plane.png")      each layer's trajectory in the plane
    plot_measures(recording, "measures.png")       EI, EI_parts, sensitivity, ... against epoch
    animate_causal_plane(recording, "plane.gif")   the plane over training, one frame per step

``recording`` is a CausalPlaneRecorder, a pandas DataFrame, a list of row dicts, or the path of
a recorder's CSV file. The figures are drawn with matplotlib's object API on an Agg canvas, so
no global pyplot state or display is touched. Every mark is in a legend, and the legends sit
outside the axes (right of the plane, below the measures' panels), clear of the data.
"""
import csv
import os

import numpy as np

from ..api.docstrings import entries_filler
from ..estimators.uncertainty import difference_standard_error
from .rows import PLANE_COLUMNS

PLANE_MEASURES = ("ei", "ei_parts", "sensitivity", "degeneracy", "integration")
MEASURE_LABELS = {"ei": "EI", "ei_parts": "EI_parts", "sensitivity": "sensitivity",
                  "degeneracy": "degeneracy = sensitivity - EI", "integration": "integration = EI - EI_parts"}

# Standard-error columns of rows measured with standard_errors=True (plane/rows.py).
ERROR_COLUMNS = {"ei": "ei_standard_error", "ei_parts": "ei_parts_standard_error",
                 "sensitivity": "sensitivity_standard_error",
                 "degeneracy": "degeneracy_standard_error", "integration": "integration_standard_error"}
# A difference's terms, for recordings made before the rows carried its error: (A, B) of A - B.
DIFFERENCE_TERMS = {"degeneracy": ("sensitivity", "ei"), "integration": ("ei", "ei_parts")}
INTERVAL_Z = 1.959963984540054  # bands and error bars are 95% normal intervals

# The plots' shared docstring entries (api/docstrings.py's ``{name}`` lines).
_plot_entries = entries_filler({
    "recording": """\
recording : CausalPlaneRecorder, pandas.DataFrame, list of dict, str or os.PathLike
    The rows: a recorder, its ``to_dataframe()``, a list of row dicts, or the path of a
    recorder's CSV file. They need the step column, ``layer`` and the plane's measures (ei,
    ei_parts, sensitivity, degeneracy, integration).
path : str or os.PathLike
    The file to write.
unit : str, optional
    The step column. None: the first column that is not a PlaneRow field (the recorder's
    ``unit``).""",
    "raises": """\
ImportError
    When matplotlib is not installed (``pip install matplotlib``).
ValueError
    A recording without rows, without a step column, or lacking one of the columns above.""",
    "example_recording": """\
>>> import os
>>> import tempfile
>>> import torch
>>> import deep_ei_fast as deep_ei
>>> model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Sigmoid())
>>> recorder = deep_ei.CausalPlaneRecorder(model, torch.zeros(1, 2), samples=10000,
...                                        sensitivity_samples=500, in_bins=8, out_bins=8, seed=0)
>>> for epoch in range(3):
...     with torch.no_grad():
...         _ = model[0].weight.mul_(2.0)  # stands for a step of training
...     rows = recorder.record(epoch, loss=1.0 / (epoch + 1))
>>> folder = tempfile.TemporaryDirectory()""",
})


def _matplotlib():
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("deep_ei_fast.plots needs matplotlib: pip install matplotlib") from None
    return Figure, FigureCanvasAgg


class _Recording:
    """A recording as columns: the step column, metric columns and one trajectory per layer."""

    def __init__(self, data, unit=None):
        rows, columns = _rows_of(data)
        if not rows:
            raise ValueError("the recording has no rows to plot")
        if unit is None:
            extra = [c for c in columns if c not in PLANE_COLUMNS]
            if not extra:
                raise ValueError("the recording has no step column (e.g. 'epoch')")
            unit = extra[0]
        missing = [c for c in (unit, "layer", *PLANE_MEASURES) if c not in columns]
        if missing:
            raise ValueError(f"the recording lacks the columns {missing}")
        self.unit = unit
        self.metrics = [c for c in columns if c not in PLANE_COLUMNS and c != unit]
        self.steps = sorted({float(r[unit]) for r in rows})
        self.layers = sorted({int(float(r["layer"])) for r in rows})
        self.labels = {}
        for r in rows:
            module = r.get("module", "")
            self.labels[int(float(r["layer"]))] = f"layer {int(float(r['layer']))}" + (
                f" ({module})" if module else "")
        self.values = {}  # (layer, column) -> array over steps (nan where missing)
        index = {s: i for i, s in enumerate(self.steps)}
        for column in (*PLANE_MEASURES, *self.metrics):
            for layer in self.layers:
                self.values[layer, column] = np.full(len(self.steps), np.nan)
        for r in rows:
            layer, i = int(float(r["layer"])), index[float(r[unit])]
            for column in (*PLANE_MEASURES, *self.metrics):
                value = r.get(column)
                self.values[layer, column][i] = np.nan if value in (None, "") else float(value)

        self.errors = _standard_errors(rows, unit, index, self.layers)

    def series(self, layer, column):
        return self.values[layer, column]

    def error(self, layer, column):
        """Standard errors of a measure over the steps, or None when not recorded."""
        return self.errors.get((layer, column))


def _standard_errors(rows, unit, index, layers):
    """(layer, measure) -> standard errors over steps, for the recorded ERROR_COLUMNS; a
    difference whose error was not recorded gets the bound of difference_standard_error from
    its terms' errors."""
    present = [m for m, column in ERROR_COLUMNS.items() if any(r.get(column) not in (None, "") for r in rows)]
    errors = {}
    for measure in present:
        for layer in layers:
            errors[layer, measure] = np.full(len(index), np.nan)
        for r in rows:
            value = r.get(ERROR_COLUMNS[measure])
            if value not in (None, ""):
                errors[int(float(r["layer"])), measure][index[float(r[unit])]] = float(value)
    for measure, (a, b) in DIFFERENCE_TERMS.items():
        if measure not in present and a in present and b in present:
            for layer in layers:
                errors[layer, measure] = difference_standard_error(errors[layer, a], errors[layer, b])
    return errors


def _rows_of(data):
    if isinstance(data, (str, os.PathLike)):
        with open(data, newline="") as handle:
            reader = csv.DictReader(handle)
            return list(reader), list(reader.fieldnames or [])
    if hasattr(data, "rows") and hasattr(data, "columns") and not hasattr(data, "to_dict"):
        return list(data.rows), list(data.columns)  # a CausalPlaneRecorder
    if hasattr(data, "to_dict"):  # a pandas DataFrame
        return data.to_dict("records"), list(data.columns)
    rows = list(data)
    columns = list(rows[0].keys()) if rows else []
    return rows, columns


def _plane_coordinates(recording, layer, rotated):
    s, d = recording.series(layer, "sensitivity"), recording.series(layer, "degeneracy")
    if rotated:
        return s - d, (s + d) / 2.0  # EI along x
    return s, d


def metric_label(column, labels=None):
    """A metric column's axis label: ``labels[column]`` if given, else its words
    ("test_accuracy" -> "test accuracy")."""
    return (labels or {}).get(column, column.replace("_", " "))


def _plane_limits(recording, rotated):
    xs, ys = [], []
    for layer in recording.layers:
        x, y = _plane_coordinates(recording, layer, rotated)
        xs.append(x)
        ys.append(y)
    x, y = np.concatenate(xs), np.concatenate(ys)
    low = float(np.nanmin([np.nanmin(x), np.nanmin(y), 0.0]))
    high = float(np.nanmax([np.nanmax(x), np.nanmax(y), 1e-3]))
    pad = 0.05 * (high - low)
    if rotated:  # keep the nullcline (x = 0) in view; each axis padded by 5% of its own span
        x0, x1 = min(float(np.nanmin(x)), 0.0), max(float(np.nanmax(x)), 1e-3)
        y0, y1 = float(np.nanmin(y)), max(float(np.nanmax(y)), float(np.nanmin(y)) + 1e-3)
        x_pad, y_pad = 0.05 * (x1 - x0), 0.05 * (y1 - y0)
        return (x0 - x_pad, x1 + x_pad), (y0 - y_pad, y1 + y_pad)
    return (low - pad, high + pad), (low - pad, high + pad)


def _equal_ei_spacing(low, high):
    """Whole bits between the lines of equal EI: about eight across the EI range shown."""
    return max(1, int((high - low) / 8))


def _draw_plane_axes(ax, limits, rotated):
    """The EI nullcline (EI = 0) and faint lines of equal EI, whole bits apart, then labels."""
    (x0, x1), (y0, y1) = limits
    if rotated:  # EI is x: the lines of equal EI are vertical
        ax.axvline(0.0, color="black", linestyle="--", linewidth=1, label="EI = 0 (nullcline)")
        spacing = _equal_ei_spacing(min(x0, 0.0), x1)
        levels = [k for k in range(spacing, int(x1) + 1, spacing)]
        for i, level in enumerate(levels):
            ax.axvline(level, color="0.85", linewidth=0.8, zorder=0,
                       label=f"equal EI, every {spacing} bit{'s' if spacing > 1 else ''}" if i == 0 else None)
        ax.set_xlabel("EI = sensitivity - degeneracy (bits)")
        ax.set_ylabel("(sensitivity + degeneracy) / 2 (bits)")
    else:  # EI = x - y: the lines of equal EI run parallel to the diagonal, below it
        line = np.array([min(x0, y0), max(x1, y1)])
        ax.plot(line, line, color="black", linestyle="--", linewidth=1, label="EI = 0 (nullcline)")
        span = x1 - y0  # the largest EI in view
        spacing = _equal_ei_spacing(0.0, span)
        for i, level in enumerate(range(spacing, int(max(span, 1)) + 1, spacing)):
            ax.plot(line, line - level, color="0.85", linewidth=0.8, zorder=0,
                    label=f"equal EI, every {spacing} bit{'s' if spacing > 1 else ''}" if i == 0 else None)
        ax.set_xlabel("sensitivity (bits)")
        ax.set_ylabel("degeneracy = sensitivity - EI (bits)")
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)


def _draw_trajectories(ax, recording, rotated, upto=None, last="last"):
    """Each layer's path through the plane (up to step index ``upto``), its first point open,
    its last filled; the markers' meaning is added to the legend once."""
    colors = _layer_colors(recording)
    with_errors = False
    for layer in recording.layers:
        x, y = _plane_coordinates(recording, layer, rotated)
        if upto is not None:
            x, y = x[: upto + 1], y[: upto + 1]
        keep = ~(np.isnan(x) | np.isnan(y))
        x, y = x[keep], y[keep]
        if x.size == 0:
            continue
        ax.plot(x, y, color=colors[layer], linewidth=1.2, alpha=0.8, label=recording.labels[layer])
        x_error, y_error = _plane_errors(recording, layer, rotated, upto)
        if x_error is not None:
            ax.errorbar(x, y, xerr=INTERVAL_Z * x_error[keep], yerr=INTERVAL_Z * y_error[keep],
                        fmt="none", ecolor=colors[layer], alpha=0.35, linewidth=0.8,
                        label=None if with_errors else "95% intervals")
            with_errors = True
        ax.plot(x[0], y[0], "o", markerfacecolor="white", markeredgecolor=colors[layer], markersize=5)
        ax.plot(x[-1], y[-1], "o", color=colors[layer], markersize=7)
    ax.plot([], [], "o", markerfacecolor="white", markeredgecolor="0.3", markersize=5,
            label=f"first recorded {recording.unit}")
    ax.plot([], [], "o", color="0.3", markersize=7, label=f"{last} recorded {recording.unit}")


def _legend_right(ax):
    """The axes' legend outside it, on the right: never over the trajectories."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=8, frameon=False)


def _plane_errors(recording, layer, rotated, upto):
    """Standard errors of the plane's (x, y) over steps (up to ``upto``), or (None, None)."""
    ei, sens = recording.error(layer, "ei"), recording.error(layer, "sensitivity")
    if ei is None or sens is None:
        return None, None
    if rotated:  # x = EI, y = (sensitivity + degeneracy) / 2 = sensitivity - EI / 2
        x_error, y_error = ei, difference_standard_error(sens, ei, 0.5)
    else:
        x_error, y_error = sens, recording.error(layer, "degeneracy")
    if upto is not None:
        x_error, y_error = x_error[: upto + 1], y_error[: upto + 1]
    return x_error, y_error


def _layer_colors(recording):
    from matplotlib import colormaps
    cmap = colormaps["viridis"]
    n = max(len(recording.layers) - 1, 1)
    return {layer: cmap(0.85 * i / n) for i, layer in enumerate(recording.layers)}


def _plane_figure(recording, *, unit=None, rotated=False, title=None):
    """The causal-plane figure (a matplotlib Figure on an Agg canvas)."""
    Figure, Canvas = _matplotlib()
    data = _Recording(recording, unit)
    fig = Figure(figsize=(8.6, 5.5), layout="constrained")
    Canvas(fig)
    ax = fig.add_subplot(1, 1, 1)
    limits = _plane_limits(data, rotated)
    _draw_plane_axes(ax, limits, rotated)
    _draw_trajectories(ax, data, rotated)
    ax.set_title(title or f"causal plane over {len(data.steps)} recorded {data.unit}s")
    _legend_right(ax)
    return fig


@_plot_entries
def plot_causal_plane(recording, path, *, unit=None, rotated=False, title=None, dpi=120):
    """Writes a PNG of each layer's trajectory in the causal plane over the recorded steps.

    x is the sensitivity and y the degeneracy (``rotated=True``: x = EI, y = (sensitivity +
    degeneracy) / 2, which spreads trajectories that hug the diagonal), with the EI nullcline
    (EI = 0) and grey lines of equal EI. Open circles mark the first recorded step, filled ones
    the last; 95% error bars where the rows carry standard errors. The legend, right of the
    axes, names every mark (:doc:`causal_plane`).

    Parameters
    ----------
    {recording}
    rotated : bool, default False
        Draw the rotated plane (x = EI) instead of (sensitivity, degeneracy).
    title : str, optional
        The figure's title. None: "causal plane over N recorded <unit>s".
    dpi : int, default 120
        The PNG's resolution in dots per inch.

    Returns
    -------
    str or os.PathLike
        ``path``.

    Raises
    ------
    {raises}

    Examples
    --------
    {example_recording}
    >>> from deep_ei_fast.plots import plot_causal_plane
    >>> written = plot_causal_plane(recorder, os.path.join(folder.name, "plane.png"), rotated=True)
    >>> os.path.basename(written), os.path.getsize(written) > 0
    ('plane.png', True)
    >>> folder.cleanup()
    """
    fig = _plane_figure(recording, unit=unit, rotated=rotated, title=title)
    fig.savefig(path, dpi=dpi)
    return path


def _measures_figure(recording, *, unit=None, title=None, labels=None):
    """The measures figure (a matplotlib Figure on an Agg canvas)."""
    Figure, Canvas = _matplotlib()
    data = _Recording(recording, unit)
    panels = [*PLANE_MEASURES, *data.metrics]
    columns = 3
    rows = -(-len(panels) // columns)
    fig = Figure(figsize=(4.2 * columns, 3.2 * rows + 0.8), layout="constrained")
    Canvas(fig)
    colors = _layer_colors(data)
    steps = np.array(data.steps)
    handles = []
    for k, column in enumerate(panels):
        ax = fig.add_subplot(rows, columns, k + 1)
        for layer in data.layers:
            values = data.series(layer, column)
            if column in data.metrics:  # the same for every layer: draw it once
                ax.plot(steps, values, color="black")
                break
            line, = ax.plot(steps, values, color=colors[layer], label=data.labels[layer])
            if k == 0:
                handles.append(line)
            error = data.error(layer, column)
            if error is not None:  # a 95% band
                band = ax.fill_between(steps, values - INTERVAL_Z * error, values + INTERVAL_Z * error,
                                       color=colors[layer], alpha=0.2, linewidth=0, label="95% band")
                if k == 0 and layer == data.layers[0]:
                    handles.append(band)
        if column == "degeneracy":  # below 0 when EI exceeds the sensitivity (docs: causal plane)
            ax.axhline(0.0, color="0.6", linewidth=0.8, zorder=0)
        ax.set_xlabel(data.unit.replace("_", " "))
        ax.set_ylabel(f"{MEASURE_LABELS[column]} (bits)" if column in MEASURE_LABELS else metric_label(column, labels))
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 4), fontsize=8, frameon=False)
    if title:
        fig.suptitle(title)
    return fig


@_plot_entries
def plot_measures(recording, path, *, unit=None, title=None, labels=None, dpi=120):
    """Writes a PNG of the plane's measures against the step, one panel each.

    EI, EI_parts, sensitivity, degeneracy and integration, one line per layer, then one panel
    per metric of the recording (loss, accuracy, ...); 95% bands where the rows carry standard
    errors (``causal_plane(..., standard_errors=True)``). One legend, below the panels, names
    the layers.

    Parameters
    ----------
    {recording}
    title : str, optional
        The figure's title; None: none.
    labels : dict of str to str, optional
        A metric column's y-axis label, such as ``{"loss": "loss (squared error)"}``. A metric
        not in it is labelled by its words (``"test_accuracy"``: "test accuracy").
    dpi : int, default 120
        The PNG's resolution in dots per inch.

    Returns
    -------
    str or os.PathLike
        ``path``.

    Raises
    ------
    {raises}

    Examples
    --------
    {example_recording}
    >>> from deep_ei_fast.plots import plot_measures
    >>> written = plot_measures(recorder.to_dataframe(), os.path.join(folder.name, "measures.png"),
    ...                         labels={"loss": "loss (made up)"})
    >>> os.path.basename(written)
    'measures.png'
    >>> folder.cleanup()
    """
    fig = _measures_figure(recording, unit=unit, title=title, labels=labels)
    fig.savefig(path, dpi=dpi)
    return path


@_plot_entries
def animate_causal_plane(recording, path, *, unit=None, rotated=False, fps=5, title=None, dpi=80):
    """Writes an animated GIF of the causal plane, one frame per recorded step.

    Each frame shows every layer's trajectory so far and its current position, on axes fixed
    for the whole animation, with :func:`plot_causal_plane`'s marks and legend.

    Parameters
    ----------
    {recording}
    rotated : bool, default False
        Draw the rotated plane (x = EI), as in :func:`plot_causal_plane`.
    fps : float, default 5
        Frames per second (each frame shown at least 20 ms).
    title : str, optional
        Prefixed to each frame's title, which names the step.
    dpi : int, default 80
        The frames' resolution in dots per inch.

    Returns
    -------
    str or os.PathLike
        ``path``.

    Raises
    ------
    {raises}

    Examples
    --------
    {example_recording}
    >>> from deep_ei_fast.plots import animate_causal_plane
    >>> written = animate_causal_plane(recorder, os.path.join(folder.name, "plane.gif"))
    >>> from PIL import Image
    >>> Image.open(written).n_frames
    3
    >>> folder.cleanup()
    """
    Figure, Canvas = _matplotlib()
    from PIL import Image

    data = _Recording(recording, unit)
    limits = _plane_limits(data, rotated)
    frames = []
    for i, step in enumerate(data.steps):
        fig = Figure(figsize=(7.6, 4.6), layout="constrained")
        canvas = Canvas(fig)
        ax = fig.add_subplot(1, 1, 1)
        _draw_plane_axes(ax, limits, rotated)
        _draw_trajectories(ax, data, rotated, upto=i, last="current")
        label = int(step) if float(step).is_integer() else step
        ax.set_title(f"{title + ': ' if title else ''}{data.unit} {label}")
        _legend_right(ax)
        canvas.draw()
        frames.append(Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3].copy()))
    duration = max(int(1000 / fps), 20)
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=duration, loop=0)
    return path
