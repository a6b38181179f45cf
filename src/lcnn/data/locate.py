"""Find dataset files on disk and download the missing ones with checksum verification.

Folders are searched in this order, and the first folder that contains a complete layout wins:

1. the ``data_dir`` argument (the ``--data-dir`` option of the command-line interface);
2. the folder named by the ``LCNN_DATA_DIR`` environment variable;
3. the user cache folder: ``LCNN_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/lcnn``, else ``~/.cache/lcnn``.

Under each of these roots the dataset's own subfolder (for example ``<root>/mnist``) is tried before the
root itself. When nothing is found, the canonical files are downloaded into ``<cache>/<dataset>`` and
verified against their published checksums. When that fails too (offline machine, server error,
checksum mismatch), :class:`~lcnn.errors.DataError` lists the folders searched and the file names
expected there.
"""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from lcnn.errors import DataError
from lcnn.fileio import atomic_write

__all__ = [
    "CACHE_ENV",
    "DATA_ENV",
    "DatasetSource",
    "FoundData",
    "RemoteFile",
    "cache_dir",
    "data_roots",
    "download_file",
    "file_digest",
    "locate_dataset",
]

logger = logging.getLogger(__name__)

DATA_ENV = "LCNN_DATA_DIR"
CACHE_ENV = "LCNN_CACHE_DIR"

# Seconds that one socket operation of a download may block before the download is abandoned.
DEFAULT_TIMEOUT = 15.0
_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class RemoteFile:
    """A file that can be downloaded, with its published checksums.

    Attributes:
        name: file name on disk.
        urls: addresses tried in order until one succeeds.
        md5: expected MD5 hex digest of the downloaded bytes, or None.
        sha256: expected SHA-256 hex digest of the downloaded bytes, or None.
    """

    name: str
    urls: tuple[str, ...]
    md5: str | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class DatasetSource:
    """File layouts and download addresses of one dataset.

    Attributes:
        name: dataset name used in messages, for example ``"MNIST"``.
        subfolders: subfolder names tried under each root before the root itself; the first one is
            where downloads go inside the cache folder.
        layouts: accepted sets of files or folders. A folder matches a layout when every name of the
            layout exists in it. Layouts are tried in order.
        downloads: files that, once downloaded, form one of the layouts. Empty when the dataset
            cannot be downloaded.
    """

    name: str
    subfolders: tuple[str, ...]
    layouts: tuple[tuple[str, ...], ...]
    downloads: tuple[RemoteFile, ...] = ()


@dataclass(frozen=True)
class FoundData:
    """The result of :func:`locate_dataset`.

    Attributes:
        folder: the folder that contains the matched layout.
        paths: the matched layout's paths, in the order of the layout.
    """

    folder: Path
    paths: tuple[Path, ...]


def cache_dir() -> Path:
    """Return the user cache folder of lcnn (downloads and decoded arrays).

    ``LCNN_CACHE_DIR`` overrides the default ``$XDG_CACHE_HOME/lcnn`` (``~/.cache/lcnn`` when
    ``XDG_CACHE_HOME`` is unset or empty). The folder is not created here.
    """
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "lcnn"


