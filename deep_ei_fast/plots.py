"""``deep_ei_fast.plots``, the documented path of the causal-plane plots (deep_ei_fast/plane/plots.py)."""
from .plane.plots import animate_causal_plane, plot_causal_plane, plot_measures  # noqa: F401

__all__ = ["plot_causal_plane", "plot_measures", "animate_causal_plane"]
