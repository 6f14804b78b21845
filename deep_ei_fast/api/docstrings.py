"""The parameter descriptions that the public functions' numpydoc docstrings share.

A docstring line that holds only ``{name}`` stands for ``ENTRIES[name]``, indented as that line:
``@shared_entries`` replaces it when the function is defined, so that help(), Sphinx and the
doctests read the whole text. Eleven functions take the same twenty-odd arguments (deep-ei's
signature and this library's keyword-only additions); each is described once, here, as the code
checks and uses it (api/arguments.py, api/layer_resolution.py, engine/settings.py). So are the
small layers the examples measure, whose answers are known (``entries_filler`` makes such a
decorator for another table: plane/plots.py's).
"""
import re
import textwrap

# out_range's outputs outside it and its None (deep-ei's rules), alike in every EI function.
_OUTSIDE_AND_NONE = """\
    The (low, high) range binned for each output neuron. Outputs outside it are binned as
    deep-ei bins them: a pairwise count leaves a sample out of the pairs whose values fall
    outside (the range widened by 1e-6 each side); a vector count leaves out a sample with an
    output above the range and keeps one below it as an extra code. None: the range of the
    activation that follows ``layer`` in the model (as for ``in_range``; none: (-10, 10)),
    or, when that activation is unbounded, the range of ``activation`` if it has one (else
    ValueError)."""

