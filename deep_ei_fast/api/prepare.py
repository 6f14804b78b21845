"""What every EI function does first: check the settings, resolve the layer, check that its
parameters are on the measurement's device (device=None: take theirs), open the measurement
(before any heavy work, so bad arguments fail at once)."""
from ..engine.layer_spec import LayerSpec
from ..engine.measurement import Measurement
from .arguments import check_settings, settings_on_device
from .layer_resolution import (
    check_activation_width,
    check_layer_on,
    check_parameters,
    modules_device,
    resolve_layer,
)


def open_measurement(layer, topology, settings, *, in_layer=None, activation=None,
                     description="EI", dynamic_out=False):
    """A Measurement of ``layer`` under ``settings`` (a MeasurementSettings); dynamic_out allows
    out_range / out_bins = 'dynamic'."""
    settings = check_settings(settings, dynamic_out=dynamic_out)
    spec = resolve_layer(layer, topology, in_layer, settings.in_range, settings.out_range, activation)
    if settings.device is None:  # the device of the layer's parameters; none: the CPU
        settings = settings_on_device(settings, modules_device(spec.modules, "cpu"), f"layer {spec.describe()}")
    check_layer_on(spec, settings.device)  # first: the checks below read the parameters
    check_parameters(spec.modules, f"layer {spec.label()}")
    spec.check_weights()
    if activation is not None or isinstance(layer, LayerSpec):  # traced activations are elementwise
        check_activation_width(spec, settings.device)
    return Measurement(spec, settings, description)
