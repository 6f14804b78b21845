"""Shard: this process's part of a measurement spread over a torch.distributed process group.

Every rank regenerates the philox noise it needs (sample i is a pure function of the seed and
i), counts its part, and the parts are gathered so that every rank ends with one process's
result, bit for bit. The split: pair counters by a contiguous slab of pairs along the layer's
longer side (pair_region), vector tables by stream block (owns_block), sensitivity by input
neuron (part). Without a group (or with a group of one rank) every collective is a no-op.

Collectives move tensors on the measurement's device under NCCL (which needs CUDA tensors) and
on the CPU under every other backend (gloo). A failed collective (a peer that died: gloo sees
its connection close; or one that stopped: the group's timeout passes) becomes one RuntimeError
naming this rank, the operation and the timeout, instead of a hang.
"""
import datetime

import numpy as np
import torch

DEFAULT_TIMEOUT = datetime.timedelta(minutes=30)  # torch.distributed's own default


def _dist():
    import torch.distributed as dist  # imported on use: torch builds without it still load us
    return dist


def check_process_group(process_group, rng):
    """ValueError naming process_group (or rng) before any work: None, or a ProcessGroup of an
    initialized torch.distributed that this process belongs to; rng='torch' only alone."""
    if process_group is None:
        return
    dist = _dist()
    if not dist.is_available() or not dist.is_initialized():
        raise ValueError(f"process_group={process_group!r}: torch.distributed is not initialized "
                         "(call torch.distributed.init_process_group first, e.g. under torchrun)")
    if not isinstance(process_group, dist.ProcessGroup):
        raise ValueError(f"process_group must be None or a torch.distributed ProcessGroup, got "
                         f"{type(process_group).__name__} {process_group!r}")
    if dist.get_rank(process_group) < 0:
        raise ValueError(f"process_group={process_group!r}: this process (global rank "
                         f"{dist.get_rank()}) is not a member of the group")
    world = dist.get_world_size(process_group)
    if rng == "torch" and world > 1:
        raise ValueError(f"rng='torch' with a process_group of {world} ranks: torch's draws cannot "
                         "be regenerated rank by rank; use rng='philox' (the default)")


def _group_timeout(group):
    try:
        return group._get_backend(torch.device("cpu")).options._timeout
    except (AttributeError, RuntimeError):
        return DEFAULT_TIMEOUT


def split(n, parts, index):
    """(start, stop) of part `index` of range(n) cut into `parts` contiguous parts whose sizes
    differ by at most one (empty parts when parts > n)."""
    return n * index // parts, n * (index + 1) // parts


class Shard:
    """Rank `rank` of `world` of a process group (None: rank 0 of 1)."""

    def __init__(self, process_group=None, device="cpu"):
        self.group = process_group
        self.rank, self.world, self.timeout = 0, 1, None
        self.device = torch.device("cpu")
        if process_group is not None:
            dist = _dist()
            self.rank = dist.get_rank(process_group)
            self.world = dist.get_world_size(process_group)
            self.timeout = _group_timeout(process_group)
            if dist.get_backend(process_group) == "nccl":
                self.device = torch.device(device)

    @property
    def distributed(self):
        return self.world > 1

    def part(self, n):
        """(start, stop) of this rank's part of range(n)."""
        return split(n, self.world, self.rank)

    @staticmethod
    def pair_axis(n_in, n_out):
        """The axis of n_in x n_out that the ranks' pair slabs cut: the longer side (0: inputs)."""
        return 0 if n_in >= n_out else 1

    def pair_region(self, n_in, n_out):
        """(a0, a1, b0, b1): this rank's pairs, a slab along pair_axis of n_in x n_out."""
        if self.pair_axis(n_in, n_out) == 0:
            return (*self.part(n_in), 0, n_out)
        return (0, n_in, *self.part(n_out))

    def owns_block(self, index):
        """Whether stream block `index` is this rank's (blocks are dealt round-robin)."""
        return index % self.world == self.rank

    def _wait(self, operation, start):
        dist = _dist()
        try:
            start(dist).wait(timeout=self.timeout)
        except Exception as error:  # gloo / NCCL raise several types for a lost peer
            raise RuntimeError(
                f"rank {self.rank} of {self.world}: {operation} failed or did not finish within "
                f"the process group's timeout of {self.timeout.total_seconds():g} s (another rank "
                f"died or stopped taking part): {error}") from error

    def all_gather(self, tensor, operation):
        """Every rank's `tensor` (the same shape and dtype on each), in rank order."""
        if not self.distributed:
            return [tensor]
        sent = tensor.to(self.device).contiguous()
        received = [torch.empty_like(sent) for _ in range(self.world)]
        self._wait(operation, lambda dist: dist.all_gather(received, sent, group=self.group, async_op=True))
        return [t.to(tensor.device) for t in received]

    def agree(self, value, operation="agreeing on the seed"):
        """Rank 0's integer `value` (int64), on every rank."""
        if not self.distributed:
            return value
        return int(self.all_gather(torch.tensor([value], dtype=torch.int64), operation)[0][0])

    def gather_rows(self, tensor, operation):
        """Every rank's `tensor`, whose first dimension may differ between ranks, in rank order
        (sent padded to the longest)."""
        if not self.distributed:
            return [tensor]
        sizes = [int(s[0]) for s in self.all_gather(
            torch.tensor([tensor.shape[0]], dtype=torch.int64), f"{operation} (sizes)")]
        padded = tensor.new_zeros((max(sizes), *tensor.shape[1:]))
        padded[:tensor.shape[0]] = tensor
        return [t[:size] for t, size in zip(self.all_gather(padded, operation), sizes)]

    def gather_slabs(self, local, axis, operation):
        """The concatenation along `axis` of every rank's slab `local` (float64 numpy, or a
        torch tensor), each rank's part of that axis: the whole array on every rank."""
        if not self.distributed:
            return local
        is_numpy = isinstance(local, np.ndarray)
        tensor = torch.from_numpy(np.ascontiguousarray(local)) if is_numpy else local
        moved = tensor.movedim(axis, 0).contiguous()
        whole = torch.cat(self.gather_rows(moved, operation)).movedim(0, axis)
        return whole.numpy() if is_numpy else whole

    def sum_over_ranks(self, tensor, operation):
        """Sum of every rank's `tensor`, added in rank order (the same float on every rank)."""
        if not self.distributed:
            return tensor
        parts = self.all_gather(tensor, operation)
        total = parts[0].clone()
        for part in parts[1:]:
            total += part
        return total

    def any_over_ranks(self, flag, operation):
        """Whether `flag` holds on any rank (the same answer on every rank)."""
        if not self.distributed:
            return bool(flag)
        return any(bool(t[0]) for t in self.all_gather(torch.tensor([int(bool(flag))]), operation))


SINGLE = Shard()  # the single-process shard
