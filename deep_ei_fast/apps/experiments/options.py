"""What an experiment is asked for: its scale (seeds, epochs, recordings, samples) and where it runs.

Every experiment has a default scale (about ten minutes on a 2-core CPU) and a full one (the
paper's measurement: 1e7 samples per layer); any field of ``Options`` left as None takes the
chosen scale's value.
"""
from dataclasses import dataclass, fields, replace
from typing import Optional


@dataclass(frozen=True)
class Scale:
    seeds: int  # training seeds per configuration (each also gets its own measurement seed)
    epochs: int  # training epochs of every run
    recordings: int  # causal-plane recordings per run, epoch 0 and the last epoch included
    samples: int  # noise samples per layer behind EI and EI_parts
    sensitivity_samples: int  # noise samples per input neuron behind sensitivity


@dataclass(frozen=True)
class Options:
    """An experiment's options; None fields take the default (or, with ``full``, the full) scale."""
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
        """The Scale this run uses: ``full`` or ``default``, with the fields given here."""
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
