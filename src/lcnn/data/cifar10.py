"""CIFAR-10 (Krizhevsky, 2009): 60,000 colour images of 32x32 pixels in 10 classes.

Accepted sources, found by :func:`lcnn.data.locate.locate_dataset` or passed to :func:`read_cifar10`:

- the official python version, extracted (``cifar-10-batches-py/data_batch_1`` .. ``_5`` and
  ``test_batch``) or as the downloaded ``cifar-10-python.tar.gz``;
- an image-folder tree ``train/<class>/*.png|jpg`` and ``test/<class>/*.png|jpg``, as a folder or
  as a tar archive such as ``cifar10_jpeg_full.tar.gz``. Its images are decoded once and cached (see
  :mod:`lcnn.data.image_tree`). JPEG copies of CIFAR-10 differ slightly from the original pixels.

Labels follow the canonical class order of :data:`CIFAR10_CLASS_NAMES`.
"""

from __future__ import annotations

import io
import logging
import os
import pickle
import tarfile
from pathlib import Path, PurePosixPath
from typing import Literal

import numpy as np

from lcnn.data.image_dataset import ImageArrayDataset, Transform
from lcnn.data.image_tree import is_tar_path, read_image_tree
from lcnn.data.locate import DatasetSource, RemoteFile, locate_dataset
from lcnn.errors import DataError

__all__ = ["CIFAR10", "CIFAR10_CLASS_NAMES", "CIFAR10_SOURCE", "load_cifar10_arrays", "read_cifar10"]

logger = logging.getLogger(__name__)

CIFAR10_CLASS_NAMES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)

_BATCHES_FOLDER = "cifar-10-batches-py"
_PYTHON_ARCHIVE = "cifar-10-python.tar.gz"
_TRAIN_BATCHES = tuple(f"data_batch_{number}" for number in range(1, 6))
_TEST_BATCH = "test_batch"
_PYTHON_ARCHIVE_FILES = (*_TRAIN_BATCHES, _TEST_BATCH, "batches.meta", "readme.html")

