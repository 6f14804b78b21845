"""Draws the figures of the documentation (docs/images/*.png) with the demo's own code, so that
the pages show what `python3 -m deep_ei_fast demo` draws:

    python3 docs/make_figures.py            # about 3 minutes of CPU on the project's 2-core machine

- digits_plane.png, digits_measures.png: the default demo's digits figures (causal_plane.rst);
- digits_measures_shuffle.png: the same training recorded with estimator="shuffle" and
  standard_errors=True at 1e5 samples, whose 95% bands the measures figure draws
  (estimators.rst).
"""
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # this checkout's deep_ei_fast

from deep_ei_fast.apps.demo import TASKS, Settings, run_task  # noqa: E402

IMAGES = os.path.join(HERE, "images")
FIGURES = {  # file in docs/images -> (the demo's settings, the demo's file it copies)
    "digits_plane.png": (Settings(gif=False, progress=False), "digits_plane.png"),
    "digits_measures.png": (Settings(gif=False, progress=False), "digits_measures.png"),
    "digits_measures_shuffle.png": (Settings(samples=100_000, gif=False, progress=False, estimator="shuffle",
                                             standard_errors=True), "digits_measures.png"),
}


def main():
    os.makedirs(IMAGES, exist_ok=True)
    runs = {}  # one demo run per distinct settings
    with tempfile.TemporaryDirectory() as work:
        for image, (settings, drawn) in FIGURES.items():
            key = repr(settings)
            if key not in runs:
                out = os.path.join(work, str(len(runs)))
                os.makedirs(out)
                run_task(TASKS["digits"], out, settings, log=print)
                runs[key] = out
            shutil.copyfile(os.path.join(runs[key], drawn), os.path.join(IMAGES, image))
            print(f"wrote docs/images/{image}")


if __name__ == "__main__":
    main()
