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


def test_extra_arguments_table_lists_estimator_and_shuffles():
    table = page("api.rst").split("Keyword-only arguments beyond deep-ei")[1].split("Devices\n")[0]
    for argument in ("rng", "seed", "progress", "memory_bound", "checkpoint", "max_samples", "threshold",
                     "process_group", "estimator", "shuffles"):
        assert f"   * - ``{argument}``" in table, argument
