"""MeasurementSettings: what one measurement is asked for, in one object instead of long
argument lists; MeasurementSettings.of builds it from any public function's arguments.
api/arguments.check_settings validates one before any work."""
import dataclasses
from dataclasses import dataclass
from typing import Optional, Union

import torch

DEFAULT_MEMORY_BOUND = 2 * 2**30  # bytes of pair counters (and cached codes) held at once (CPU)
# memory_bound=None on CUDA: this fraction of the device's free memory (the rest is left for the
# noise blocks, the codes waiting for a histogram call and torch's forward pass).
CUDA_FREE_FRACTION = (3, 4)


def default_memory_bound(device, free_bytes=None):
    """What memory_bound=None means on `device`: DEFAULT_MEMORY_BOUND on the CPU; on CUDA, 3/4
    of the device's free bytes (``free_bytes``, else torch.cuda.mem_get_info(device)'s), so
    that a large GPU holds large layers' counters whole instead of re-streaming the samples
    once per tile."""
    device = torch.device(device)
    if device.type != "cuda":
        return DEFAULT_MEMORY_BOUND
    if free_bytes is None:
        free_bytes = torch.cuda.mem_get_info(device)[0]
    numerator, denominator = CUDA_FREE_FRACTION
    return int(free_bytes) * numerator // denominator


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
    memory_bound: Optional[int] = None  # None: default_memory_bound(device), set by check_settings
    threshold: float = 0.05  # convergence threshold of samples=None
    max_samples: Optional[int] = None  # samples=None stops here (api/sample_rules); None: no cap
    estimator: str = "plugin"  # estimators/registry.py: "plugin", "miller_madow" or "shuffle"
    shuffles: int = 1  # null pairings averaged by estimator="shuffle"
    process_group: object = None  # a torch.distributed ProcessGroup sharing the work (sharding.py)

    @classmethod
    def of(cls, arguments):
        """The settings among a public function's arguments (its ``locals()`` on entry): each
        parameter named as a field is that field, the others (layer, topology, groups, ...) are
        not settings, and a field the function does not take keeps its default."""
        return cls(**{field.name: arguments[field.name] for field in dataclasses.fields(cls)
                      if field.name in arguments})
