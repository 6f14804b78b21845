"""A file that rows will be written to after a long measurement, checked before it starts."""
import os


def check_output_file(path, name):
    """ValueError / TypeError naming ``name`` unless ``path`` can take a CSV: a str or
    os.PathLike naming an existing regular file that can be appended to, or a new file in an
    existing folder where one can be created (tried, then removed). Devices such as /dev/full
    and folders are refused: writing there fails only after the measurement."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name} must be a file path (str or os.PathLike), got {path!r}")
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ValueError(f"{name}={path!r} is a folder; give a file name")
    if os.path.exists(path):
        if not os.path.isfile(path):
            raise ValueError(f"{name}={path!r} is not a regular file (a device or pipe?); give a file name")
        _try_open(path, name)
        return
    folder = os.path.dirname(path) or "."
    if not os.path.isdir(folder):
        raise ValueError(f"{name}={path!r}: the folder {folder!r} does not exist")
    _try_open(path, name)
    os.remove(path)


def _try_open(path, name):
    try:
        with open(path, "a"):
            pass
    except OSError as error:
        raise ValueError(f"{name}={path!r} cannot be written ({error.strerror})") from None
