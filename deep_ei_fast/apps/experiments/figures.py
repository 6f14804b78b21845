"""The experiments' figures: planes and their animation (plane/plots.py, drawn from the means
over seeds with 95% t intervals), and comparisons of configurations: quantities over epochs with
95% bands, and final values against a configuration's parameter with 95% error bars."""
import numpy as np

from ...plane.plots import MEASURE_LABELS, animate_causal_plane, plot_causal_plane, plot_measures
from .summary import plane_rows

LABELS = {**MEASURE_LABELS, "loss": "loss", "train_accuracy": "train accuracy",
          "test_accuracy": "test accuracy", "degeneracy_parts": "degeneracy (parts)"}
BITS = set(MEASURE_LABELS) | {"degeneracy_parts"}


def _figure(width, height):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def _colors(count):
    from matplotlib import colormaps
    cmap = colormaps["tab10"]
    return [cmap(k % 10) for k in range(count)]


def _label(quantity):
    return LABELS.get(quantity, quantity) + (" (bits)" if quantity in BITS else "")


def plane(entries, path, title):
    """One configuration's causal plane: mean trajectories over seeds, 95% t bars."""
    return plot_causal_plane(plane_rows(entries), path, unit="epoch", title=title)


def measures(entries, path, title):
    """One configuration's measures and metrics against epoch, 95% t bands."""
    return plot_measures(plane_rows(entries), path, unit="epoch", title=title)


def animation(entries, path, title):
    """One configuration's plane over training, a frame per recorded epoch (GIF)."""
    return animate_causal_plane(plane_rows(entries), path, unit="epoch", title=title)


def bands(groups, quantities, path, title, layers=None):
    """A grid: a row per layer, a column per quantity; in each panel one line per group (label
    -> aggregated entries) against epoch, with its 95% band. Metrics (the same for every layer)
    are drawn from layer 0 in the first row only."""
    layers = layers if layers is not None else sorted({e["layer"] for es in groups.values() for e in es})
    fig = _figure(3.6 * len(quantities), 2.6 * len(layers) + 0.6)
    colors = _colors(len(groups))
    for i, layer in enumerate(layers):
        for j, quantity in enumerate(quantities):
            ax = fig.add_subplot(len(layers), len(quantities), i * len(quantities) + j + 1)
            for color, (label, entries) in zip(colors, groups.items()):
                chosen = sorted((e for e in entries if e["layer"] == layer), key=lambda e: e["epoch"])
                if not chosen:
                    continue
                x = np.array([e["epoch"] for e in chosen], dtype=float)
                y = np.array([e[quantity] for e in chosen], dtype=float)
                half = np.nan_to_num(np.array([e[f"{quantity}_ci95"] for e in chosen], dtype=float))
                ax.plot(x, y, color=color, label=label, linewidth=1.3)
                ax.fill_between(x, y - half, y + half, color=color, alpha=0.2, linewidth=0)
            module = next((e["module"] for es in groups.values() for e in es if e["layer"] == layer), "")
            ax.set_title(f"layer {layer + 1} ({module})", fontsize=8)
            ax.set_xlabel("epoch", fontsize=8)
            ax.set_ylabel(_label(quantity), fontsize=8)
            ax.tick_params(labelsize=7)
            if i == 0 and j == 0:
                ax.legend(fontsize=7)
    fig.suptitle(title + " (mean over seeds, 95% t bands)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


def metric_bands(groups, metrics, path, title):
    """Metrics (accuracies, loss) against epoch, one line per group with its 95% band."""
    return bands({label: [e for e in entries if e["layer"] == 0] for label, entries in groups.items()},
                 metrics, path, title, layers=[0])


def against(points, quantity, path, title, xlabel):
    """Final values against a parameter: ``points`` maps a line label (a layer) to
    [(x, mean, half-width)]; 95% error bars."""
    fig = _figure(5.5, 4.2)
    ax = fig.add_subplot(1, 1, 1)
    for color, (label, values) in zip(_colors(len(points)), points.items()):
        values = sorted(values)
        x = np.array([v[0] for v in values], dtype=float)
        y = np.array([v[1] for v in values], dtype=float)
        half = np.nan_to_num(np.array([v[2] for v in values], dtype=float))
        ax.errorbar(x, y, yerr=half, color=color, marker="o", capsize=3, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(_label(quantity))
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path
