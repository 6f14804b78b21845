"""The extension imports the C++ runtime torch uses (tests/extension_symbols_check.py).

Issue 17: on the GPU machine every C++ error of an op killed the process (SIGSEGV formatting a
long into a TORCH_CHECK message, in a copy of std::ostream::_M_insert<long> linked into _C).
The check must pass on the built extension, must fail on a library linked with
-static-libstdc++, and setup.py's remedy (linking the runtime libstdc++.so.6 by path ahead of
the compiler's) must turn that library into one that passes.
"""
import shutil
import subprocess

import pytest

import deep_ei_fast

import extension_symbols_check as check

PROBE = """
#include <sstream>
#include <string>
// What c10::str does for a TORCH_CHECK message: a long formatted by an ostringstream.
std::string probe(long value) { std::ostringstream out; out << "codes: " << value; return out.str(); }
"""


def test_the_built_extension_defines_no_libstdcxx_code():
    runtime = check.runtime_libstdcxx()
    assert check.violations(deep_ei_fast._C.__file__, runtime) == []


@pytest.fixture(scope="module")
def probes(tmp_path_factory):
    """(a library linked with -static-libstdc++, the same with setup.py's runtime link)."""
    if shutil.which("g++") is None or shutil.which("nm") is None:
        pytest.skip("needs g++ and nm (binutils)")
    folder = tmp_path_factory.mktemp("probe")
    source = folder / "probe.cpp"
    source.write_text(PROBE)
    built = []
    for name, extra in (("static", []), ("remedied", [check.runtime_libstdcxx()])):
        library = folder / f"{name}.so"
        subprocess.run(["g++", "-O2", "-fPIC", "-shared", "-static-libstdc++", str(source), *extra,
                        "-o", str(library)], check=True)
        built.append(str(library))
    return built


def test_the_check_catches_a_static_libstdcxx(probes):
    rules = dict(check.violations(probes[0], check.runtime_libstdcxx()))
    assert len(rules) == 2
    sentinels = next(names for rule, names in rules.items() if "iostream" in rule)
    assert "std::ostream& std::ostream::_M_insert<long>(long)" in sentinels  # the crashing frame


def test_linking_the_runtime_by_path_imports_it_despite_static_libstdcxx(probes):
    assert check.violations(probes[1], check.runtime_libstdcxx()) == []
    assert check.main([probes[1]]) == 0 and check.main([probes[0]]) == 1
