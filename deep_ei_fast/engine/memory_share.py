"""MemoryShare: the part of the caller's memory_bound that one structure may hold.

``memory_bound`` is a number the user passes (or the device's default). Structures whose number
grows with another argument split it into equal parts: the shuffle estimator's counters (the
real pairing and one null pairing per shuffle), vector tables (one per group). A structure that
cannot live in its part refuses through its share, which names the memory_bound the user
passed, the arguments that split it, and the smallest memory_bound that works (the smallest
part times the parts), never the part itself.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class MemoryShare:
    """``total`` bytes (the user's memory_bound) cut into ``parts`` equal parts by ``splits``:
    (argument as the user wrote it, e.g. "shuffles=10", how many parts it made) pairs.
    ``multiplied``: a split made as many structures as an argument asks for (then each part
    also holds its structure's bookkeeping, which grows with that argument)."""
    total: int
    parts: int = 1
    splits: tuple = ()
    multiplied: bool = False

    @property
    def bytes(self):
        """This part's bytes."""
        return self.total // self.parts

    def split(self, parts, argument, multiplies=True):
        """This part cut into `parts` parts, because of `argument` (itself when parts == 1);
        multiplies=False: a fixed split (not one structure per unit of an argument)."""
        if parts == 1:
            return self
        return MemoryShare(self.total, self.parts * parts, self.splits + ((argument, parts),),
                           self.multiplied or multiplies)

    def describe(self):
        """"memory_bound=N" and, when split, how: for the messages that name it."""
        if self.parts == 1:
            return f"memory_bound={self.total}"
        how = " and ".join(f"{parts} by {argument}" for argument, parts in self.splits)
        return f"memory_bound={self.total} (cut into {self.parts} parts of {self.bytes} bytes: {how})"

    def smallest_total(self, smallest_part):
        """The smallest memory_bound whose parts hold `smallest_part` bytes each."""
        return smallest_part * self.parts

    def refusal(self, reason, smallest_part, hint=""):
        """The ValueError of a part that needs at least `smallest_part` bytes: names the user's
        memory_bound, what split it, `reason`, and the smallest memory_bound that works (and,
        when the last split can shrink instead, its largest value that fits)."""
        message = (f"{self.describe()} is too small: {reason}; the smallest memory_bound that works is "
                   f"{self.smallest_total(smallest_part)}")
        if self.splits:
            argument, parts = self.splits[-1]
            name, _, value = argument.partition("=")
            fitting = self.total // (smallest_part * (self.parts // parts))  # parts of the last split that fit
            offset = parts - int(value) if value.isdigit() else 0  # shuffles=K makes K + 1 parts
            if value.isdigit() and fitting - offset >= 1:
                message += f" (or {name} <= {fitting - offset} with this memory_bound)"
        return ValueError(message + hint)


def memory_share(memory_bound):
    """A MemoryShare of a memory_bound given as bytes, or the MemoryShare itself."""
    return memory_bound if isinstance(memory_bound, MemoryShare) else MemoryShare(int(memory_bound))
