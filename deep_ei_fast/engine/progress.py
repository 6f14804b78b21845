"""Progress bars for long runs: shown only after a couple of seconds, off with progress=False."""
from tqdm.auto import tqdm

SHOW_AFTER_SECONDS = 2.0


def progress_bar(enabled, total, description, unit="samples"):
    return tqdm(total=total, desc=description, unit=unit, unit_scale=True, leave=False,
                disable=not enabled, delay=SHOW_AFTER_SECONDS)
