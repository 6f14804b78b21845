"""The result of causal_plane: one row per layer, convertible to a DataFrame and to CSV."""
import csv
import io
from dataclasses import asdict, dataclass, fields
from typing import Optional


@dataclass
class PlaneRow:
    """One layer's place in the causal plane: a row of :func:`causal_plane`'s result.

    Information measures are in bits. The fields are also the CSV columns of
    :meth:`CausalPlane.to_csv` and of :class:`CausalPlaneRecorder`'s file, in this order.

    Attributes
    ----------
    layer : int
        Position among the measured layers, 0 closest to the input (the row number that the
        ``matrix --layer`` command takes).
    name : str
        The module's name in ``model.named_modules()``.
    module : str
        The module and its widths, such as ``"Linear 25->6"``.
    n_in : int
        Input neurons.
    n_out : int
        Output neurons.
    ei : float
        Vector EI: I(X; Y) of the whole input and output vectors.
    ei_parts : float
        The sum over (input, output) neuron pairs of I(x_A; y_B) (no 0.01 zeroing).
    sensitivity : float
        The same sum when one input fires at a time.
    degeneracy : float
        ``sensitivity - ei``.
    degeneracy_parts : float
        ``sensitivity - ei_parts``.
    integration : float
        ``ei - ei_parts`` (feedforward integrated information).
    samples : int
        Noise samples behind ``ei`` and ``ei_parts`` (with ``samples=None``, where the rule
        stopped).
    converged : bool
        True when ``samples`` was given or ``samples=None``'s rule held; False when it stopped
        at ``max_samples`` (``ei`` and ``ei_parts`` are then the last estimates).
    sensitivity_samples : int
        Noise samples per input neuron behind ``sensitivity``.
    in_bins : int
        The bins of each input neuron.
    out_bins : int
        The bins of each output neuron.
    in_low : float
        The low end of the input noise's range, as resolved for this layer.
    in_high : float
        Its high end.
    out_low : float
        The low end of the output binning's range, as resolved for this layer.
    out_high : float
        Its high end.
    rng : str
        ``"philox"`` or ``"torch"``.
    seed : int or str
        The philox seed, or ``""`` with ``rng="torch"``.
    seconds : float
        Wall time of this layer's measurement.
    estimator : str
        The estimator behind ``ei``, ``ei_parts`` and ``sensitivity``.
    ei_standard_error : float or None
        The standard error of ``ei`` in bits; None unless ``standard_errors=True``.
    ei_parts_standard_error : float or None
        The standard error of ``ei_parts``, likewise.
    sensitivity_standard_error : float or None
        The standard error of ``sensitivity``, likewise.
    degeneracy_standard_error : float or None
        A bound on the standard error of ``degeneracy``: the sum of its terms' standard
        errors, which holds whatever their correlation; None unless ``standard_errors=True``.
    degeneracy_parts_standard_error : float or None
        The same bound for ``degeneracy_parts``.
    integration_standard_error : float or None
        The same bound for ``integration``.

    Examples
    --------
    >>> import torch
    >>> import deep_ei_fast as deep_ei
    >>> model = torch.nn.Sequential(torch.nn.Linear(2, 2, bias=False))
    >>> with torch.no_grad():
    ...     _ = model[0].weight.copy_(torch.eye(2))  # each output copies its input
    >>> row = deep_ei.causal_plane(model, torch.zeros(1, 2), samples=10000, sensitivity_samples=1000,
    ...                            in_bins=8, out_bins=8, seed=0)[0]
    >>> row.module, row.samples, row.converged, (row.in_low, row.in_high), row.seed
    ('Linear 2->2', 10000, True, (-10.0, 10.0), 0)
    """
    layer: int  # position among the measured layers, 0 = closest to the input
    name: str  # the module's name in model.named_modules()
    module: str  # e.g. "Linear 25->6"
    n_in: int
    n_out: int
    ei: float  # vector EI: I(X; Y) of the whole input and output vectors
    ei_parts: float  # sum over (input, output) neuron pairs of I(x_A; y_B)
    sensitivity: float  # the same sum when one input fires at a time
    degeneracy: float  # sensitivity - ei
    degeneracy_parts: float  # sensitivity - ei_parts
    integration: float  # ei - ei_parts (feedforward integrated information)
    samples: int  # noise samples behind ei and ei_parts
    converged: bool  # True: samples were given, or samples=None's rule was met; False: it
    # stopped at max_samples (ei and ei_parts are then the last estimates)
    sensitivity_samples: int  # noise samples per input neuron behind sensitivity
    in_bins: int
    out_bins: int
    in_low: float
    in_high: float
    out_low: float
    out_high: float
    rng: str
    seed: object  # the philox seed, or "" for rng="torch"
    seconds: float  # wall time of this layer's measurement
    # Appended by the estimators (keep new fields at the end, with defaults):
    estimator: str = "plugin"  # estimators/registry.py name behind ei, ei_parts, sensitivity
    ei_standard_error: Optional[float] = None  # bits; None unless standard_errors=True
    ei_parts_standard_error: Optional[float] = None
    sensitivity_standard_error: Optional[float] = None
    # Of the differences: sums of their terms' standard errors, a bound that holds however the
    # terms are correlated (estimators/uncertainty.py, difference_standard_error).
    degeneracy_standard_error: Optional[float] = None
    degeneracy_parts_standard_error: Optional[float] = None
    integration_standard_error: Optional[float] = None