def data_roots(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """Return the root folders searched for data, in priority order, without duplicates.

    Args:
        data_dir: explicit data folder (``--data-dir``), searched first when given.

    Returns:
        ``[data_dir, $LCNN_DATA_DIR, cache_dir()]``, leaving out the ones that are unset.
    """
    candidates: list[Path] = []
    if data_dir is not None:
        candidates.append(Path(data_dir).expanduser())
    env_dir = os.environ.get(DATA_ENV)
    if env_dir:
        candidates.append(Path(env_dir).expanduser())
    candidates.append(cache_dir())

    roots: list[Path] = []
    for path in candidates:
        if path not in roots:
            roots.append(path)
    return roots


def _candidate_folders(source: DatasetSource, roots: list[Path]) -> list[Path]:
    folders: list[Path] = []
    for root in roots:
        for folder in [root / sub for sub in source.subfolders] + [root]:
            if folder not in folders:
                folders.append(folder)
    return folders


def _match_layout(source: DatasetSource, folder: Path) -> FoundData | None:
    if not folder.is_dir():
        return None
    for layout in source.layouts:
        paths = tuple(folder / name for name in layout)
        if all(path.exists() for path in paths):
            return FoundData(folder=folder, paths=paths)
    return None


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Return the hex digest of a file's bytes, read in 1 MiB chunks.

    Args:
        path: file to hash.
        algorithm: any name that :func:`hashlib.new` accepts, such as ``"md5"`` or ``"sha256"``.
    """
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download_file(
    url: str,
    path: str | os.PathLike,
    *,
    md5: str | None = None,
    sha256: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Path:
    """Download ``url`` to ``path`` atomically, verifying the checksums that are given.

    The bytes go to a temporary file beside ``path``, which replaces ``path`` only after every given
    checksum matched. A failed or interrupted download leaves no partial file behind.

    Args:
        url: address to fetch (``http(s)://`` or ``file://``).
        path: destination file; its parent folders are created.
        md5: expected MD5 hex digest, or None to skip that check.
        sha256: expected SHA-256 hex digest, or None to skip that check.
        timeout: seconds > 0 that connecting or one read may block.

    Returns:
        ``path`` as a Path.

    Raises:
        DataError: the download failed, timed out, or a checksum did not match.
    """
    path = Path(path)
    expected = {name: value.lower() for name, value in (("md5", md5), ("sha256", sha256)) if value}
    digests = {name: hashlib.new(name) for name in expected}
    logger.info("Downloading %s to %s", url, path)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            with atomic_write(path, "wb", force=True) as handle:
                for chunk in iter(lambda: response.read(_CHUNK_BYTES), b""):
                    handle.write(chunk)
                    for digest in digests.values():
                        digest.update(chunk)
                for name, value in expected.items():
                    found = digests[name].hexdigest()
                    if found != value:
                        raise DataError(
                            f"Checksum mismatch for {path.name} downloaded from {url}: expected {name} "
                            f"{value}, found {found}. The download was discarded; retry it, or fetch the "
                            f"file by hand and check it."
                        )
    except DataError:
        raise
    except (urllib.error.URLError, OSError, ValueError) as error:
        # URLError covers HTTP errors and refused connections, OSError covers timeouts and disk
        # errors, ValueError covers malformed addresses.
        raise DataError(f"Download of {url} failed: {error}") from error
    return path


def _download_into(source: DatasetSource, folder: Path, timeout: float) -> None:
    for remote in source.downloads:
        target = folder / remote.name
        if target.exists():
            continue
        errors = []
        for url in remote.urls:
            try:
                download_file(url, target, md5=remote.md5, sha256=remote.sha256, timeout=timeout)
                break
            except DataError as error:
                logger.warning("%s", error)
                errors.append(str(error))
        else:
            raise DataError(" ".join(errors))


def _not_found_message(source: DatasetSource, folders: list[Path], reason: str) -> str:
    layouts = "\n".join(f"  - {', '.join(layout)}" for layout in source.layouts)
    searched = "\n".join(f"  - {folder}" for folder in folders)
    lines = [
        f"{source.name} data not found. {reason}",
        f"Folders searched, in order:\n{searched}",
        f"Put one of these sets of files or folders into one of those folders:\n{layouts}",
    ]
    if source.downloads:
        urls = "\n".join(f"  - {remote.urls[0]}" for remote in source.downloads)
        target = cache_dir() / source.subfolders[0]
        lines.append(f"The files can be downloaded from:\n{urls}\nand placed in {target}.")
    lines.append(f"Or point --data-dir or the {DATA_ENV} environment variable at a folder that contains them.")
    return "\n".join(lines)


def locate_dataset(
    source: DatasetSource,
    *,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
) -> FoundData:
    """Find a dataset's files, downloading them into the cache folder when they are missing.

    Args:
        source: description of the dataset's file layouts and downloads.
        data_dir: explicit data folder, searched before ``LCNN_DATA_DIR`` and the cache folder.
        download: whether to fetch missing files; False raises at once when nothing is found.
        timeout: seconds > 0 that connecting or one read of a download may block.

    Returns:
        The first folder, in search order, that contains a complete layout, and that layout's paths.

    Raises:
        DataError: nothing was found and the download was disabled, impossible or failed. The
            message lists the folders searched and the expected file names.
    """
    roots = data_roots(data_dir)
    for root in roots[:-1]:
        if not root.is_dir():
            logger.warning("Data folder %s does not exist; searching the next folders for %s.", root, source.name)
    folders = _candidate_folders(source, roots)
    for folder in folders:
        found = _match_layout(source, folder)
        if found is not None:
            logger.info("Using %s data in %s", source.name, found.folder)
            return found

    if not download:
        raise DataError(_not_found_message(source, folders, "Downloading was disabled."))
    if not source.downloads:
        raise DataError(_not_found_message(source, folders, "It cannot be downloaded automatically."))

    target = cache_dir() / source.subfolders[0]
    try:
        _download_into(source, target, timeout)
    except DataError as error:
        raise DataError(_not_found_message(source, folders, f"The download failed: {error}")) from error
    found = _match_layout(source, target)
    if found is None:
        raise DataError(
            _not_found_message(source, folders, f"The downloaded files in {target} do not form a complete layout.")
        )
    return found
