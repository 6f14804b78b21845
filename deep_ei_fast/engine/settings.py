"""MeasurementSettings: what one measurement is asked for, in one object instead of long
argument lists. api/arguments.check_settings validates one before any work."""
from dataclasses import dataclass
from typing import Optional, Union

import torch

DEFAULT_MEMORY_BOUND = 2 * 2**30  # bytes of pair counters (and cached codes) held at once


@dataclass(frozen=True)
class MeasurementSettings:
    samples: Optional[int] = None  # None: a sample-count rule decides (api/sample_rules.py)
    batch_size: int = 20  # deep-ei's forward-pass batches (rng="torch"); a hint for philox
    in_range: Optional[tuple] = None  # None: from the topology
    in_bins: int = 64
    out_range: Union[None, tuple, str] = None  # None: from the topology; or "dynamic"
    out_bins: Union[int, str] = 64  # or "dynamic"
    device: Union[str, torch.device] = "cpu"
    rng: str = "philox"  # "philox": counter-based noise; "torch": deep-ei's draws
    seed: Optional[int] = None  # philox seed; None: drawn from torch's generator
    progress: bool = True
    memory_bound: Optional[int] = DEFAULT_MEMORY_BOUND
    threshold: float = 0.05  # convergence threshold of samples=None
    estimator: str = "plugin"  # estimators/registry.py: "plugin", "miller_madow" or "shuffle"
    shuffles: int = 1  # null pairings averaged by estimator="shuffle"
