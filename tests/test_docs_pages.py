"""What the documentation pages show: the index's code fits the page, the figures they show
exist, and the constants are documented under their real names."""
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")


def page(name):
    with open(os.path.join(DOCS, name)) as f:
        return f.read()


def code_lines(text):
    """The lines of the page's indented literal and code blocks."""
    lines, inside = [], False
    for line in text.splitlines():
        if line.rstrip().endswith("::") or line.startswith(".. code-block::"):
            inside = True
            continue
        if inside and line and not line.startswith(" "):
            inside = False
        if inside and line.startswith("   "):
            lines.append(line[3:])
    return lines


def test_index_code_fits_the_page():
    lines = code_lines(page("index.rst"))
    assert any("deep_ei.ei_parts" in line for line in lines)
    assert max(len(line) for line in lines) <= 80


@pytest.mark.parametrize("name", sorted(n for n in os.listdir(DOCS) if n.endswith(".rst")))
def test_figures_shown_exist(name):
    for image in re.findall(r"^\.\. (?:figure|image):: (\S+)", page(name), re.M):
        assert os.path.isfile(os.path.join(DOCS, image)), f"{name}: {image}"


def test_causal_plane_and_estimator_pages_show_the_demos_figures():
    assert "images/digits_plane.png" in page("causal_plane.rst")
    assert "images/digits_measures.png" in page("causal_plane.rst")
    assert "images/digits_measures_shuffle.png" in page("estimators.rst")


def test_constants_are_documented_under_their_real_names():
    text = page("api.rst")
    import deep_ei_fast
    for name in ("DEFAULT_MAX_SAMPLES", "VALID_MODULES", "VALID_ACTIVATIONS", "POOLING_MODULES",
                 "CONVOLUTIONAL_MODULES", "MEMORY_LIMIT", "DEFAULT_MEMORY_BOUND"):
        assert f".. py:data:: {name}\n   :module: deep_ei_fast\n" in text
        assert hasattr(deep_ei_fast, name)
    assert ".. py:data:: deep_ei_fast." not in text  # would index deep_ei_fast.deep_ei_fast.NAME


MEASURING_FUNCTIONS = ("ei", "ei_parts", "ei_parts_matrix", "sensitivity", "sensitivity_matrix",
                      "eis_between_groups", "vector_and_pairwise_ei", "pairwise_stats", "sensitivity_stats",
                      "vector_stats", "causal_plane")
DEEP_EI_FUNCTIONS = MEASURING_FUNCTIONS[:7]  # deep-ei 0.7.0's, with its signatures


def extra_arguments_table():
    """{argument: (default cell, taken-by cell)} of api.rst's table of keyword-only arguments."""
    text = page("api.rst").split("Keyword-only arguments beyond deep-ei\n")[1].split("\nDevices\n")[0]
    rows = {}
    for row in text.split("\n   * - ")[2:]:  # after the table's options and its header row
        cells = [" ".join(cell.split()) for cell in row.split("\n     - ")]
        rows[cells[0].strip("`")] = (cells[1], cells[2])
    return rows


def taken_by(cell):
    """The functions a taken-by cell names: "all", "all but ``f``" or a list of ``f``."""
    named = set(re.findall(r"``(\w+)``", cell))
    if cell.startswith("all"):
        return set(MEASURING_FUNCTIONS) - named
    return named


def test_extra_arguments_table_matches_the_signatures():
    """Every keyword-only argument of the measuring functions that deep-ei's functions do not take
    has a row; each row names exactly the functions whose signature has the argument (keyword-only
    or not), and its default cell holds exactly their defaults (``literals`` evaluated in
    deep_ei_fast's namespace, so that ``DEFAULT_MAX_SAMPLES`` stands for its value)."""
    import inspect

    import deep_ei_fast
    signatures = {name: inspect.signature(getattr(deep_ei_fast, name)).parameters for name in MEASURING_FUNCTIONS}
    deep_ei_names = {p for name in DEEP_EI_FUNCTIONS for p, parameter in signatures[name].items()
                     if parameter.kind is not inspect.Parameter.KEYWORD_ONLY}
    keyword_only = {p for parameters in signatures.values() for p, parameter in parameters.items()
                    if parameter.kind is inspect.Parameter.KEYWORD_ONLY}
    table = extra_arguments_table()
    assert set(table) == keyword_only - deep_ei_names | {"threshold"}  # threshold: keyword-only in some
    for argument, (default_cell, taken_cell) in table.items():
        takers = {name for name, parameters in signatures.items() if argument in parameters}
        assert taken_by(taken_cell) == takers, argument
        defaults = {signatures[name][argument].default for name in takers}
        shown = {eval(literal, vars(deep_ei_fast)) for literal in re.findall(r"``([^`]+)``", default_cell)}
        assert shown == defaults, argument
