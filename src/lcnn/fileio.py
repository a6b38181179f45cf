"""Safe output writing: atomic replacement and no silent overwrite."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator

from lcnn.errors import LcnnError

__all__ = ["OutputExistsError", "check_writable", "atomic_write", "default_folder_mode"]


class OutputExistsError(LcnnError, FileExistsError):
    """An output path exists and overwriting was not requested."""


def check_writable(path: str | os.PathLike, *, force: bool = False) -> Path:
    """Return ``path`` as a Path, raising if it exists and ``force`` is false.

    Raises:
        OutputExistsError: ``path`` exists; the message names the ``--force`` option.
    """
    path = Path(path)
    if path.exists() and not force:
        raise OutputExistsError(f"{path} already exists; pass --force to overwrite it or choose another path.")
    return path


def _default_file_mode(path: Path) -> int:
    """Return the existing file's permissions, else 0o666 less the process umask."""
    if path.exists():
        return path.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def default_folder_mode() -> int:
    """Return 0o777 less the process umask: the mode ``mkdir`` would give a new folder."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o777 & ~umask


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike, mode: str = "w", *, force: bool = False, encoding: str | None = "utf-8"
) -> Iterator[IO]:
    """Open a temporary file beside ``path`` and move it over ``path`` only when the block succeeds.

    A crash or exception inside the block leaves any existing ``path`` untouched.

    Raises:
        OutputExistsError: ``path`` exists and ``force`` is false.
    """
    path = check_writable(path, force=force)
    path.parent.mkdir(parents=True, exist_ok=True)
    binary = "b" in mode
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    # mkstemp creates the file readable by its owner only; give it the mode a plain open() would.
    os.chmod(temp_name, _default_file_mode(path))
    try:
        with os.fdopen(fd, mode, encoding=None if binary else encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
