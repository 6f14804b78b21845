"""The public names' docstrings: numpydoc sections that match the signatures, and Examples that run.

Every public name (``deep_ei_fast.__all__``'s classes and functions, ``deep_ei_fast.plots``
and ``deep_ei_fast.apps.experiments``) has an Examples section; its examples run here with
the standard library's doctest, each in a fresh namespace (an example imports what it uses, as
a reader copying it would), with ELLIPSIS and NORMALIZE_WHITESPACE. They run from this file,
not from pytest's ``--doctest-modules``, so that the README's ``python3 -m pytest -q tests``
runs them without a path outside tests/, and so that only the public names' docstrings run:
``--doctest-modules`` on the package would import and run every module's, private helpers
included. Constants have no docstring of their own: docs/api.rst documents them
(tests/test_docs_pages.py).
"""
import doctest
import inspect
import re
import time
from pathlib import Path

import pytest

import deep_ei_fast
from deep_ei_fast import plots
from deep_ei_fast.apps import experiments


def _public():
    names = {}
    for module, prefix in ((deep_ei_fast, "deep_ei_fast"), (plots, "deep_ei_fast.plots"),
                           (experiments, "deep_ei_fast.apps.experiments")):
        for name in module.__all__:
            value = getattr(module, name)
            if inspect.isclass(value) or inspect.isfunction(value):
                names[f"{prefix}.{name}"] = value
    return names


PUBLIC = _public()
# What a name's examples import beyond the library's own requirements (setup.py's extras).
NEEDS = {"deep_ei_fast.CausalPlane": ["pandas"], "deep_ei_fast.CausalPlaneRecorder": ["pandas"],
         **{f"deep_ei_fast.plots.{name}": ["matplotlib"] for name in plots.__all__}}
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
SECTION = re.compile(r"^( *)(\w[\w ]*)\n\1-{3,}$", re.MULTILINE)
DOCS = Path(__file__).resolve().parents[1] / "docs"
AUTOCLASS = re.compile(r"^\.\. autoclass:: (\S+)\n(?:   :[\w-]+:.*\n)*?   :members:(.*)$", re.MULTILINE)


def sections(docstring):
    """numpydoc section title -> its text (the lines up to the next section)."""
    text = inspect.cleandoc(docstring or "")
    found = list(SECTION.finditer(text))
    return {m.group(2): text[m.end(): found[k + 1].start() if k + 1 < len(found) else len(text)]
            for k, m in enumerate(found)}


def documented_parameters(section):
    """The names a Parameters section describes, in order (``a, b : type`` gives both)."""
    names = []
    for line in section.splitlines():
        if line and not line.startswith(" "):
            names += [n.strip().lstrip("*") for n in line.split(" : ")[0].split(",")]
    return names


def signature_parameters(value):
    function = value.__init__ if inspect.isclass(value) else value
    parameters = list(inspect.signature(function).parameters)
    return parameters[1:] if inspect.isclass(value) else parameters


def rendered_members(name, cls):
    """(name, function or property) of the class's own public methods and properties that the
    Sphinx pages render: an ``autoclass`` with ``:members:`` renders them all, or those it lists."""
    for page in DOCS.glob("**/*.rst"):
        for match in AUTOCLASS.finditer(page.read_text()):
            if match.group(1) != name:
                continue
            listed = {m.strip() for m in match.group(2).split(",") if m.strip()}
            for member_name, member in vars(cls).items():
                if member_name.startswith("_") or not (inspect.isfunction(member) or isinstance(member, property)):
                    continue
                if not listed or member_name in listed:
                    yield member_name, member


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_numpydoc_sections(name):
    """Every public name has Examples; a function has Parameters (each parameter of its signature,
    in order), Returns and Raises; a class documents its constructor's parameters under
    Parameters or, for a result, Attributes; each method the API reference renders has
    Parameters (if it takes any) and Returns or Raises, each property a docstring."""
    value = PUBLIC[name]
    found = sections(value.__doc__)
    assert "Examples" in found, f"{name}: no Examples section"
    if inspect.isclass(value) and issubclass(value, Warning):
        return
    if inspect.isfunction(value):
        parameters = signature_parameters(value)
        assert documented_parameters(found.get("Parameters", "")) == parameters, name
        assert "Returns" in found, f"{name}: no Returns section"
        assert "Raises" in found or not parameters, f"{name}: no Raises section"
        return
    if "__init__" in vars(value):  # its own or its dataclass's constructor (not list's)
        documented = found.get("Parameters", found.get("Attributes", ""))
        assert documented_parameters(documented) == signature_parameters(value), name
    for member_name, member in rendered_members(name, value):
        where = f"{name}.{member_name}"
        assert (member.__doc__ or "").strip(), f"{where}: no docstring"
        if isinstance(member, property):
            continue
        member_sections = sections(member.__doc__)
        parameters = list(inspect.signature(member).parameters)[1:]
        if parameters:
            assert documented_parameters(member_sections.get("Parameters", "")) == parameters, where
        assert "Returns" in member_sections or "Raises" in member_sections, f"{where}: no Returns or Raises"


def run_examples(name, value):
    """(examples run, failures, the failure report) of a name's docstrings."""
    finder = doctest.DocTestFinder(recurse=True, exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report = []
    # unwrap: the examples of a decorated function are reported at their lines in its source
    for test in finder.find(inspect.unwrap(value), name, globs={}):
        runner.run(test, out=report.append)
    return runner.tries, runner.failures, "".join(report)


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_examples_run(name, record_property):
    for module in NEEDS.get(name, []):
        pytest.importorskip(module)
    start = time.perf_counter()
    attempted, failed, report = run_examples(name, PUBLIC[name])
    record_property("doctest_seconds", time.perf_counter() - start)
    assert attempted > 0, f"{name}: no examples"
    assert failed == 0, f"{name}: {failed} of {attempted} examples failed\n{report}"


def test_only_constants_are_left_out():
    """PUBLIC covers deep_ei_fast.__all__ but its constants (documented in docs/api.rst)."""
    left_out = {n for n in deep_ei_fast.__all__ if f"deep_ei_fast.{n}" not in PUBLIC}
    assert left_out == {"VALID_MODULES", "VALID_ACTIVATIONS", "POOLING_MODULES", "CONVOLUTIONAL_MODULES",
                        "MEMORY_LIMIT", "DEFAULT_MEMORY_BOUND", "DEFAULT_MAX_SAMPLES"}
