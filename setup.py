# Build: torch must already be installed (it is not in install_requires on
# purpose: pick the CPU or CUDA wheel yourself, e.g. torch==2.13.0), then
#   pip install --no-build-isolation --no-deps -e .
# A CUDAExtension (csrc/cuda/*.cu too) is built when torch has CUDA and nvcc is
# found, or when FORCE_CUDA=1; TORCH_CUDA_ARCH_LIST is then always explicit:
# csrc/flags/cuda_archs.txt ("8.0;9.0": A100, H100/H200) unless set in the environment.
# The compiler flags are in csrc/flags/*.txt (read by CMakeLists.txt and .ci/run too).
# The objects live in build/temp.<platform>-<python>/, also for `pip install -e .` (which
# would otherwise compile in a fresh temporary directory every time): ninja recompiles only
# the files that changed, and torch puts ccache (or sccache) in front of the compiler when it
# is on PATH. Each file ninja compiles is announced on the terminal, which pip otherwise hides
# behind its spinner.
import glob
import os
import re
import shutil
import sys
import sysconfig
import threading
import time

from setuptools import find_packages, setup
from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension

ROOT = os.path.dirname(os.path.abspath(__file__))

# setuptools' own default for `setup.py build_ext`, so that it and `pip install -e .` share it.
BUILD_TEMP = os.path.join("build", f"temp.{sysconfig.get_platform()}-{sys.implementation.cache_tag}")


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


def _headers():
    """What the objects depend on besides their sources: setuptools relinks only when one of
    these or a source is newer than the extension (ninja tracks the includes itself)."""
    patterns = ["include/deep_ei_fast/*.h", "cpu/*.h", "cuda/*.cuh", "flags/*.txt"]
    return _rel(path for pattern in patterns for path in glob.glob(os.path.join(ROOT, "csrc", pattern)))


def _extension():
    sources = _rel(glob.glob(os.path.join(ROOT, "csrc", "*.cpp")))
    sources += _rel(glob.glob(os.path.join(ROOT, "csrc", "cpu", "*.cpp")))
    include_dirs = [os.path.join(ROOT, "csrc", "include")]
    # -g0 undoes the -g of Python's own CFLAGS: debug information for torch's headers doubles
    # the compile time and changes no code. DEI_DEBUG_INFO=1 keeps it (for gdb's line numbers).
    debug_info = [] if os.environ.get("DEI_DEBUG_INFO", "0") == "1" else ["-g0"]
    cxx_flags = _flags("cxx") + debug_info
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
            depends=_headers(),
        )
    return CppExtension(
        "deep_ei_fast._C",
        sources,
        include_dirs=include_dirs,
        extra_compile_args={"cxx": cxx_flags},
        extra_link_args=link_flags,
        depends=_headers(),
    )


class _NinjaProgress:
    """While torch's ninja build runs: its output (fd 1, "[k/N] <command>" lines) passes
    through unchanged, and each file ninja starts gets one short line, written to the terminal
    when the output is not one (pip captures it and shows it only with -v), else nowhere
    extra. Also notes where the objects are kept and, at the end, what was compiled."""

    SOURCE = re.compile(r"\s(\S+\.(?:cpp|cu))(?:\s|$)")
    STATUS = re.compile(r"^\[(\d+)/(\d+)\] ")

    def __init__(self, build_temp):
        self.build_temp = build_temp
        self.compiled = 0
        self.notes = 0  # lines written to the terminal

    def __enter__(self):
        sys.stdout.flush()
        self.start = time.monotonic()
        self.stdout = os.dup(1)
        self.terminal = self._terminal()
        read_end, write_end = os.pipe()
        os.dup2(write_end, 1)
        os.close(write_end)
        self.reader = threading.Thread(target=self._forward, args=(read_end,), daemon=True)
        self.reader.start()
        self._note(f"compiling the C++ extension (objects kept in {self.build_temp})")
        return self

    def __exit__(self, *exc):
        sys.stdout.flush()
        os.dup2(self.stdout, 1)  # closes the pipe's last write end: the reader sees its end
        self.reader.join()
        elapsed = time.monotonic() - self.start
        if exc[0] is None:
            done = f"compiled {self.compiled} file(s)" if self.compiled else "every object was up to date"
            self._note(f"{done} in {elapsed:.0f} s; linking")
        os.close(self.stdout)
        if self.terminal is not None:
            self.terminal.close()

    def _terminal(self):
        if os.isatty(self.stdout):
            return None
        try:
            return open("/dev/tty", "w")
        except OSError:
            return None

    def _note(self, text):
        line = f"deep_ei_fast build: {text}\n"
        if self.terminal is not None:
            # Off pip's "Building editable ..." line first; later, erase the spinner character
            # pip drew at the start of the line since.
            self.terminal.write(("\n" if self.notes == 0 else "\r\033[K") + line)
            self.terminal.flush()
            self.notes += 1
        elif not os.isatty(self.stdout):
            os.write(self.stdout, line.encode())

    def _forward(self, read_end):
        with os.fdopen(read_end, "rb") as pipe:
            for raw in pipe:
                os.write(self.stdout, raw)
                line = raw.decode(errors="replace")
                status, source = self.STATUS.match(line), self.SOURCE.search(line)
                if status and source:
                    self.compiled += 1
                    name = os.path.relpath(source.group(1), ROOT)
                    elapsed = time.monotonic() - self.start
                    self._note(f"[{status.group(1)}/{status.group(2)}] compiled {name} ({elapsed:.0f} s so far)")


class _BuildExt(BuildExtension.with_options(use_ninja=True)):
    """torch's ninja build with the objects kept in BUILD_TEMP and a line per compiled file."""

    def run(self):
        if getattr(self, "editable_mode", False):
            # pip install -e passes a fresh temporary directory: keep the objects instead.
            self.build_temp = os.path.join(ROOT, BUILD_TEMP)
        super().run()

    def build_extension(self, ext):
        ninja_compile = self.compiler.compile  # torch's: writes build.ninja and runs ninja

        def compile_with_progress(*args, **kwargs):
            with _NinjaProgress(os.path.relpath(self.build_temp, ROOT)):
                return ninja_compile(*args, **kwargs)

        self.compiler.compile = compile_with_progress
        try:
            super().build_extension(ext)
        finally:
            self.compiler.compile = ninja_compile


setup(
    name="deep_ei_fast",
    version="0.1.0",
    description="Fast CPU/CUDA engine for deep-ei effective information",
    license="MIT",  # as deep-ei's; the text is LICENSE
    license_files=["LICENSE"],
    project_urls={"Paper": "https://doi.org/10.3390/e22121429", "deep-ei": "https://pypi.org/project/deep-ei/"},
    packages=find_packages(include=["deep_ei_fast", "deep_ei_fast.*"]),
    ext_modules=[_extension()],
    cmdclass={"build_ext": _BuildExt},
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
