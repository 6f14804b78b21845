"""Loading a saved model for `deep-ei-fast measure`.

Two formats:
- a whole module, `torch.save(model, path)`: unpickling runs code from the file, so it is loaded
  only with allow_pickle=True (the CLI's --allow-pickle);
- a state dict, `torch.save(model.state_dict(), path)`, of a multilayer perceptron described by
  ``arch`` (layer widths), ``activation`` and ``bias``: nn.Sequential(Linear, activation, Linear,
  activation, ...), whose keys are "0.weight", "2.weight", ... (and "0.bias", ... with bias).
Every failure raises OSError or ValueError with a message naming the file.
"""
import os

import torch
from torch import nn

from .networks import build_mlp

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
    pickled_object = "add_safe_globals" in str(safe_error) or "Unsupported global" in str(safe_error)
    if not pickled_object:
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
        model = build_mlp(arch, activation, bias)
        try:
            model.load_state_dict(content, strict=True)
        except RuntimeError as error:
            raise ValueError(f"{path}: the state dict does not fit --arch {','.join(map(str, arch))} "
                             f"(bias={bias}): {_first_line(error)}") from None
    else:
        raise ValueError(f"{path}: holds a {type(content).__name__}, not an nn.Module or a state dict")
    model.eval()
    shape = tuple(input_shape) if input_shape is not None else _default_input_shape(model)
    return model, shape