PLANE_COLUMNS = tuple(f.name for f in fields(PlaneRow))
MEASURE_COLUMNS = ("ei", "ei_parts", "sensitivity", "degeneracy", "degeneracy_parts", "integration")


class CausalPlane(list):
    """What :func:`causal_plane` returns: a list of :class:`PlaneRow`, one per layer, in call order.

    A plain list (index it, iterate it), with conversions to dicts, a pandas DataFrame and
    CSV, and a table for ``print``.

    Examples
    --------
    >>> import torch
    >>> import deep_ei_fast as deep_ei
    >>> model = torch.nn.Sequential(torch.nn.Linear(2, 2, bias=False))
    >>> with torch.no_grad():
    ...     _ = model[0].weight.copy_(torch.eye(2))  # each output copies its input
    >>> plane = deep_ei.causal_plane(model, torch.zeros(1, 2), samples=10000, sensitivity_samples=1000,
    ...                              in_bins=8, out_bins=8, seed=0)
    >>> len(plane), plane[0].name
    (1, '0')
    >>> print(plane)  # doctest: +ELLIPSIS
    layer name module          EI  EI_parts sensitivity degeneracy  (parts) integration    samples
    -----...
        0 0    Linear 2->2 ...     10,000
    >>> plane.to_csv().splitlines()[0]  # doctest: +ELLIPSIS
    'layer,name,module,n_in,n_out,ei,ei_parts,sensitivity,degeneracy,...'
    >>> plane.to_dataframe()[["name", "ei", "sensitivity"]].round(1)
      name   ei  sensitivity
    0    0  6.0          6.0
    """

    def records(self):
        """The rows as dicts.

        Returns
        -------
        list of dict
            One dict per row, column (a PlaneRow field) -> value.
        """
        return [asdict(row) for row in self]

    def to_dataframe(self):
        """The rows as a pandas DataFrame.

        Returns
        -------
        pandas.DataFrame
            One row per layer, the PlaneRow fields as columns, in their order.

        Raises
        ------
        ImportError
            When pandas is not installed (``pip install pandas``).
        """
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("CausalPlane.to_dataframe needs pandas: pip install pandas") from None
        return pd.DataFrame(self.records(), columns=list(PLANE_COLUMNS))

    def to_csv(self, path=None):
        """Writes the rows as CSV: a header of the PlaneRow fields, then one line per row.

        Parameters
        ----------
        path : str, os.PathLike, file object or None, default None
            A file name (created or overwritten) or an open text file to write to; None:
            return the text instead.

        Returns
        -------
        str or None
            The CSV text when ``path`` is None, else None.

        Raises
        ------
        OSError
            When the file cannot be written.
        """
        if path is None:
            buffer = io.StringIO()
            self._write(buffer)
            return buffer.getvalue()
        if hasattr(path, "write"):
            self._write(path)
            return None
        with open(path, "w", newline="") as handle:
            self._write(handle)
        return None

    def _write(self, handle):
        writer = csv.DictWriter(handle, fieldnames=list(PLANE_COLUMNS))
        writer.writeheader()
        writer.writerows(self.records())

    def __str__(self):
        """A table: the row number (``layer``, as ``matrix --layer`` takes it), the module's name
        in model.named_modules(), the module, then the measures in bits."""
        name_width = max([4] + [len(r.name) for r in self])
        module_width = max([6] + [len(r.module) for r in self])
        header = (f"{'layer':>5} {'name':<{name_width}} {'module':<{module_width}} {'EI':>8} "
                  f"{'EI_parts':>9} {'sensitivity':>11} {'degeneracy':>10} {'(parts)':>8} "
                  f"{'integration':>11} {'samples':>10}")
        lines = [header, "-" * len(header)]
        for r in self:
            lines.append(f"{r.layer:>5} {r.name or '-':<{name_width}} {r.module:<{module_width}} "
                         f"{r.ei:>8.4f} {r.ei_parts:>9.4f} {r.sensitivity:>11.4f} {r.degeneracy:>10.4f} "
                         f"{r.degeneracy_parts:>8.4f} {r.integration:>11.4f} {r.samples:>10,}")
        return "\n".join(lines)
