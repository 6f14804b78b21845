"""`deep-ei-fast matrix`: one layer of a saved model, its EI_parts matrix and the estimator's
statistics (pairwise_stats) saved as .npy files plus metadata.json, optionally from a
checkpoint, and under torchrun (WORLD_SIZE > 1) with the default process group.

Files (docs/cli.rst): ei_parts_matrix.npy (the estimator's MI per pair, bits), plugin_mi.npy,
standard_error.npy, p_value.npy, significant.npy, metadata.json. Each is written atomically;
metadata.json is written last, so its presence means the others are whole.
"""
import json
import os
import time
from datetime import datetime, timezone

import numpy as np
import torch

from ..api.statistics import pairwise_stats
from ..engine.checkpoint import write_atomically
from ..engine.version import VERSION
from ..plane.measure import planned_rows

ARRAYS = {  # file -> PairwiseStats field
    "ei_parts_matrix.npy": "mi",
    "plugin_mi.npy": "plugin_mi",
    "standard_error.npy": "standard_error",
    "p_value.npy": "p_value",
    "significant.npy": "significant",
}
METADATA = "metadata.json"


def check_out_folder(out):
    """--out must be a folder (made here if missing) that can be written: before measuring."""
    if os.path.exists(out) and not os.path.isdir(out):
        return f"--out {out!r} exists and is not a folder"
    parent = os.path.dirname(os.path.abspath(out))
    if not os.path.exists(out) and not os.path.isdir(parent):
        return f"--out {out!r}: the folder {parent!r} does not exist"
    if not os.access(out if os.path.exists(out) else parent, os.W_OK):
        return f"--out {out!r} is not writable"
    return None


def choose_layer(model, example_input, index, in_range=None, out_range=None):
    """(name, module) of --layer INDEX, numbered as causal_plane's rows (and measure's output),
    or a message listing the layers there are."""
    rows = planned_rows(model, example_input, in_range=in_range, out_range=out_range)
    if not 0 <= index < len(rows):
        listed = ", ".join(f"{i}: {layer_label(row['name'], row['module'])}" for i, row in enumerate(rows))
        return None, f"--layer {index}: the model has {len(rows)} measured layers ({listed or 'none'})"
    name = rows[index]["name"]
    return (name, model.get_submodule(name)), None


def layer_label(name, module):
    """E.g. "('2', Linear 8->4)": the module's name in model.named_modules() and what it is."""
    return f"({name!r}, {module})" if name else f"(the model, {module})"


def world_size():
    """torchrun's WORLD_SIZE (1 when not launched by torchrun)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 1


def start_process_group(device):
    """The default process group (nccl for CUDA, else gloo) and this rank's device."""
    import torch.distributed as dist
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return dist.group.WORLD, device


def measure(layer, top, args, device, process_group=None):
    """pairwise_stats of the layer under the command's arguments."""
    return pairwise_stats(layer, top, samples=args.samples, in_range=args.in_range,
                          in_bins=args.bins, out_range=args.out_range, out_bins=args.bins,
                          device=device, rng="philox", seed=args.seed, progress=not args.quiet,
                          memory_bound=args.memory_bound, estimator=args.estimator,
                          shuffles=args.shuffles, q=args.q, checkpoint=args.checkpoint,
                          process_group=process_group)


def _json_ready(value):
    if isinstance(value, (tuple, list)):
        return [_json_ready(v) for v in value]
    return value


def metadata(args, name, layer, stats, seconds, started, world, device):
    """metadata.json's content: arguments, layer, shapes, totals, version, timing."""
    n_in, n_out = stats.mi.shape
    low, high = stats.interval()
    return {
        "command": "matrix",
        "arguments": {key: _json_ready(value) for key, value in sorted(vars(args).items())
                      if key != "command"},
        "layer": {"index": args.layer, "name": name, "module": repr(layer), "n_in": n_in, "n_out": n_out},
        "files": {file: {"shape": list(getattr(stats, field).shape),
                         "dtype": str(getattr(stats, field).dtype)} for file, field in ARRAYS.items()},
        "totals": {"ei_parts": stats.ei_parts, "ei_parts_standard_error": stats.ei_parts_standard_error,
                   "ei_parts_95_interval": [low, high], "significant_pairs": stats.significant_pairs,
                   "pairs": n_in * n_out, "q": stats.q, "samples": stats.samples,
                   "estimator": stats.estimator},
        "library_version": VERSION,
        "torch_version": torch.__version__,
        "device": str(device),
        "world_size": world,
        "started_utc": started,
        "seconds": round(seconds, 3),
    }


def save(out, stats, content):
    """The arrays, then metadata.json, each written atomically into `out`."""
    os.makedirs(out, exist_ok=True)
    for file, field in ARRAYS.items():
        array = getattr(stats, field)
        write_atomically(os.path.join(out, file), lambda stream, a=array: np.save(stream, a))
    text = json.dumps(content, indent=1).encode()
    write_atomically(os.path.join(out, METADATA), lambda stream: stream.write(text))


def run_matrix(args, model, input_shape, device, report, description=None):
    """Measures and (on rank 0) saves; returns the PairwiseStats. ``report(line)`` prints
    (the model's ``description``, then the result)."""
    from ..api.topology import topology_of
    chosen, problem = choose_layer(model, torch.zeros(input_shape), args.layer, args.in_range, args.out_range)
    if problem:
        raise ValueError(problem)
    name, layer = chosen
    world, group = world_size(), None
    if world > 1:
        group, device = start_process_group(device)
    model = model.to(device)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    start = time.perf_counter()
    try:
        top = topology_of(model, torch.zeros(input_shape, device=device))
        stats = measure(layer, top, args, device, group)
        rank = 0 if group is None else torch.distributed.get_rank()
        if rank == 0:
            if description:
                report(f"model: {description}; measured on {device}")
            content = metadata(args, name, layer, stats, time.perf_counter() - start, started, world, device)
            save(args.out, stats, content)
            what = f"{type(layer).__name__} {stats.mi.shape[0]}->{stats.mi.shape[1]}"
            report(f"layer {args.layer} {layer_label(name, what)}: EI_parts {stats.ei_parts:.6g} bits "
                   f"+- {stats.ei_parts_standard_error:.3g}, {stats.significant_pairs} of "
                   f"{stats.mi.size} pairs significant at q={stats.q:g}, {stats.samples:,} samples, "
                   f"{content['seconds']:.3g} s")
            report(f"wrote {', '.join(ARRAYS)} and {METADATA} into {args.out}")
        return stats
    finally:
        if group is not None:
            torch.distributed.destroy_process_group()
