"""The result of causal_plane: one row per layer, convertible to a DataFrame and to CSV."""
import csv
import io
from dataclasses import asdict, dataclass, fields
from typing import Optional


@dataclass
class PlaneRow:
    """One layer's place in the causal plane. Information measures are in bits."""
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
    """A list of PlaneRow, one per measured layer, in the order of the network."""

    def records(self):
        """The rows as dicts (column -> value)."""
        return [asdict(row) for row in self]

    def to_dataframe(self):
        """A pandas DataFrame with one row per layer and the PlaneRow fields as columns."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("CausalPlane.to_dataframe needs pandas: pip install pandas") from None
        return pd.DataFrame(self.records(), columns=list(PLANE_COLUMNS))

    def to_csv(self, path=None):
        """Writes the rows as CSV to ``path`` (a file name or open text file); with no path,
        returns the CSV text."""
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
