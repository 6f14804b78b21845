"""``checkpoint=PATH`` of the pairwise functions (ei_parts, ei_parts_matrix, pairwise_stats):
the argument checks and the metadata that a checkpoint directory must match (docs/long_runs.rst).

Checkpoints need numbers that a restarted run can reproduce tile by tile: a fixed ``samples``
and counter-based noise (rng="philox"). The philox seed is stored as resolved: with seed=None it
is drawn from torch's generator, and a restart matches only if it draws the same one.
"""
import hashlib
import os
from contextlib import contextmanager

import torch

from ..engine.checkpoint import TileStore
from ..engine.version import VERSION


def check_checkpoint(checkpoint, settings, extrapolate=False):
    """TypeError / ValueError naming the argument, before any samples are drawn."""
    if checkpoint is None:
        return
    if not isinstance(checkpoint, (str, os.PathLike)):
        raise TypeError(f"checkpoint must be a directory path (str or os.PathLike), got {checkpoint!r}")
    if settings.samples is None:
        raise ValueError(f"checkpoint={os.fspath(checkpoint)!r} needs a fixed number of samples: "
                         "samples=None (the convergence rule) recounts every tile each round; "
                         "give samples")
    if extrapolate:
        raise ValueError(f"checkpoint={os.fspath(checkpoint)!r} does not apply to "
                         "extrapolate=True (20 rounds of every tile); give samples instead")
    if settings.rng != "philox":
        raise ValueError(f"checkpoint={os.fspath(checkpoint)!r} needs rng='philox': rng="
                         f"{settings.rng!r} draws from torch's generator and cannot draw the same "
                         "samples again after a restart")


def _tensor_bytes(tensor):
    return tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def layer_fingerprint(spec):
    """The layer's modules, shapes and activation, and a SHA-256 of every parameter and buffer
    on the path in_layer ... layer."""
    digest = hashlib.sha256()
    for module in spec.modules:
        for name, tensor in module.state_dict().items():
            digest.update(f"{type(module).__name__}.{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
            digest.update(_tensor_bytes(tensor))
    activation = spec.activation_module
    return {
        "modules": [repr(module) for module in spec.modules],
        "in_shape": list(spec.in_shape),
        "out_shape": list(spec.out_shape),
        "activation": type(activation).__name__ if activation is not None
        else getattr(spec.activation, "__name__", type(spec.activation).__name__),
        "parameters_sha256": digest.hexdigest(),
    }


def run_metadata(function, m, memory_bound):
    """Everything that changes a pairwise measurement's tiles (or their plan); ``memory_bound`` as given (None:
    the device's default, which on CUDA follows its free memory: tiles are keyed by their
    rectangles, so a different plan recounts rather than mixes)."""
    s, spec = m.settings, m.spec
    return {
        "library_version": VERSION,
        "function": function,
        "layer": layer_fingerprint(spec),
        "philox_seed": m.philox_seed,
        "samples": s.samples,
        "in_range": list(spec.in_range),
        "in_bins": s.in_bins,
        "out_range": spec.out_range if isinstance(spec.out_range, str) else list(spec.out_range),
        "out_bins": s.out_bins,
        "estimator": s.estimator,
        "shuffles": s.shuffles,
        "memory_bound": memory_bound,
        "device_type": m.device.type,
        # Each rank plans its tiles inside its own region of pairs: another group size plans
        # other rectangles, and would recount them all beside these rather than resume.
        "process_group_size": m.shard.world,
    }


@contextmanager
def open_checkpoint(checkpoint, function, m, memory_bound):
    """A context in which the checkpoint's TileStore is attached to the Measurement ``m``
    (nothing when None), holding the directory's lock: one run at a time. With a process group
    rank 0 holds it for every rank, and a rank that cannot open the directory fails them all
    (each with its own error, or naming the rank that failed) instead of leaving them waiting."""
    check_checkpoint(checkpoint, m.settings)
    if checkpoint is None:
        yield
        return
    shard, store, problem = m.shard, None, None
    try:
        store = TileStore(checkpoint, run_metadata(function, m, memory_bound), lock=shard.rank == 0)
    except ValueError as error:
        problem = error
    if shard.any_over_ranks(problem is not None, "opening the checkpoint"):
        if store is not None:
            store.close()
        raise problem or ValueError(
            f"checkpoint={os.fspath(checkpoint)!r}: another rank of the process group could not "
            "open it (see that rank's error)")
    m.tile_store = store
    try:
        yield
    finally:
        m.tile_store = None
        store.close()
