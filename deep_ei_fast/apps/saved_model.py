"""Loading the model that `deep-ei-fast measure` and `matrix` are given.

Three sources:
- a whole module, `torch.save(model, path)`: unpickling runs code from the file, so it is loaded
  only with allow_pickle=True (the CLI's --allow-pickle);
- a state dict, `torch.save(model.state_dict(), path)`, of an nn.Sequential of Linear layers: the
  layers (their widths, biases and places) are read from its keys "<index>.weight" and
  "<index>.bias"; ``activation`` goes after each Linear (the state dict does not hold it).
  ``arch`` (layer widths), when given, is checked against the file key by key and shape by shape
  before any model is built, and ``bias=True`` requires every layer's bias;
- an importable class (or function) "package.module:Name", called with ``model_kwargs``, with a
  state dict from ``weights`` loaded into it when given: any architecture.
Every failure raises OSError or ValueError with a message naming the file or class. The example
input is run through the model once. The model is returned on the CPU with the device type its
tensors were saved on (or, for a class, were made on): the CLI's default --device.
"""
import importlib
import json
import os
import re
import sys
import zipfile
from dataclasses import dataclass

import torch
from torch import nn

from .networks import mlp_from_layout

PICKLE_PROTOCOL_2_TO_5 = tuple(bytes([0x80, n]) for n in range(2, 6))  # a pickle's first bytes
CLASS_SPEC = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")  # package.module:Name


@dataclass
class LoadedModel:
    model: nn.Module  # in eval mode, on the CPU
    input_shape: tuple  # the example input's, batch dimension included
    device_type: str  # where its tensors were saved (or made): "cpu", "cuda", ...
    description: str  # what was read or built, and what was assumed: printed by the CLI


def is_class_spec(source):
    """Whether MODEL names a class ("package.module:Name") rather than a file."""
    return CLASS_SPEC.fullmatch(source) is not None and not os.path.exists(source)


def _is_torch_save_file(path):
    """Whether the file has torch.save's layout: a zip archive with a pickled data.pkl (the
    format since torch 1.6), or a bare pickle stream (the legacy format)."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith("data.pkl") for name in archive.namelist())
    with open(path, "rb") as handle:
        return handle.read(2) in PICKLE_PROTOCOL_2_TO_5


def _read(path, allow_pickle):
    """(content, device type its tensors were saved on) of a torch.save file, loaded on the CPU."""
    if not os.path.exists(path):
        raise OSError(f"{path}: no such file")
    if not os.path.isfile(path):
        raise OSError(f"{path}: not a file")
    locations = set()

    def on_cpu(storage, location):  # records where each tensor was saved, keeps it on the CPU
        locations.add(str(location).split(":")[0])
        return storage
    try:
        return torch.load(path, map_location=on_cpu, weights_only=True), _one_type(locations)
    except PermissionError as error:
        raise OSError(f"{path}: cannot read it ({error.strerror})") from None
    except Exception as error:  # noqa: BLE001 - torch raises many kinds for unreadable files
        safe_error = error
    # Classified by the file's layout, not by torch's message texts: a torch.save file that the
    # weights-only unpickler refuses holds objects beyond tensors and containers.
    if not _is_torch_save_file(path):
        raise ValueError(f"{path}: not a file saved with torch.save (torch.load raised "
                         f"{type(safe_error).__name__})") from None
    if not allow_pickle:
        raise ValueError(f"{path}: holds a pickled object (a whole nn.Module?); loading it runs "
                         "code from the file: pass --allow-pickle if you trust it") from None
    locations.clear()
    try:
        return torch.load(path, map_location=on_cpu, weights_only=False), _one_type(locations)
    except Exception as error:  # noqa: BLE001
        raise ValueError(f"{path}: cannot be loaded with torch.load ({_first_line(error)})") from None


def _one_type(device_types):
    """The device type of the saved tensors; the CPU when there are none or several."""
    return device_types.pop() if len(device_types) == 1 else "cpu"


def _first_line(error):
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _expected_state(arch, bias):
    """{key: shape} of build_mlp(arch, bias=bias)'s state dict, without building it."""
    shapes = {}
    for index, (fan_in, fan_out) in enumerate(zip(arch[:-1], arch[1:])):
        shapes[f"{2 * index}.weight"] = (fan_out, fan_in)
        if bias:
            shapes[f"{2 * index}.bias"] = (fan_out,)
    return shapes


