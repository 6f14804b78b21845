"""Checks that built extensions use the C++ runtime torch uses instead of a copy of their own.

    python tests/extension_symbols_check.py [LIBRARY ...]
        (default: deep_ei_fast/_C*.so of this checkout; .ci/run also passes the CMake build's)

A shared library that carries code of libstdc++ itself (linked from libstdc++.a, e.g. by
-static-libstdc++ in inherited flags, or a compiler that finds no libstdc++.so) runs two copies
of the iostream and locale machinery in one process: formatting a number into a TORCH_CHECK
message then crashed the GPU machine's Python (issue 17: SIGSEGV in std::ostream::_M_insert<long>
resolved inside _C) and, here with gcc 12, cut the message off after its first piece. Two rules,
on `nm` of the library against the dynamic symbols of the libstdc++.so.6 that torch loaded:

1. no strong (non-weak) definition of a symbol that libstdc++.so.6 exports: header templates
   may be instantiated in the library (weak), the library's compiled code may not;
2. no definition at all of iostream and locale code that libstdc++'s headers declare
   `extern template` or define only in the library (SENTINELS): a proper build imports it.

Exits 1 naming the library, the rule and up to 10 symbols; 0 with a one-line summary each.
"""
import glob
import os
import re
import subprocess
import sys

# nm types of strong definitions (text, data, bss, read-only, small data); weak (W, V), GNU
# unique (u) and indirect (i) definitions are what header code legitimately leaves behind.
STRONG_TYPES = set("TtDdBbRrGgSs")

# Demangled names that a library compiled against libstdc++'s headers never defines.
SENTINELS = re.compile(r"std::(basic_ostream<[^()]*>|ostream|wostream)::_M_insert<"
                       r"|std::codecvt<[^()]*>::|std::locale::|std::ios_base::Init")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def runtime_libstdcxx():
    """The path of the libstdc++.so.6 this process loaded with torch (what the extension must
    import from at run time)."""
    import torch  # noqa: F401  (loads libstdc++ as torch does)

    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1]
            if os.path.basename(path).startswith("libstdc++.so"):
                return path
    raise SystemExit("extension_symbols_check: torch loaded no libstdc++.so (not a Linux torch?)")


def defined_symbols(library, demangle=False, dynamic=False):
    """[(nm type, name)] of the symbols `library` defines."""
    command = ["nm", "--defined-only"] + (["-C"] if demangle else []) + (["-D"] if dynamic else []) + [library]
    try:
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    except FileNotFoundError:
        raise SystemExit("extension_symbols_check: nm (binutils) is not installed") from None
    symbols = []
    for line in out.splitlines():
        parts = line.split(maxsplit=2)
        if len(parts) == 3:
            symbols.append((parts[1], parts[2]))
    return symbols


def violations(library, runtime):
    """(rule, [demangled names]) of each rule `library` breaks."""
    exported = {name.split("@")[0] for kind, name in defined_symbols(runtime, dynamic=True) if kind != "A"}
    mangled = defined_symbols(library)
    if not mangled:  # stripped: only the dynamic table is left
        mangled = defined_symbols(library, dynamic=True)
        demangled = defined_symbols(library, demangle=True, dynamic=True)
    else:
        demangled = defined_symbols(library, demangle=True)
    if len(mangled) != len(demangled):
        raise SystemExit(f"extension_symbols_check: nm listed {library} differently with and without -C")
    strong = [plain for (kind, name), (_, plain) in zip(mangled, demangled)
              if kind in STRONG_TYPES and name in exported]
    sentinels = sorted((plain for _, plain in demangled if SENTINELS.search(plain)),
                       key=lambda plain: ("_M_insert" not in plain, "codecvt" not in plain, plain))
    found = []
    if strong:
        found.append((f"defines {len(strong)} of libstdc++'s own symbols (strong)", strong))
    if sentinels:
        found.append((f"defines {len(sentinels)} iostream/locale symbols that belong to libstdc++", sentinels))
    return found


def main(argv):
    libraries = argv or sorted(glob.glob(os.path.join(ROOT, "deep_ei_fast", "_C*.so")))
    if not libraries:
        raise SystemExit("extension_symbols_check: no deep_ei_fast/_C*.so: build the extension first")
    runtime = runtime_libstdcxx()
    failed = False
    for library in libraries:
        found = violations(library, runtime)
        for rule, names in found:
            failed = True
            shown = "\n    ".join(names[:10])
            print(f"FAIL {library}: {rule} (against {runtime}); it was linked with a copy of libstdc++ "
                  f"instead of importing it, e.g.:\n    {shown}", file=sys.stderr)
        if not found:
            print(f"ok {library}: imports the C++ runtime ({runtime}), defines none of its code")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
