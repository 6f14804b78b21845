"""What every EI function does first: check the settings, resolve the layer, check that its
parameters are on the measurement's device (device=None: take theirs), then open the measurement
with everything it counts (its estimator, the philox seed agreed over a process group, a
checkpoint's tiles), before any heavy work, so bad arguments fail at once."""
from contextlib import contextmanager

from ..engine.layer_spec import LayerSpec
from ..engine.measurement import Measurement
from ..engine.noise_streams import resolve_seed
from ..engine.sharding import Shard
from ..estimators.registry import estimator_of
from .arguments import check_settings, settings_on_device
from .checkpointing import check_checkpoint, open_checkpoint
from .layer_resolution import (
    check_activation_width,
    check_layer_on,
    check_parameters,
    modules_device,
    resolve_layer,
)


@contextmanager
def open_measurement(layer, topology, settings, *, in_layer=None, activation=None,
                     description="EI", dynamic_out=False, standard_errors=False, checkpoint=None,
                     checkpoint_function=None):
    """A Measurement of ``layer`` under ``settings`` (a MeasurementSettings), open while the
    context lasts. dynamic_out allows out_range / out_bins = 'dynamic'; standard_errors: the
    estimator's results come with their standard errors (estimators/standard_errors.py);
    ``checkpoint``: a directory whose finished tiles the pair counts load and save (its lock held
    until the context ends), checked against the metadata of ``checkpoint_function``."""
    given_memory_bound = settings.memory_bound  # as the user gave it: a checkpoint records it
    settings = check_settings(settings, dynamic_out=dynamic_out)
    spec = resolve_layer(layer, topology, in_layer, settings.in_range, settings.out_range, activation)
    if settings.device is None:  # the device of the layer's parameters; none: the CPU
        settings = settings_on_device(settings, modules_device(spec.modules, "cpu"), f"layer {spec.describe()}")
    check_layer_on(spec, settings.device)  # first: the checks below read the parameters
    check_parameters(spec.modules, f"layer {spec.label()}")
    spec.check_weights()
    if activation is not None or isinstance(layer, LayerSpec):  # traced activations are elementwise
        check_activation_width(spec, settings.device)
    check_checkpoint(checkpoint, settings)
    shard = Shard(settings.process_group, settings.device)
    # Drawn once: seed=None takes it from torch's global generator (rank 0's, on every rank).
    seed = shard.agree(resolve_seed(settings.seed)) if settings.rng == "philox" else None
    with open_checkpoint(checkpoint, checkpoint_function, spec, settings, shard, seed, given_memory_bound) as store:
        yield Measurement(spec, settings, estimator_of(settings, standard_errors), description=description,
                          shard=shard, philox_seed=seed, tile_store=store)