def _check_state_dict(path, content, arch):
    """Compares the state dict's keys and shapes with --arch before any model is built (a
    wrong --arch 30000,30000 would allocate gigabytes first); every difference is listed. The
    biases are the file's (with biases or without)."""
    if len(arch) < 2:
        raise ValueError(f"--arch needs at least two widths (input and output), got {list(arch)}")
    bias = any(key.endswith(".bias") for key in content)
    expected = _expected_state(arch, bias)
    problems = [f"missing {key} {list(shape)}" for key, shape in expected.items() if key not in content]
    problems += [f"unexpected {key}" for key in content if key not in expected]
    for key, shape in expected.items():
        if key in content:
            found = tuple(getattr(content[key], "shape", ()))
            if found != shape:
                problems.append(f"{key} is {list(found)} in the file, {list(shape)} for --arch")
    if problems:
        raise ValueError(f"{path}: the state dict does not fit --arch {','.join(map(str, arch))} "
                         f"(bias={bias}, as in the file): " + "; ".join(problems))


def _not_sequential(path, why):
    return ValueError(f"{path}: {why}, so its network cannot be read from it: give the model's "
                      f"class as MODEL (package.module:Name, with --weights {path}) or save the "
                      "whole module with torch.save(model, path)")


def sequential_layout(path, content):
    """[(index, fan_in, fan_out, bias)] of the Linear layers of an nn.Sequential state dict,
    from its keys "<index>.weight" / "<index>.bias" and their shapes; ValueError when the
    state dict is not one (other keys, weights that are not 2-D, widths that do not chain)."""
    layers = {}
    for key, value in content.items():
        index, _, field = str(key).partition(".")
        if not index.isdigit() or field not in ("weight", "bias") or not isinstance(value, torch.Tensor):
            raise _not_sequential(path, f"its key {key!r} is not '<index>.weight' or '<index>.bias' of "
                                        "an nn.Sequential of Linear layers")
        layers.setdefault(int(index), {})[field] = value
    if not layers:
        raise _not_sequential(path, "the state dict is empty")
    layout, previous = [], None
    for index, tensors in sorted(layers.items()):
        weight, bias = tensors.get("weight"), tensors.get("bias")
        if weight is None:
            raise _not_sequential(path, f"it has '{index}.bias' without '{index}.weight'")
        if weight.dim() != 2:
            kind = " (a Conv2d's: its stride and padding are not in the file)" if weight.dim() == 4 else ""
            raise _not_sequential(path, f"'{index}.weight' is {list(weight.shape)}, not a Linear's "
                                        f"[out, in]{kind}")
        fan_out, fan_in = weight.shape
        if bias is not None and tuple(bias.shape) != (fan_out,):
            raise _not_sequential(path, f"'{index}.bias' is {list(bias.shape)}, not [{fan_out}]")
        if previous is not None and fan_in != previous[1]:
            raise _not_sequential(path, f"'{index}.weight' takes {fan_in} inputs but '{previous[0]}.weight' "
                                        f"gives {previous[1]} outputs")
        layout.append((index, fan_in, fan_out, bias is not None))
        previous = (index, fan_out)
    return layout


def describe_layout(layout):
    """E.g. "6,4,3 (biases: yes)" for the widths and biases read from a state dict."""
    widths = [layout[0][1]] + [fan_out for _, _, fan_out, _ in layout]
    biases = {bias for *_, bias in layout}
    said = "yes" if biases == {True} else "no" if biases == {False} else "some layers"
    return f"{','.join(map(str, widths))} (biases: {said})"


def _from_state_dict(path, content, arch, activation, bias):
    """(model, description) of a state dict of an nn.Sequential of Linear layers; ``arch``
    and ``bias=True`` are checked against it."""
    if arch is not None:
        _check_state_dict(path, content, arch)
    layout = sequential_layout(path, content)
    without = [f"{index}.bias" for index, _, _, has_bias in layout if not has_bias]
    if bias and without:
        raise ValueError(f"{path}: --bias, but the state dict has no {', '.join(without)}")
    model = mlp_from_layout(layout, activation)
    try:
        model.load_state_dict(content, strict=True)
    except RuntimeError as error:  # e.g. a non-tensor value: torch's whole message
        raise ValueError(f"{path}: the state dict does not fit the network read from it "
                         f"({describe_layout(layout)}): {' '.join(str(error).split())}") from None
    return model, (f"a state dict of Linear layers {describe_layout(layout)}, each followed by "
                   f"{activation} (--activation: a state dict does not record activations)")