CIFAR10_SOURCE = DatasetSource(
    name="CIFAR-10",
    subfolders=("cifar10", "cifar-10", "CIFAR10"),
    layouts=((_BATCHES_FOLDER,), (_PYTHON_ARCHIVE,), ("cifar10_jpeg_full.tar.gz",), ("train", "test")),
    downloads=(
        RemoteFile(
            name=_PYTHON_ARCHIVE,
            urls=("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
            md5="c58f30108f718f92721af3b95e74349a",
        ),
    ),
)

Arrays = dict[str, tuple[np.ndarray, np.ndarray]]


class _BatchUnpickler(pickle.Unpickler):
    """Unpickler that only rebuilds numpy arrays, so that a batch file cannot run arbitrary code."""

    _ALLOWED = {
        # Python 3 pickles bytes with protocol 2 as _codecs.encode(text, "latin1").
        ("_codecs", "encode"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"),
    }

    def find_class(self, module: str, name: str):  # noqa: D102
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR-10 batch")
        return super().find_class(module, name)


def _parse_batch(data: bytes, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Turn one pickled batch into uint8 ``(N, 3, 32, 32)`` images and int64 ``(N,)`` labels."""
    try:
        batch = _BatchUnpickler(io.BytesIO(data), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as error:
        raise DataError(f"{name}: not a readable CIFAR-10 batch ({error}). Delete it and download it again.") from error
    if not isinstance(batch, dict):
        raise DataError(f"{name}: expected a pickled dict, found {type(batch).__name__}.")
    batch = {key.decode() if isinstance(key, bytes) else key: value for key, value in batch.items()}
    if "data" not in batch or "labels" not in batch:
        raise DataError(f"{name}: missing key 'data' or 'labels'; found keys {sorted(batch)}.")

    pixels = np.asarray(batch["data"])
    labels = np.asarray(batch["labels"], dtype=np.int64)
    if pixels.dtype != np.uint8 or pixels.ndim != 2 or pixels.shape[1] != 3 * 32 * 32:
        raise DataError(f"{name}: expected uint8 data of shape (N, 3072), found {pixels.dtype} {pixels.shape}.")
    if labels.shape != (pixels.shape[0],):
        raise DataError(f"{name}: {pixels.shape[0]} images but {labels.shape[0]} labels.")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"{name}: labels must lie in 0-9, found {labels.min()} to {labels.max()}.")
    # Each row contains the 1024 red values, then green, then blue, each plane in row-major order.
    return pixels.reshape(-1, 3, 32, 32), labels


def _join_batches(batches: dict[str, tuple[np.ndarray, np.ndarray]]) -> Arrays:
    train = [batches[name] for name in _TRAIN_BATCHES]
    return {
        "train": (np.concatenate([images for images, _ in train]), np.concatenate([labels for _, labels in train])),
        "test": batches[_TEST_BATCH],
    }


def _read_batches_folder(folder: Path) -> Arrays:
    names = (*_TRAIN_BATCHES, _TEST_BATCH)
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        raise DataError(f"{folder}: missing CIFAR-10 batch files {', '.join(missing)}; expected {', '.join(names)}.")
    return _join_batches({name: _parse_batch((folder / name).read_bytes(), str(folder / name)) for name in names})


def _read_batches_archive(path: Path) -> Arrays:
    names = (*_TRAIN_BATCHES, _TEST_BATCH)
    batches = {}
    try:
        with tarfile.open(path, mode="r|*") as archive:
            for member in archive:
                base = PurePosixPath(member.name).name
                if member.isfile() and base in names:
                    handle = archive.extractfile(member)
                    if handle is not None:
                        batches[base] = _parse_batch(handle.read(), f"{path}:{member.name}")
    except (tarfile.TarError, EOFError, OSError) as error:
        raise DataError(f"{path}: cannot read the tar archive ({error}). Delete it and download it again.") from error
    missing = [name for name in names if name not in batches]
    if missing:
        raise DataError(f"{path}: the archive lacks the CIFAR-10 batches {', '.join(missing)}.")
    return _join_batches(batches)


def _holds_python_batches(path: Path) -> bool:
    """Return whether a tar archive's first file is one of the official python-version files."""
    try:
        with tarfile.open(path, mode="r|*") as archive:
            for member in archive:
                if member.isfile():
                    return PurePosixPath(member.name).name in _PYTHON_ARCHIVE_FILES
    except (tarfile.TarError, EOFError, OSError) as error:
        raise DataError(f"{path}: cannot read the tar archive ({error}). Delete it and copy it again.") from error
    return False


def read_cifar10(path: str | os.PathLike, *, cache: bool = True) -> Arrays:
    """Read both CIFAR-10 splits from any accepted source.

    Args:
        path: a ``cifar-10-batches-py`` folder (or its parent), ``cifar-10-python.tar.gz``, an
            image-folder tree with ``train/`` and ``test/``, or a tar archive of such a tree.
        cache: whether decoded image-folder data is loaded from and stored in the cache folder.

    Returns:
        ``{"train": (images, labels), "test": (images, labels)}`` with uint8 ``(N, 3, 32, 32)`` RGB
        images and int64 ``(N,)`` labels in canonical class order.

    Raises:
        DataError: the source is missing, of an unknown kind, or malformed.
    """
    path = Path(path)
    if path.is_dir():
        if path.name == _BATCHES_FOLDER or any((path / name).is_file() for name in (*_TRAIN_BATCHES, _TEST_BATCH)):
            return _read_batches_folder(path)
        if (path / _BATCHES_FOLDER).is_dir():
            return _read_batches_folder(path / _BATCHES_FOLDER)
        if (path / "train").is_dir() and (path / "test").is_dir():
            return read_image_tree(path, class_names=CIFAR10_CLASS_NAMES, image_size=(32, 32), cache=cache)
        raise DataError(
            f"{path}: no CIFAR-10 data found; expected {_BATCHES_FOLDER}/ with data_batch_1..5 and test_batch, "
            f"or train/<class>/ and test/<class>/ image folders."
        )
    if path.is_file() and is_tar_path(path):
        if _holds_python_batches(path):
            return _read_batches_archive(path)
        return read_image_tree(path, class_names=CIFAR10_CLASS_NAMES, image_size=(32, 32), cache=cache)
    if not path.exists():
        raise DataError(f"CIFAR-10 source {path} not found.")
    raise DataError(f"{path}: not a CIFAR-10 source; expected a folder or a tar archive (.tar, .tar.gz, .tgz).")


def load_cifar10_arrays(
    *,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    cache: bool = True,
) -> Arrays:
    """Find (or download) CIFAR-10 and read both splits.

    Args:
        data_dir: explicit data folder, searched first (see :mod:`lcnn.data.locate`).
        download: whether ``cifar-10-python.tar.gz`` may be downloaded into the cache folder.
        cache: whether decoded image-folder data is loaded from and stored in the cache folder.

    Returns:
        As :func:`read_cifar10`: 50,000 training and 10,000 test images for the full dataset.

    Raises:
        DataError: no source is found and the download is disabled or failed, or the source is malformed.
    """
    found = locate_dataset(CIFAR10_SOURCE, data_dir=data_dir, download=download)
    source = found.paths[0] if len(found.paths) == 1 else found.folder
    logger.debug("Reading CIFAR-10 from %s", source)
    return read_cifar10(source, cache=cache)


class CIFAR10(ImageArrayDataset):
    """One CIFAR-10 split as a Dataset of ``(image (3, 32, 32) float32 in [0, 1], label)``.

    Pixels are the stored uint8 values divided by 255, without mean or variance normalisation.

    Args:
        split: ``"train"`` or ``"test"``.
        data_dir: explicit data folder, searched first (see :mod:`lcnn.data.locate`).
        download: whether the official archive may be downloaded into the cache folder.
        transform: callable applied to each ``(3, 32, 32)`` image tensor, for example
            :func:`lcnn.data.transforms.cifar10_augmentation`.
        cache: whether decoded image-folder data is loaded from and stored in the cache folder.

    Raises:
        ValueError: ``split`` is not ``"train"`` or ``"test"``.
        DataError: the data is missing and cannot be downloaded, or is malformed.
    """

    def __init__(
        self,
        split: Literal["train", "test"] = "train",
        *,
        data_dir: str | os.PathLike | None = None,
        download: bool = True,
        transform: Transform | None = None,
        cache: bool = True,
    ) -> None:
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}.")
        images, labels = load_cifar10_arrays(data_dir=data_dir, download=download, cache=cache)[split]
        super().__init__(images, labels, class_names=CIFAR10_CLASS_NAMES, transform=transform)
        self.split = split
