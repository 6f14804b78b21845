"""What an experiment is asked for: its scale (seeds, epochs, recordings, samples) and where it runs.

Every experiment has a default scale (about ten minutes on a 2-core CPU) and a full one (the
paper's measurement: 1e7 samples per layer); any field of ``Options`` left as None takes the
chosen scale's value.
"""
from dataclasses import dataclass, fields, replace
from typing import Optional


@dataclass(frozen=True)
class Scale:
    """How much an experiment trains and measures: each experiment has a default and a full one.

    Attributes
    ----------
    seeds : int
        Training seeds per configuration (each also gets its own measurement seed).
    epochs : int
        Training epochs of every run.
    recordings : int
        Causal-plane recordings per run, epoch 0 and the last epoch included.
    samples : int
        Noise samples per layer behind EI and EI_parts.
    sensitivity_samples : int
        Noise samples per input neuron behind the sensitivity.

    Examples
    --------
    >>> from deep_ei_fast.apps.experiments import PLANS
    >>> PLANS["depth"].default
    Scale(seeds=3, epochs=60, recordings=7, samples=100000, sensitivity_samples=1000)
    """
    seeds: int  # training seeds per configuration (each also gets its own measurement seed)
    epochs: int  # training epochs of every run
    recordings: int  # causal-plane recordings per run, epoch 0 and the last epoch included
    samples: int  # noise samples per layer behind EI and EI_parts
    sensitivity_samples: int  # noise samples per input neuron behind sensitivity


@dataclass(frozen=True)
class Options:
    """What an experiment is asked for: its scale and where it runs.

    Each field of the :class:`Scale` left None takes the experiment's default scale's value
    (with ``full=True``, its full scale's). Checked when the experiment starts.

    Parameters
    ----------
    full : bool, default False
        Start from the experiment's full scale (the paper's measurement: 1e7 samples per layer,
        5000 sensitivity samples per input neuron) instead of its default one.
    seeds, epochs, recordings, samples, sensitivity_samples : int, optional
        Override the scale's field: positive integers, ``recordings`` at least 2 (epoch 0 and
        the last). None: the scale's.
    bins : int, default 8
        Bins of every input and output neuron in the measurements, at least 2.
    device : str, default "cpu"
        Where the models are built, trained and measured: ``"cpu"`` or ``"cuda"``.
    gif : bool, default True
        Also write a GIF of the plane over training per configuration.
    progress : bool, default True
        A progress bar per run, advancing once per epoch.

    Examples
    --------
    >>> from deep_ei_fast.apps.experiments import PLANS, Options
    >>> plan = PLANS["dropout"]
    >>> Options(seeds=2).scale(plan.default, plan.full)
    Scale(seeds=2, epochs=200, recordings=11, samples=100000, sensitivity_samples=2000)
    >>> Options(full=True).scale(plan.default, plan.full)
    Scale(seeds=5, epochs=500, recordings=26, samples=10000000, sensitivity_samples=5000)
    """
    full: bool = False
    seeds: Optional[int] = None
    epochs: Optional[int] = None
    recordings: Optional[int] = None
    samples: Optional[int] = None
    sensitivity_samples: Optional[int] = None
    bins: int = 8
    device: str = "cpu"  # where the models are built and trained; they are measured there too
    gif: bool = True
    progress: bool = True  # a progress bar per run, advancing once per epoch

    def scale(self, default, full):
        """The Scale a run uses: ``full`` or ``default``, with the fields given here.

        Parameters
        ----------
        default, full : Scale
            The experiment's two scales.

        Returns
        -------
        Scale
            ``full`` if ``self.full`` else ``default``, with each field this Options gives.
        """
        chosen = full if self.full else default
        given = {f.name: getattr(self, f.name) for f in fields(Scale) if getattr(self, f.name) is not None}
        return replace(chosen, **given)


def check_options(options):
    """ValueError naming the option and its value, before any work."""
    if not isinstance(options, Options):
        raise TypeError(f"options must be an experiments Options, got {type(options).__name__}")
    for name in ("seeds", "epochs", "recordings", "samples", "sensitivity_samples"):
        value = getattr(options, name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if options.recordings is not None and options.recordings < 2:
        raise ValueError(f"recordings must be at least 2 (epoch 0 and the last), got {options.recordings}")
    if not isinstance(options.bins, int) or isinstance(options.bins, bool) or options.bins < 2:
        raise ValueError(f"bins must be an integer of at least 2, got {options.bins!r}")
    from ...api.arguments import check_device
    check_device(options.device)
    return options
