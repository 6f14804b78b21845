"""deep_ei_fast: a fast drop-in replacement for deep-ei 0.7.0::

    import deep_ei_fast as deep_ei

Every public name of deep-ei 0.7.0, with the same signatures, defaults and return types. The EI
functions also take keyword-only ``rng`` ("philox": counter-based noise in the kernels, the
default; "torch": deep-ei's own random draws, for identical numbers), ``seed`` and ``progress``;
with samples=None, ``max_samples`` (default DEFAULT_MAX_SAMPLES) caps deep-ei's doubling rule,
warning with ConvergenceWarning when it stops the rule.

Beyond deep-ei: any layer of any model (``topology_of`` traces it; ``LayerSpec`` describes a
layer by hand), ``causal_plane`` (every layer of a model at once), ``CausalPlaneRecorder``
(the plane recorded during training into a CSV) and, with matplotlib, ``deep_ei_fast.plots``.

The layers, each importing only from those below it: ``engine`` (typed ops, noise, counting),
``estimators`` (counts to bits), ``api`` (deep-ei 0.7.0's functions and rules), ``plane`` (the
causal plane), ``apps`` (command line, demo, benchmark).
"""
from .api.ei_functions import ei, ei_parts, ei_parts_matrix, eis_between_groups, vector_and_pairwise_ei
from .api.model_trace import UntracedLayerWarning
from .api.mutual_information import MI, nats_to_bits
from .api.sample_rules import DEFAULT_MAX_SAMPLES, ConvergenceWarning
from .api.sensitivity import sensitivity, sensitivity_matrix
from .api.statistics import PairwiseStats, VectorEstimate, pairwise_stats, sensitivity_stats, vector_stats
from .api.tables import CONVOLUTIONAL_MODULES, MEMORY_LIMIT, POOLING_MODULES, VALID_ACTIVATIONS, VALID_MODULES
from .api.topology import topology_of
from .engine.layer_spec import LayerSpec
from .engine.ops import build_info
from .engine.settings import DEFAULT_MEMORY_BOUND
from .engine.version import VERSION as __version__  # noqa: F401 (setup.py's version)
from .plane.measure import causal_plane
from .plane.recorder import CausalPlaneRecorder
from .plane.rows import CausalPlane, PlaneRow

__all__ = [
    "topology_of", "ei", "ei_parts", "ei_parts_matrix", "sensitivity", "sensitivity_matrix",
    "eis_between_groups", "vector_and_pairwise_ei", "MI", "nats_to_bits", "VALID_MODULES",
    "VALID_ACTIVATIONS", "POOLING_MODULES", "CONVOLUTIONAL_MODULES", "MEMORY_LIMIT",
    "DEFAULT_MEMORY_BOUND", "causal_plane", "CausalPlane", "PlaneRow", "CausalPlaneRecorder",
    "build_info", "ConvergenceWarning", "DEFAULT_MAX_SAMPLES", "pairwise_stats", "vector_stats", "sensitivity_stats",
    "PairwiseStats",
    "VectorEstimate",
    "LayerSpec",
    "UntracedLayerWarning",
]
