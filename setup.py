# Build: torch must already be installed (it is not in install_requires on
# purpose: pick the CPU or CUDA wheel yourself, e.g. torch==2.13.0), then
#   pip install --no-build-isolation --no-deps -e .
# A CUDAExtension (csrc/cuda/*.cu too) is built when torch has CUDA and nvcc is
# found, or when FORCE_CUDA=1; TORCH_CUDA_ARCH_LIST is then always explicit:
# csrc/flags/cuda_archs.txt ("8.0;9.0": A100, H100/H200) unless set in the environment.
# The compiler flags are in csrc/flags/*.txt (read by CMakeLists.txt and .ci/run too).
import glob
import os
import shutil
import sys

from setuptools import find_packages, setup
from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension

ROOT = os.path.dirname(os.path.abspath(__file__))


def _rel(paths):
    return sorted(os.path.relpath(p, ROOT) for p in paths)


def _want_cuda():
    if os.environ.get("FORCE_CUDA", "0") == "1":
        return True
    import torch

    if torch.version.cuda is None:
        return False
    return shutil.which("nvcc") is not None or (
        CUDA_HOME is not None and os.path.exists(os.path.join(CUDA_HOME, "bin", "nvcc"))
    )


def _flags(name):
    """The flags of csrc/flags/<name>.txt (one a line, # comments), shared with CMakeLists.txt
    and .ci/run so that every build compiles with the same ones."""
    with open(os.path.join(ROOT, "csrc", "flags", name + ".txt")) as f:
        lines = (line.strip() for line in f)
        return [line for line in lines if line and not line.startswith("#")]


def _runtime_libstdcxx():
    """[path] of the libstdc++.so.6 that torch loaded (Linux; [] elsewhere). Linked by path, ahead
    of the compiler's own libstdc++, it makes the extension import every C++ runtime symbol from
    the library torch runs with, as torch's libraries do, whatever else the link line holds: a
    copy of libstdc++ linked into _C (-static-libstdc++ in inherited flags, or libstdc++.a when
    the compiler finds no libstdc++.so) runs a second iostream and locale state in the process,
    and formatting a number into an error message then crashes (issue 17).
    tests/extension_symbols_check.py checks the result."""
    if not sys.platform.startswith("linux"):
        return []
    import torch  # noqa: F401  (already loaded by torch.utils.cpp_extension)

    with open("/proc/self/maps") as maps:
        paths = [line.split()[-1] for line in maps]
    return [p for p in paths if os.path.basename(p).startswith("libstdc++.so")][:1]


def _extension():
    sources = _rel(glob.glob(os.path.join(ROOT, "csrc", "*.cpp")))
    sources += _rel(glob.glob(os.path.join(ROOT, "csrc", "cpu", "*.cpp")))
    include_dirs = [os.path.join(ROOT, "csrc", "include")]
    cxx_flags = _flags("cxx")
    link_flags = ["-fopenmp", *_runtime_libstdcxx()]
    if _want_cuda():
        os.environ.setdefault("TORCH_CUDA_ARCH_LIST", ";".join(_flags("cuda_archs")))
        sources += _rel(glob.glob(os.path.join(ROOT, "csrc", "cuda", "*.cu")))
        return CUDAExtension(
            "deep_ei_fast._C",
            sources,
            include_dirs=include_dirs,
            extra_compile_args={
                "cxx": cxx_flags + _flags("with_cuda"),
                "nvcc": _flags("nvcc") + _flags("with_cuda"),
            },
            extra_link_args=link_flags,
        )
    return CppExtension(
        "deep_ei_fast._C",
        sources,
        include_dirs=include_dirs,
        extra_compile_args={"cxx": cxx_flags},
        extra_link_args=link_flags,
    )


setup(
    name="deep_ei_fast",
    version="0.1.0",
    description="Fast CPU/CUDA engine for deep-ei effective information",
    packages=find_packages(include=["deep_ei_fast", "deep_ei_fast.*"]),
    ext_modules=[_extension()],
    cmdclass={"build_ext": BuildExtension.with_options(use_ninja=True)},
    python_requires=">=3.9",
    # torch (==2.13.0) is required but deliberately not listed: install the
    # CPU or CUDA build of your choice first (see requirements.txt).
    install_requires=["numpy", "networkx>=3", "scikit-learn", "scipy", "tqdm"],
    extras_require={
        "plot": ["matplotlib"],
        "dataframe": ["pandas"],
        "test": ["pytest", "hypothesis", "fast-histogram", "deep-ei==0.7.0", "matplotlib", "pandas"],
    },
    entry_points={"console_scripts": ["deep-ei-fast = deep_ei_fast.apps.cli:entry_point"]},
    zip_safe=False,
)
