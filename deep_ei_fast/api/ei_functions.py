"""The EI functions of deep-ei 0.7.0: same signatures and defaults, plus keyword-only
rng / seed / progress (and memory_bound for pairwise counts)."""
from .arguments import DEFAULT_MEMORY_BOUND, check_threshold
from .convergence import (EXTRAPOLATION_POINTS, EXTRAPOLATION_ROUND, FIRST_ROUND, doubling_rounds,
                          ei_parts_converged, extrapolate as extrapolate_curve, vector_ei_converged)
from .measurement import Measurement
from .pairwise import sum_in_order
from .vector import VectorCounts

SMALL_EI_PARTS = 0.01  # deep-ei reports EI_parts below this as 0.0


def _zero_small(value):
    return 0.0 if value < SMALL_EI_PARTS else value


def _pairwise_until_converged(m, counts, threshold, bar):
    """ei_parts' auto rule; returns the MI matrix at convergence."""
    previous = None
    for interval, total in doubling_rounds():
        m.feed(interval, [counts], bar)
        matrix = counts.mi_matrix()
        current = sum_in_order(matrix)
        if previous is not None and ei_parts_converged(previous, current, interval, total, threshold):
            return matrix
        previous = current


def ei_parts(layer, topology, threshold=0.05, samples=None, extrapolate=False, batch_size=20,
             in_layer=None, in_range=None, in_bins=64, out_range=None, out_bins=64,
             activation=None, device='cpu', *, rng="philox", seed=None, progress=True,
             memory_bound=DEFAULT_MEMORY_BOUND):
    r"""EI_parts of ``layer``: the sum over all (input A, output B) pairs of I(t_A; t_B) in bits,
    with the whole input layer firing uniformly at random. Sums below 0.01 are reported as 0.0.

    samples=None doubles the samples until the relative change falls under ``threshold``;
    extrapolate=True fits a / n^e + C over 20 rounds of 1e5 samples (deep-ei's rules).
    """
    check_threshold(threshold)
    m = Measurement(layer, topology, samples=samples, batch_size=batch_size, in_layer=in_layer,
                    in_range=in_range, in_bins=in_bins, out_range=out_range, out_bins=out_bins,
                    activation=activation, device=device, rng=rng, seed=seed, progress=progress,
                    memory_bound=memory_bound, dynamic_out=True, description="ei_parts")
    if extrapolate:
        counts = m.pair_counts(m.pair_binning(EXTRAPOLATION_ROUND), EXTRAPOLATION_ROUND * EXTRAPOLATION_POINTS)
        eis = []
        with m.bar(EXTRAPOLATION_ROUND * EXTRAPOLATION_POINTS) as bar:
            for _ in range(EXTRAPOLATION_POINTS):
                m.feed(EXTRAPOLATION_ROUND, [counts], bar)
                eis.append(sum_in_order(counts.mi_matrix()))
        return _zero_small(extrapolate_curve(eis))
    counts = m.pair_counts(m.pair_binning(samples or FIRST_ROUND), samples)
    if samples is not None:
        with m.bar(samples) as bar:
            m.feed(samples, [counts], bar)
        return _zero_small(sum_in_order(counts.mi_matrix()))
    with m.bar(None) as bar:
        return _zero_small(sum_in_order(_pairwise_until_converged(m, counts, threshold, bar)))


def ei_parts_matrix(layer, topology, samples=None, batch_size=20, in_layer=None, in_range=None,
                    in_bins=64, out_range=None, out_bins=64, activation=None, device='cpu', *,
                    rng="philox", seed=None, progress=True, memory_bound=DEFAULT_MEMORY_BOUND,
                    threshold=0.05):
    r"""Matrix [n_in, n_out] of I(t_A; t_B) in bits for every pair, as a float64 numpy array.

    samples=None uses ei_parts' convergence rule (with ``threshold``) on the matrix's sum
    (deep-ei 0.7.0 crashes there). Pair counters are tiled to stay under ``memory_bound`` bytes.
    """
    check_threshold(threshold)
    m = Measurement(layer, topology, samples=samples, batch_size=batch_size, in_layer=in_layer,
                    in_range=in_range, in_bins=in_bins, out_range=out_range, out_bins=out_bins,
                    activation=activation, device=device, rng=rng, seed=seed, progress=progress,
                    memory_bound=memory_bound, dynamic_out=True, description="ei_parts_matrix")
    counts = m.pair_counts(m.pair_binning(samples or FIRST_ROUND), samples)
    if samples is not None:
        with m.bar(samples) as bar:
            m.feed(samples, [counts], bar)
        return counts.mi_matrix()
    with m.bar(None) as bar:
        return _pairwise_until_converged(m, counts, threshold, bar)


def _vector_measurement(layer, topology, samples, batch_size, in_layer, in_range, in_bins,
                        out_range, out_bins, activation, device, rng, seed, progress, description,
                        memory_bound=None):
    """A Measurement for the vector functions, which take no 'dynamic' ranges or bins."""
    return Measurement(layer, topology, samples=samples, batch_size=batch_size, in_layer=in_layer,
                       in_range=in_range, in_bins=in_bins, out_range=out_range, out_bins=out_bins,
                       activation=activation, device=device, rng=rng, seed=seed, progress=progress,
                       memory_bound=memory_bound, description=description)


