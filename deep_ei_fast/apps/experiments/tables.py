"""The markdown tables of the reports: values at the last epoch, changes over training, and
differences between configurations, each a mean over seeds with its 95% t interval."""
from .report import table
from .summary import final_epoch, format_interval, paired_difference, per_seed, select

SHORT = {"ei": "EI", "ei_parts": "EI_parts", "sensitivity": "sensitivity", "degeneracy": "degeneracy",
         "integration": "integration", "degeneracy_parts": "degeneracy (parts)",
         "train_accuracy": "train acc", "test_accuracy": "test acc", "loss": "loss"}


def final_values(entries, keys, quantities, epoch):
    """A table of every configuration and layer at ``epoch``."""
    rows = []
    for e in sorted(select(entries, epoch=epoch), key=lambda e: tuple(str(e[k]) for k in keys) + (e["layer"],)):
        rows.append([*(e[k] for k in keys), f"{e['layer'] + 1}: {e['module']}",
                     *(format_interval(e[q], e[f"{q}_ci95"]) for q in quantities)])
    return table([*keys, "layer", *(SHORT.get(q, q) for q in quantities)], rows)


def changes(rows, configs, keys, quantities):
    """A table of the paired change (last epoch - epoch 0) of each quantity, per configuration
    and layer, with its 95% t interval over seeds; returns (markdown, {(config, layer, q): (mean,
    half)})."""
    last = final_epoch(rows)
    found, lines = {}, []
    layers = sorted({r["layer"] for r in rows})
    for config in configs:
        match = dict(zip(keys, config))
        for layer in layers:
            cells = []
            for q in quantities:
                start, end = per_seed(rows, match, q, 0, layer), per_seed(rows, match, q, last, layer)
                if not start:
                    break
                mean, _, half, _ = paired_difference(end, start)
                found[config, layer, q] = (mean, half)
                cells.append(format_interval(mean, half))
            if cells:
                lines.append([*config, layer + 1, *cells])
    header = [*keys, "layer", *(f"Δ {SHORT.get(q, q)}" for q in quantities)]
    return table(header, lines), found


def differences(rows, pairs, keys, quantities, epoch):
    """A table of paired differences (a - b, over the seeds both have) at ``epoch``: ``pairs`` is
    [(label, config a, config b)]; returns (markdown, {(label, layer, q): (mean, half)})."""
    found, lines = {}, []
    layers = sorted({r["layer"] for r in rows})
    for label, a, b in pairs:
        for layer in layers:
            cells = []
            for q in quantities:
                va = per_seed(rows, dict(zip(keys, a)), q, epoch, layer)
                vb = per_seed(rows, dict(zip(keys, b)), q, epoch, layer)
                if not va or not vb:
                    break
                mean, _, half, _ = paired_difference(va, vb)
                found[label, layer, q] = (mean, half)
                cells.append(format_interval(mean, half))
            if cells:
                lines.append([label, layer + 1, *cells])
    return table(["difference", "layer", *(SHORT.get(q, q) for q in quantities)], lines), found


def excludes_zero(mean, half):
    """Whether a 95% interval lies on one side of 0 (False when its width is unknown)."""
    return half == half and abs(mean) > half


def vector_ei_note(entries, samples, bins):
    """Which layers' vector EI cannot be resolved at this sample count: with n_in inputs of
    ``bins`` bins there are bins**n_in input cells; with fewer samples than cells almost every
    sample is a distinct input and the shuffle estimate of EI falls towards 0 (docs/estimators)."""
    widths = sorted({e["n_in"] for e in entries})
    under = [w for w in widths if bins ** w > samples]
    if not under:
        return (f"Every layer has at most {samples:,} input cells ({bins} bins per input): vector EI "
                "is resolved by the sample count.")
    return (f"Vector EI is not resolved for layers with {', '.join(map(str, under))} inputs: "
            f"{bins}^n_in input cells exceed the {samples:,} samples, so almost every sample is a "
            "distinct input and the shuffle estimate of EI goes towards 0 (\"not measurable at this "
            "N\", docs/estimators.rst). EI_parts, sensitivity (pairwise quantities) are resolved; "
            "read those layers' EI and degeneracy (= sensitivity - EI) as bounded by the sampling.")