ENTRIES = {
    # -- deep-ei's arguments -------------------------------------------------------------------
    "layer": """\
layer : torch.nn.Module or LayerSpec
    The layer to measure: a node of ``topology`` (a module of :data:`VALID_MODULES` that the
    model calls), or a :class:`LayerSpec` that describes a layer by hand, with ``topology``,
    ``in_layer`` and ``activation`` None (ValueError otherwise); ``in_range`` and
    ``out_range``, when given, replace the LayerSpec's.""",
    "topology": """\
topology : networkx.DiGraph or None
    The model's graph from :func:`topology_of`; a graph with deep-ei's node attributes made
    elsewhere is read with deep-ei's rules. None when ``layer`` is a LayerSpec.""",
    "samples_converging": """\
samples : int or None, default None
    How many noise samples to draw (at least 1). None: deep-ei's doubling rounds of 10000,
    10000, 20000, 40000, ... new samples until the rule of ``threshold`` holds between two
    successive estimates, or until ``max_samples``.""",
    "samples_sensitivity": """\
samples : int, default 500
    Noise samples per input neuron (at least 1). There is no sample-count rule: None raises
    TypeError.""",
    "batch_size": """\
batch_size : int, default 20
    Samples per forward pass with ``rng="torch"`` (deep-ei's batches, which its draws follow);
    with ``rng="philox"`` a hint only: the engine picks its own blocks and the result does not
    depend on it. At least 1.""",
    "in_layer": """\
in_layer : torch.nn.Module, optional
    The node of ``topology`` where the noise enters, upstream of ``layer``: the modules from
    ``in_layer`` to ``layer`` run in turn, each followed by the activation the model applies
    to it, and the path is measured as one map (deep-ei's). None: ``layer`` itself. A node
    that is not upstream, or a path the model does not compute as a chain, raises
    ValueError.""",
    "in_range": """\
in_range : (float, float), optional
    The (low, high) range of the uniform input noise, which is also the range its bins cover.
    None: the output range of the activation the input comes from (deep-ei's table: Sigmoid
    (0, 1), Tanh (-1, 1), ReLU (0, 10), no activation (-10, 10); other bounded activations,
    such as ReLU6, their own); after an unbounded one such as GELU, None raises ValueError.
    Finite, low < high, within float32's range.""",
    "in_bins": """\
in_bins : int, default 64
    Equal bins over ``in_range`` for each input neuron, 1 to 65535.""",
    "out_range": """\
out_range : (float, float), optional
""" + _OUTSIDE_AND_NONE + """
    ``"dynamic"`` raises ValueError here.""",
    "out_range_dynamic": """\
out_range : (float, float) or "dynamic", optional
""" + _OUTSIDE_AND_NONE + """
    ``"dynamic"``: deep-ei's rule, each output neuron's minimum and maximum over the first
    chunk of samples.""",
    "out_range_sensitivity": """\
out_range : (float, float) or "dynamic", optional
    The (low, high) range binned for each output neuron, with None as for the EI functions:
    the range of the activation that follows ``layer`` (none: (-10, 10)). ``"dynamic"``:
    deep-ei's sensitivity rule, the least and greatest output when one input neuron at a time
    is set to either end of ``in_range`` and the others to 0 (ValueError when that gives
    low > high, a decreasing layer).""",
    "out_bins": """\
out_bins : int, default 64
    Equal bins over ``out_range`` for each output neuron, 1 to 65535. ``"dynamic"`` raises
    ValueError here.""",
    "out_bins_dynamic": """\
out_bins : int or "dynamic", default 64
    Equal bins over ``out_range`` for each output neuron, 1 to 65535. ``"dynamic"``: deep-ei's
    rule, bins as wide as the input's, ``int(width / input bin width) + 1`` of them for each
    output neuron, the top of its range moved up to a whole number of bins.""",
    "out_bins_sensitivity": """\
out_bins : int or "dynamic", default 64
    Equal bins over ``out_range`` for each output neuron, 1 to 65535. ``"dynamic"``: deep-ei's
    sensitivity rule, ``ceil(width of out_range / input bin width)`` bins.""",
    "activation": """\
activation : callable, optional
    Applied to ``layer``'s output in place of the activation the model applies: a module or a
    function (TypeError otherwise), which must keep the layer's width. None: the model's
    (none: the identity). The default ``out_range`` still comes from the model's activation
    when it is bounded, as in deep-ei.""",
    "device_cpu": """\
device : str or torch.device, default 'cpu'
    Where the noise is drawn and the layer is run: ``'cpu'``, ``'cuda'`` or ``'cuda:N'``
    (deep-ei's default). The parameters and buffers of the modules measured must be there
    (ValueError naming the device to pass otherwise).""",
    "device_model": """\
device : str, torch.device or None, default None
    Where the noise is drawn and the layer is run: ``'cpu'``, ``'cuda'``, ``'cuda:N'``, or
    None: the device of the parameters and buffers of the modules measured (``in_layer`` to
    ``layer``), the CPU when they have none. They must be on ``device`` (ValueError naming the
    device to pass otherwise).""",
    "threshold_vector": """\
threshold : float, default 0.05
    With ``samples=None``: the rounds stop once the vector EI (with groups, every group's)
    changed by less than ``threshold`` bits since the previous round (deep-ei's rule for
    ``ei``). Greater than 0; unused when ``samples`` is given.""",
    "threshold_parts": """\
threshold : float, default 0.05
    With ``samples=None``: the rounds stop once
    ``(EI_prev - EI) / round samples * total samples / EI <= threshold``, EI being EI_parts
    after the round (deep-ei's rule for ``ei_parts``; an EI of 0 counts as converged).
    Greater than 0; unused when ``samples`` is given.""",
    # -- this library's keyword-only arguments (docs/api.rst's table) -----------------------------
    "rng": """\
rng : {"philox", "torch"}, default "philox"
    ``"philox"``: counter-based noise generated in the kernels, a pure function of (seed,
    sample, neuron); ``"torch"``: deep-ei's own draws from torch's global generator, in its
    order, for deep-ei's numbers (:doc:`rng`).""",
    "seed": """\
seed : int or None, default None
    The philox seed, an integer in [0, 2**64). None: one drawn from torch's global generator,
    so ``torch.manual_seed`` makes runs repeatable. With ``rng="torch"`` it must be None
    (ValueError): seed torch's generator with ``torch.manual_seed`` instead.""",
    "progress": """\
progress : bool, default True
    Progress on stderr once the run has taken 2 s: a tqdm bar on a terminal or in a notebook,
    whole lines when stderr is a file or a pipe. False: none.""",
    "memory_bound": """\
memory_bound : int or None, default None
    Bytes of counters and cached codes held at once: a table that would not fit is counted in
    parts, one pass over the samples each, with the same result. None:
    :data:`DEFAULT_MEMORY_BOUND` (2 GiB) on the CPU, 3/4 of the device's free memory on
    CUDA. At least 1.""",
    "max_samples": """\
max_samples : int or None, default DEFAULT_MAX_SAMPLES
    With ``samples=None``: the most samples the rounds may draw (10,000,000 by default; the
    last round is cut to reach it exactly). Reaching it returns the last estimate with a
    :class:`ConvergenceWarning`. None: no cap, as in deep-ei. At least 10000.""",
    "estimator": """\
estimator : {"plugin", "miller_madow", "shuffle"}, default "plugin"
    How counts become bits: ``"plugin"`` is deep-ei's estimate (biased upward by about
    (Rx - 1)(Ry - 1) / (2 N ln 2) bits a pair); ``"miller_madow"`` and ``"shuffle"`` correct
    that bias (:doc:`estimators`). Another name raises ValueError.""",
    "estimator_stats": """\
estimator : {"shuffle", "plugin", "miller_madow"}, default "shuffle"
    How counts become bits (:doc:`estimators`): the ``mi`` of the result is this estimator's,
    ``plugin_mi`` always the plug-in's. Another name raises ValueError.""",
    "shuffles": """\
shuffles : int, default 1
    How many null pairings (cyclic shifts of the same samples) ``estimator="shuffle"``
    averages, at least 1; the other estimators ignore it.""",
    "process_group": """\
process_group : torch.distributed.ProcessGroup, optional
    A group of processes that shares the work; every rank returns the one-process result, bit
    for bit. With more than one process, ``rng="philox"`` only (:doc:`distributed`).""",
    "checkpoint": """\
checkpoint : str or os.PathLike, optional
    A directory where each finished tile of pair counts is saved; a restart with the same
    arguments loads those tiles instead of counting them again and returns the identical
    result. Needs a fixed ``samples`` and ``rng="philox"`` (ValueError otherwise); a directory
    written with other arguments is refused, naming the first difference (:doc:`long_runs`).""",
    # -- what every measurement raises and warns -----------------------------------------------
    "raises": """\
TypeError
    An argument of the wrong type, named in the message: for example bins, ``samples`` or
    ``seed`` that are not integers, a range that is not a (low, high) pair, or parameters that
    are not float32 (convert the model with ``.float()``: the noise is float32, as in deep-ei).
ValueError
    A value outside what its parameter above allows, named in the message, before any work;
    also a ``layer`` or ``in_layer`` that is not a node of ``topology``, a layer without input
    or output neurons, parameters not on ``device`` or containing NaN, and NaN outputs during
    the measurement (naming the layer).""",
    "warns_untraced": """\
UntracedLayerWarning
    When the model's trace cannot describe the layer, whose activation and ranges then follow
    deep-ei's rule (the activation modules that ran right before and after it).""",
    "warns_convergence": """\
ConvergenceWarning
    With ``samples=None``, when ``max_samples`` was reached before the rule of ``threshold``
    held: the last estimate is returned.""",
    # -- the examples' layers, whose answers are known ------------------------------------------
    "example_copy_layer": """\
>>> import torch
>>> import deep_ei_fast as deep_ei
>>> model = torch.nn.Sequential(torch.nn.Linear(2, 2, bias=False))
>>> with torch.no_grad():
...     _ = model[0].weight.copy_(torch.eye(2))  # each output copies its input
>>> topology = deep_ei.topology_of(model, torch.zeros(1, 2))""",
    "example_repeat_layer": """\
>>> import torch
>>> import deep_ei_fast as deep_ei
>>> model = torch.nn.Sequential(torch.nn.Linear(2, 2, bias=False))
>>> with torch.no_grad():
...     _ = model[0].weight.copy_(torch.tensor([[1.0, 0.0], [1.0, 0.0]]))  # both repeat input 0
>>> topology = deep_ei.topology_of(model, torch.zeros(1, 2))""",
}

_PLACEHOLDER = re.compile(r"^( *)\{(\w+)\}$", re.MULTILINE)


def entries_filler(entries):
    """A decorator that replaces each ``{name}`` line of a function's or class's docstring by
    ``entries[name]``, indented as that line (KeyError naming an unknown one, at import)."""
    def fill(documented):
        def entry(match):
            indent, name = match.groups()
            return textwrap.indent(entries[name], indent)
        documented.__doc__ = _PLACEHOLDER.sub(entry, documented.__doc__)
        return documented
    return fill


shared_entries = entries_filler(ENTRIES)
