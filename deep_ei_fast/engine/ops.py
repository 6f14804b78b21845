"""Loads the compiled extension, which registers the engine's ops as torch.ops.deep_ei_fast.*."""
import torch

from . import _C  # noqa: F401  (importing it runs the TORCH_LIBRARY registrations)

ops = torch.ops.deep_ei_fast


def cuda_kernels_built():
    """True when the extension was built with CUDA kernels for the engine's ops."""
    return torch._C._dispatch_has_kernel_for_dispatch_key("deep_ei_fast::pairwise_mi", "CUDA")
