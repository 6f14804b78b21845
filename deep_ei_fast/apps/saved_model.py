"""Loading a saved model for `deep-ei-fast measure`.

Two formats:
- a whole module, `torch.save(model, path)`: unpickling runs code from the file, so it is loaded
  only with allow_pickle=True (the CLI's --allow-pickle);
- a state dict, `torch.save(model.state_dict(), path)`, of a multilayer perceptron described by
  ``arch`` (layer widths), ``activation`` and ``bias``: nn.Sequential(Linear, activation, Linear,
  activation, ...), whose keys are "0.weight", "2.weight", ... (and "0.bias", ... with bias).
Every failure raises OSError or ValueError with a message naming the file. A state dict is
checked against ``arch`` key by key and shape by shape before the model is built, and the
example input is run through the model once.
"""
import os
import zipfile

import torch
from torch import nn

from .networks import build_mlp

PICKLE_PROTOCOL_2_TO_5 = tuple(bytes([0x80, n]) for n in range(2, 6))  # a pickle's first bytes


def _is_torch_save_file(path):
    """Whether the file has torch.save's layout: a zip archive with a pickled data.pkl (the
    format since torch 1.6), or a bare pickle stream (the legacy format)."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith("data.pkl") for name in archive.namelist())
    with open(path, "rb") as handle:
        return handle.read(2) in PICKLE_PROTOCOL_2_TO_5


def _read(path, allow_pickle):
    if not os.path.exists(path):
        raise OSError(f"{path}: no such file")
    if not os.path.isfile(path):
        raise OSError(f"{path}: not a file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
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
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # noqa: BLE001
        raise ValueError(f"{path}: cannot be loaded with torch.load ({_first_line(error)})") from None


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


def _check_state_dict(path, content, arch, bias):
    """Compares the state dict's keys and shapes with --arch before any model is built (a
    wrong --arch 30000,30000 would allocate gigabytes first); every difference is listed."""
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
                         f"(bias={bias}): " + "; ".join(problems))


def _default_input_shape(model):
    for module in model.modules():
        if isinstance(module, nn.Linear):
            return (1, module.in_features)
        if isinstance(module, nn.Conv2d):
            break
    raise ValueError("the model does not start with a Linear layer: give --input-shape")


def load_model(path, *, arch=None, activation="sigmoid", bias=False, allow_pickle=False,
               input_shape=None):
    """(model in eval mode, example input shape) from a saved module or state dict."""
    content = _read(path, allow_pickle)
    if isinstance(content, nn.Module):
        model = content
    elif isinstance(content, dict):
        if arch is None:
            raise ValueError(f"{path}: holds a state dict; describe its network with --arch "
                             "(e.g. --arch 25,6,6,6,5)")
        if len(arch) < 2:
            raise ValueError(f"--arch needs at least two widths (input and output), got {list(arch)}")
        _check_state_dict(path, content, arch, bias)
        model = build_mlp(arch, activation, bias)
        try:
            model.load_state_dict(content, strict=True)
        except RuntimeError as error:  # e.g. a non-tensor value: torch's whole message
            raise ValueError(f"{path}: the state dict does not fit --arch {','.join(map(str, arch))} "
                             f"(bias={bias}): {' '.join(str(error).split())}") from None
    else:
        raise ValueError(f"{path}: holds a {type(content).__name__}, not an nn.Module or a state dict")
    model.eval()
    shape = tuple(input_shape) if input_shape is not None else _default_input_shape(model)
    _check_input_shape(path, model, shape, given=input_shape is not None)
    return model, shape


def _check_input_shape(path, model, shape, given):
    """One forward pass of zeros: a shape the model cannot take fails here, with a message."""
    try:
        with torch.no_grad():
            model(torch.zeros(shape))
    except Exception as error:  # noqa: BLE001 - whatever the model's forward raises
        source = "--input-shape" if given else "the input shape taken from the first Linear layer"
        raise ValueError(f"{path}: {source} {','.join(map(str, shape))} does not fit the model "
                         f"({type(error).__name__}: {_first_line(error)})") from None
