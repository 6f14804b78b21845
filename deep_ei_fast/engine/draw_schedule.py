"""deep-ei 0.7.0's split of samples into chunks and batches: the order of its random draws.

rng="torch" follows these schedules exactly, since the same torch.rand calls in the same order
and shapes are what reproduces deep-ei's numbers.
"""
# deep-ei splits noise into chunks of at most this many floats per tensor (exported as
# deep_ei_fast.MEMORY_LIMIT, as deep-ei names it).
MEMORY_LIMIT = 100000000


def chunk_sizes(samples, num_inputs, num_outputs, limit=MEMORY_LIMIT):
    """Chunk sizes for `samples` samples of a layer with the given widths."""
    width = max(num_inputs, num_outputs)
    size = limit // width
    for _ in range(size, samples + 1, size):
        yield size
    if size > samples:
        yield samples
    remainder = samples % size
    if remainder and width * samples >= limit:
        yield remainder


def batch_bounds(samples, batch_size):
    """(start, stop) of each batch of a chunk of `samples` samples."""
    if batch_size > samples:
        yield 0, samples
        return
    start = 0
    for _ in range(samples // batch_size):
        yield start, start + batch_size
        start += batch_size
    if samples % batch_size:
        yield start, samples