def _import_class(spec):
    """The object "package.module:Name" names; the current folder is importable, as under
    `python -m`."""
    module_name, _, attribute = spec.partition(":")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        found = importlib.import_module(module_name)
    except Exception as error:  # noqa: BLE001 - whatever importing the user's module raises
        raise ValueError(f"{spec}: cannot import {module_name} ({type(error).__name__}: "
                         f"{_first_line(error)})") from None
    for part in attribute.split("."):
        if not hasattr(found, part):
            raise ValueError(f"{spec}: {module_name} has no {attribute}")
        found = getattr(found, part)
    if not callable(found):
        raise ValueError(f"{spec}: {attribute} is a {type(found).__name__}, not a class or function")
    return found


def _from_class(spec, model_kwargs, weights):
    """(model on the CPU, the device type it was made on, description) of a class."""
    factory = _import_class(spec)
    try:
        model = factory(**(model_kwargs or {}))
    except Exception as error:  # noqa: BLE001 - whatever the user's constructor raises
        raise ValueError(f"{spec}: calling it with --model-kwargs {json.dumps(model_kwargs or {})} "
                         f"raised {type(error).__name__}: {_first_line(error)}") from None
    if not isinstance(model, nn.Module):
        raise ValueError(f"{spec}: returned a {type(model).__name__}, not an nn.Module")
    device_type = next((p.device.type for p in model.parameters()), "cpu")
    if weights is not None:
        content, _ = _read(weights, allow_pickle=False)
        if not isinstance(content, dict):
            raise ValueError(f"--weights {weights}: holds a {type(content).__name__}, not a state dict")
        try:
            model.load_state_dict(content, strict=True)
        except RuntimeError as error:
            raise ValueError(f"--weights {weights}: does not fit {spec}: "
                             f"{' '.join(str(error).split())}") from None
    call = f"--model-kwargs {json.dumps(model_kwargs)}" if model_kwargs else "no arguments"
    held = f"the weights of {weights}" if weights else "its initial weights"
    return model.cpu(), device_type, f"a class called with {call}, with {held}"


def load_model(source, *, arch=None, activation="sigmoid", bias=False, allow_pickle=False,
               input_shape=None, weights=None, model_kwargs=None):
    """The LoadedModel of a saved module, a state dict or a class (see the module's text)."""
    if is_class_spec(source):
        if arch is not None or bias:
            raise ValueError(f"--arch and --bias describe a state dict file; {source} is a class")
        model, device_type, description = _from_class(source, model_kwargs, weights)
    else:
        if weights is not None or model_kwargs is not None:
            raise ValueError(f"--weights and --model-kwargs go with a class (MODEL=package.module:Name), "
                             f"not with the file {source}")
        content, device_type = _read(source, allow_pickle)
        if isinstance(content, nn.Module):
            model, description = content, f"a whole module ({type(content).__name__})"
        elif isinstance(content, dict):
            model, description = _from_state_dict(source, content, arch, activation, bias)
        else:
            raise ValueError(f"{source}: holds a {type(content).__name__}, not an nn.Module or a state dict")
    model.eval()
    shape = tuple(input_shape) if input_shape is not None else _default_input_shape(model)
    _check_input_shape(source, model, shape, given=input_shape is not None)
    return LoadedModel(model, shape, device_type, f"{source}: {description}, input shape "
                                                  f"{','.join(map(str, shape))}")


def _default_input_shape(model):
    for module in model.modules():
        if isinstance(module, nn.Linear):
            return (1, module.in_features)
        if isinstance(module, nn.Conv2d):
            break
    raise ValueError("the model does not start with a Linear layer: give --input-shape")


def _check_input_shape(source, model, shape, given):
    """One forward pass of zeros: a shape the model cannot take fails here, with a message."""
    try:
        with torch.no_grad():
            model(torch.zeros(shape))
    except Exception as error:  # noqa: BLE001 - whatever the model's forward raises
        where = "--input-shape" if given else "the input shape taken from the first Linear layer"
        raise ValueError(f"{source}: {where} {','.join(map(str, shape))} does not fit the model "
                         f"({type(error).__name__}: {_first_line(error)})") from None