def _vector_counts(m, groups=None):
    spec = m.spec
    return VectorCounts(spec.in_range, m.in_bins, spec.out_range, m.out_bins, spec.n_in, spec.n_out,
                        spec.outputs_bounded_below_range(), groups)


def _vector_until_converged(m, consumers, vector, threshold, bar):
    """ei's auto rule: double the samples until every vector EI changes by < threshold bits."""
    previous = None
    for interval, _ in doubling_rounds():
        m.feed(interval, consumers, bar)
        current = vector.eis()
        if previous is not None and all(vector_ei_converged(p, c, threshold) for p, c in zip(previous, current)):
            return current
        previous = current


def ei(layer, topology, threshold=0.05, samples=None, batch_size=20, in_layer=None, in_range=None,
       in_bins=64, out_range=None, out_bins=64, activation=None, device='cpu', *, rng="philox",
       seed=None, progress=True):
    r"""Vector EI of ``layer``: I(X; Y) in bits between the whole binned input and output vectors
    under uniform noise. samples=None doubles samples until EI changes by < ``threshold`` bits."""
    check_threshold(threshold)
    m = _vector_measurement(layer, topology, samples, batch_size, in_layer, in_range, in_bins,
                            out_range, out_bins, activation, device, rng, seed, progress, "ei")
    vector = _vector_counts(m)
    if samples is not None:
        with m.bar(samples) as bar:
            m.feed(samples, [vector], bar)
        return vector.eis()[0]
    with m.bar(None) as bar:
        return _vector_until_converged(m, [vector], vector, threshold, bar)[0]


def _check_groups(groups, n_in, n_out):
    try:
        groups = [(tuple(i), tuple(o)) for i, o in groups]
    except (TypeError, ValueError):
        raise TypeError(f"groups must be a list of (in_indices, out_indices) pairs, got {groups!r}") from None
    for in_index, out_index in groups:
        for name, indices, size in (("input", in_index, n_in), ("output", out_index, n_out)):
            for k in indices:
                if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k < size:
                    raise ValueError(f"groups: {name} index {k!r} in group {(in_index, out_index)!r} "
                                     f"is out of range for {size} {name} neurons")
    return groups


def eis_between_groups(layer, topology, groups, samples=None, batch_size=20, in_layer=None,
                       in_range=None, in_bins=64, out_range=None, out_bins=64, activation=None,
                       device='cpu', *, rng="philox", seed=None, progress=True, threshold=0.05):
    r"""Vector EI between each (input group, output group) of ``layer``, as a list of floats.

    Samples are filtered on the whole vectors first, as in deep-ei. samples=None (a crash in
    deep-ei 0.7.0) doubles samples until every group's EI changes by < ``threshold`` bits.
    """
    check_threshold(threshold)
    m = _vector_measurement(layer, topology, samples, batch_size, in_layer, in_range, in_bins,
                            out_range, out_bins, activation, device, rng, seed, progress,
                            "eis_between_groups")
    vector = _vector_counts(m, _check_groups(groups, m.spec.n_in, m.spec.n_out))
    if samples is not None:
        with m.bar(samples) as bar:
            m.feed(samples, [vector], bar)
        return vector.eis()
    with m.bar(None) as bar:
        return _vector_until_converged(m, [vector], vector, threshold, bar)


def vector_and_pairwise_ei(layer, topology, samples=None, batch_size=20, in_layer=None,
                           in_range=None, in_bins=64, out_range=None, out_bins=64, activation=None,
                           device='cpu', *, rng="philox", seed=None, progress=True,
                           memory_bound=DEFAULT_MEMORY_BOUND, threshold=0.05):
    r"""(vector EI, EI_parts) of ``layer`` from the same samples, in bits (no 0.01 zeroing).

    samples=None (a crash in deep-ei 0.7.0) uses ei's rule on the vector EI.
    """
    vector_ei, pairwise_ei, _ = vector_and_pairwise_ei_counted(
        layer, topology, samples, batch_size, in_layer, in_range, in_bins, out_range, out_bins,
        activation, device, rng=rng, seed=seed, progress=progress, memory_bound=memory_bound,
        threshold=threshold)
    return vector_ei, pairwise_ei


def vector_and_pairwise_ei_counted(layer, topology, samples, batch_size, in_layer, in_range,
                                   in_bins, out_range, out_bins, activation, device, *, rng, seed,
                                   progress, memory_bound, threshold):
    """vector_and_pairwise_ei, plus the number of samples it drew (samples=None converges)."""
    check_threshold(threshold)
    m = _vector_measurement(layer, topology, samples, batch_size, in_layer, in_range, in_bins,
                            out_range, out_bins, activation, device, rng, seed, progress,
                            "vector_and_pairwise_ei", memory_bound)
    vector = _vector_counts(m)
    counts = m.pair_counts(m.pair_binning(samples or FIRST_ROUND), samples)
    if samples is not None:
        with m.bar(samples) as bar:
            m.feed(samples, [vector, counts], bar)
        vector_ei = vector.eis()[0]
    else:
        with m.bar(None) as bar:
            vector_ei = _vector_until_converged(m, [vector, counts], vector, threshold, bar)[0]
    return vector_ei, sum_in_order(counts.mi_matrix()), m.samples_drawn
