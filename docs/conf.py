"""Sphinx configuration of the deep_ei_fast documentation.

Build (warnings are errors, as in .ci/run):
    python3 -m sphinx -W --keep-going -b html docs docs/_build/html
autodoc imports deep_ei_fast, so its extension (deep_ei_fast/_C*.so) must be built first.
"""
import os
import sys

# Document the checkout that holds this file, not another installed copy.
sys.path.insert(0, os.path.abspath(".."))

project = "deep_ei_fast"
author = "the deep_ei_fast authors"
copyright = "2026, the deep_ei_fast authors"

import deep_ei_fast  # noqa: E402  (after the sys.path line above)

release = deep_ei_fast.__version__
version = release

# The public docstrings are numpydoc (Parameters, Returns, Raises, Examples: their examples run
# in tests/test_doctests.py); napoleon, which ships with Sphinx, renders the sections. NumPy
# style only: Google style would misread a prose line "text: more text" as a section entry.
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon"]
napoleon_google_docstring = False
napoleon_numpy_docstring = True
# Attributes as a field list of the class, not as separate attribute entries that would
# duplicate those autodoc makes of a class's members.
napoleon_use_ivar = True

autodoc_member_order = "bysource"
autodoc_typehints = "description"
# Only where the docstring documents the parameter: a dataclass's fields are its Attributes.
autodoc_typehints_description_target = "documented"
# Signatures show the defaults as written (DEFAULT_MEMORY_BOUND, not 2147483648).
autodoc_preserve_defaults = True

exclude_patterns = ["_build", "requirements.txt"]
html_theme = "alabaster"
# Wider than alabaster's 940 px, so that code blocks of ~100 columns show whole on a 1280 px
# screen; tests/test_docs_pages.py keeps the index page's code within 80 columns.
html_theme_options = {"page_width": "1180px"}

