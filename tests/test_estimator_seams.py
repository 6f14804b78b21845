"""Where counting and estimating meet (issue 19): estimators are classes behind one interface,
registered by name, and nothing branches on their names; one settings builder serves every public
function; a measurement gets everything at construction; checkpoint tiles are keyed by the
estimator's name, and a directory of an older format is refused naming its format version."""
import ast
import inspect
import json
import os

import numpy as np
import pytest
import torch

import deep_ei_fast as dei
from deep_ei_fast.engine import measurement
from deep_ei_fast.engine.checkpoint import FORMAT_VERSION, METADATA, TILE_PATTERN
from deep_ei_fast.engine.settings import MeasurementSettings
from deep_ei_fast.estimators.estimator import Estimator
from deep_ei_fast.estimators.registry import ESTIMATORS

from helpers import make_net

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "deep_ei_fast")
# The public functions that measure (their settings arguments go through MeasurementSettings.of).
MEASURING = ["ei", "ei_parts", "ei_parts_matrix", "eis_between_groups", "vector_and_pairwise_ei", "sensitivity",
             "sensitivity_matrix", "pairwise_stats", "vector_stats", "sensitivity_stats", "causal_plane"]


def package_trees():
    for folder, _, files in os.walk(PACKAGE):
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                with open(path) as stream:
                    yield os.path.relpath(path, PACKAGE), ast.parse(stream.read(), path)


def test_the_registry_maps_each_name_to_its_class():
    assert list(ESTIMATORS) == ["plugin", "miller_madow", "shuffle"]
    for name, estimator in ESTIMATORS.items():
        assert issubclass(estimator, Estimator) and estimator.name == name
        assert estimator.__module__ == f"deep_ei_fast.estimators.{name}"  # one module each


def test_an_estimator_with_nulls_must_combine_them():
    with pytest.raises(TypeError, match="NullsIgnored counts null pairings"):
        class NullsIgnored(Estimator):
            null_shifts = (1,)

    class NullsCombined(Estimator):  # the same with combined(): accepted
        null_shifts = (1,)

        def combined(self, real, nulls):
            return real - np.mean(nulls, axis=0)
    assert NullsCombined().null_shifts == (1,)


def test_nothing_branches_on_an_estimator_name():
    found = []
    for path, tree in package_trees():
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare):
                names = [c.value for c in ast.walk(node) if isinstance(c, ast.Constant) and c.value in ESTIMATORS]
                if names:
                    found.append((path, node.lineno, names))
            # nor on its class: isinstance(e, Shuffle) is the same branch under another name
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id in ("isinstance", "issubclass", "type"):
                classes = [c.id for c in ast.walk(node) if isinstance(c, ast.Name)
                           and c.id in {e.__name__ for e in ESTIMATORS.values()}]
                if classes:
                    found.append((path, node.lineno, classes))
    assert found == []


def test_settings_are_built_by_one_builder():
    # No MeasurementSettings(...) call anywhere but inside MeasurementSettings.of
    calls = [(path, node.lineno) for path, tree in package_trees() for node in ast.walk(tree)
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
             and node.func.id == "MeasurementSettings"]
    assert calls == []
    for name in MEASURING:
        source = inspect.getsource(inspect.unwrap(getattr(dei, name)))
        assert "MeasurementSettings.of(locals())" in source, name


def test_the_builder_takes_every_settings_argument_by_name():
    fields = {"samples": 7, "batch_size": 3, "in_range": (0, 2), "in_bins": 5, "out_range": (0, 1), "out_bins": 6,
              "device": "cpu", "rng": "torch", "seed": None, "progress": False, "memory_bound": 10**6,
              "threshold": 0.1, "max_samples": 100, "estimator": "shuffle", "shuffles": 2, "process_group": None}
    settings = MeasurementSettings.of({"layer": object(), "topology": None, "groups": [], **fields})
    assert {name: getattr(settings, name) for name in fields} == fields
    assert MeasurementSettings.of({"samples": 9}) == MeasurementSettings(**{"samples": 9})  # defaults kept


def test_a_measurement_is_not_changed_from_outside():
    # Attributes a Measurement sets itself are never assigned on it by the layers above.
    own = {node.attr for node in ast.walk(ast.parse(inspect.getsource(measurement.Measurement)))
           if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self"
           and isinstance(node.ctx, ast.Store)}
    assert {"tile_store", "estimator", "settings"} <= own
    found = []
    for path, tree in package_trees():
        if path.startswith("engine"):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and node.attr in own \
                    and not (isinstance(node.value, ast.Name) and node.value.id == "self"):
                found.append((path, node.lineno, node.attr))
    assert found == []


def test_a_measurement_takes_no_new_attribute(layer):
    """Beyond the names it assigns itself (the test above), nothing can be added on a
    Measurement: the `converged` flag that api/sample_rules.py once set from outside raises."""
    from deep_ei_fast.api.prepare import open_measurement
    lin, top = layer
    with open_measurement(lin, top, MeasurementSettings.of({"samples": 100, "progress": False})) as m:
        m.samples_drawn += 0  # its own names stay assignable
        for name in ("converged", "null_pairings"):
            with pytest.raises(AttributeError):
                setattr(m, name, True)


@pytest.fixture
def layer():
    net, lin = make_net(5, 4, "sigmoid", seed=2)
    return lin, dei.topology_of(net, torch.zeros((1, 5)))


ARGS = dict(samples=2000, seed=4, in_bins=8, out_bins=8, memory_bound=2000, progress=False)


@pytest.mark.parametrize("function, estimator, shuffles, keys", [
    ("ei_parts_matrix", "miller_madow", 1, {"counts": {"miller_madow_pairwise_mi_bits"}}),
    ("ei_parts_matrix", "shuffle", 2, {label: {"shuffle_pairwise_mi_bits"} for label in ("counts", "null1", "null2")}),
    ("pairwise_stats", "shuffle", 1, {"counts": {"shuffle_pair_summary"}, "null1": {"shuffle_pairwise_mi_bits"}}),
    ("pairwise_stats", "plugin", 1, {"counts": {"plugin_pair_summary"}}),
])
def test_tiles_are_keyed_by_the_estimators_name(layer, tmp_path, function, estimator, shuffles, keys):
    lin, top = layer
    kwargs = dict(ARGS, estimator=estimator, shuffles=shuffles, memory_bound=(shuffles + 1) * 10000)
    getattr(dei, function)(lin, top, checkpoint=tmp_path, **kwargs)
    found = {}
    for name in os.listdir(tmp_path):
        match = TILE_PATTERN.match(name)
        if match:
            found.setdefault(match[1], set()).add(match[2])
    assert found == keys


def test_an_older_checkpoint_is_refused_naming_its_format_version(layer, tmp_path):
    lin, top = layer
    expected = dei.ei_parts_matrix(lin, top, checkpoint=tmp_path, **ARGS)
    path = tmp_path / METADATA
    metadata = json.loads(path.read_text())
    assert metadata["format_version"] == FORMAT_VERSION == 3
    path.write_text(json.dumps(dict(metadata, format_version=2)))
    with pytest.raises(ValueError, match="other arguments: format_version is 2 there and 3 in this run"):
        dei.ei_parts_matrix(lin, top, checkpoint=tmp_path, **ARGS)
    path.write_text(json.dumps(metadata))  # put back: resumed, the same matrix
    assert np.array_equal(dei.ei_parts_matrix(lin, top, checkpoint=tmp_path, **ARGS), expected)
