"""`python -m deep_ei_fast`: the command line (see deep_ei_fast/apps/cli.py)."""
from .apps.cli import entry_point

if __name__ == "__main__":
    entry_point()
