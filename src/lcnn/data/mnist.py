"""MNIST handwritten digits (LeCun, Cortes & Burges) read from the standard IDX files with numpy.

The four files ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte`` and
``t10k-labels-idx1-ubyte`` are read gzip-compressed (``.gz``) or uncompressed. The IDX format is a
big-endian header (two zero bytes, a type code, the number of dimensions, one uint32 per dimension)
followed by the values in row-major order.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from pathlib import Path
from typing import Literal

import numpy as np

from lcnn.data.image_dataset import ImageArrayDataset, Transform
from lcnn.data.locate import DatasetSource, RemoteFile, cache_dir, locate_dataset
from lcnn.errors import DataError

__all__ = ["MNIST", "MNIST_CLASS_NAMES", "MNIST_SOURCE", "load_mnist_arrays", "read_idx", "read_mnist_files"]

logger = logging.getLogger(__name__)

MNIST_CLASS_NAMES = tuple(str(digit) for digit in range(10))

_FILE_STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
# MD5 of the compressed files as published on the MNIST page. The S3 mirror comes first because
# the original page has rejected scripted downloads at times.
_GZ_MD5 = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")

MNIST_SOURCE = DatasetSource(
    name="MNIST",
    subfolders=("mnist", "MNIST"),
    layouts=(tuple(f"{stem}.gz" for stem in _FILE_STEMS), _FILE_STEMS),
    downloads=tuple(
        RemoteFile(name=name, urls=tuple(base + name for base in _MIRRORS), md5=md5) for name, md5 in _GZ_MD5.items()
    ),
)

# IDX type code -> big-endian numpy dtype.
_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK_BYTES = 1 << 20


def _redownload_hint(path: Path) -> str:
    return (
        f"Delete {path} and download it again (lcnn downloads missing MNIST files into "
        f"{cache_dir() / MNIST_SOURCE.subfolders[0]})."
    )


def _read_bytes(path: Path) -> tuple[bytes, bool]:
    """Return the file's content, decompressed when it is gzip, and whether the gzip stream ended early."""
    with open(path, "rb") as handle:
        is_gzip = handle.read(2) == _GZIP_MAGIC
    if not is_gzip:
        return path.read_bytes(), False

    # zlib keeps what it decompressed before a truncation, so the size check can report it. The
    # gzip module would raise EOFError and drop the partial chunk instead.
    chunks: list[bytes] = []
    decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(_CHUNK_BYTES), b""):
                while block:
                    chunks.append(decompressor.decompress(block))
                    block = b""
                    if decompressor.eof and decompressor.unused_data.startswith(_GZIP_MAGIC):
                        # A concatenated gzip member follows: decompress it as well.
                        block = decompressor.unused_data
                        decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    except zlib.error as error:
        raise DataError(f"{path}: the gzip data is corrupt ({error}). {_redownload_hint(path)}") from error
    return b"".join(chunks), not decompressor.eof


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (gzip-compressed or not) into a numpy array.

    Args:
        path: IDX file; gzip compression is recognised by its magic bytes, not by the file name.

    Returns:
        Array with the header's dimensions and native byte order (uint8 for MNIST). It may be a
        read-only view of the file's bytes.

    Raises:
        DataError: the magic number is not an IDX one, or the file is truncated or too long. The
            message names the file, the expected and found byte counts, and the fix.
    """
    path = Path(path)
    data, gzip_truncated = _read_bytes(path)
    truncated_note = " (the gzip stream ends early)" if gzip_truncated else ""

    if len(data) < 4:
        raise DataError(
            f"{path}: truncated IDX file{truncated_note}: expected at least a 4-byte header, found {len(data)} bytes. "
            f"{_redownload_hint(path)}"
        )
    magic = int.from_bytes(data[:4], "big")
    type_code, ndim = data[2], data[3]
    if data[0] != 0 or data[1] != 0 or type_code not in _IDX_DTYPES or ndim == 0:
        raise DataError(
            f"{path}: not an IDX file: magic number 0x{magic:08X}, expected 0x00000801 (labels), "
            f"0x00000803 (images) or another 0x0000TTDD with a valid type TT and DD > 0 dimensions. "
            f"Check that the file is an MNIST IDX file. If it is, it is damaged: {_redownload_hint(path)}"
        )

    header_bytes = 4 + 4 * ndim
    if len(data) < header_bytes:
        raise DataError(
            f"{path}: truncated IDX file{truncated_note}: expected a {header_bytes}-byte header for {ndim} "
            f"dimensions, found {len(data)} bytes. {_redownload_hint(path)}"
        )
    shape = struct.unpack(f">{ndim}I", data[4:header_bytes])
    dtype = _IDX_DTYPES[type_code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    found = len(data) - header_bytes
    if found != expected or gzip_truncated:
        problem = "truncated" if found < expected or gzip_truncated else "oversized"
        raise DataError(
            f"{path}: {problem} IDX file{truncated_note}: the header declares shape {shape} of {dtype.name}, "
            f"so expected {expected} data bytes after the {header_bytes}-byte header, found {found}. "
            f"{_redownload_hint(path)}"
        )
    array = np.frombuffer(data, dtype=dtype, count=expected // dtype.itemsize, offset=header_bytes)
    return array.reshape(shape).astype(dtype.newbyteorder("="), copy=False)


def read_mnist_files(images_path: str | os.PathLike, labels_path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read an MNIST image file and its label file and check that they belong together.

    Args:
        images_path: IDX file of uint8 images ``(N, 28, 28)``.
        labels_path: IDX file of uint8 labels ``(N,)`` in ``0..9``.

    Returns:
        ``(images, labels)``: uint8 ``(N, 1, 28, 28)`` and int64 ``(N,)``.

    Raises:
        DataError: a file is malformed, has the wrong type or shape, the counts differ, or a label
            is not a digit.
    """
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataError(
            f"{images_path}: expected uint8 MNIST images of shape (N, 28, 28), found {images.dtype} {images.shape}. "
            f"Check that the image and label files are not swapped."
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise DataError(
            f"{labels_path}: expected uint8 MNIST labels of shape (N,), found {labels.dtype} {labels.shape}. "
            f"Check that the image and label files are not swapped."
        )
    if images.shape[0] != labels.shape[0]:
        raise DataError(
            f"MNIST files do not match: {images_path} contains {images.shape[0]} images but {labels_path} "
            f"contains {labels.shape[0]} labels. Use the image and label files of the same split."
        )
    if labels.size and labels.max() > 9:
        raise DataError(f"{labels_path}: labels must be digits 0-9, found a maximum of {labels.max()}.")
    return images[:, None, :, :], labels.astype(np.int64)


def load_mnist_arrays(
    split: Literal["train", "test"],
    *,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Find (or download) the MNIST files and read one split.

    Args:
        split: ``"train"`` (60,000 images) or ``"test"`` (10,000 images).
        data_dir: explicit data folder, searched first (see :mod:`lcnn.data.locate`).
        download: whether missing files may be downloaded into the cache folder.

    Returns:
        ``(images, labels)``: uint8 ``(N, 1, 28, 28)`` and int64 ``(N,)``, in file order.

    Raises:
        ValueError: ``split`` is not ``"train"`` or ``"test"``.
        DataError: the files are missing and cannot be downloaded, or are malformed.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}.")
    found = locate_dataset(MNIST_SOURCE, data_dir=data_dir, download=download)
    first = 0 if split == "train" else 2
    images_path, labels_path = found.paths[first], found.paths[first + 1]
    logger.debug("Reading MNIST %s split from %s", split, found.folder)
    return read_mnist_files(images_path, labels_path)


class MNIST(ImageArrayDataset):
    """One MNIST split as a Dataset of ``(image (1, 28, 28) float32 in [0, 1], label)``.

    Pixels are the stored uint8 values divided by 255, without mean or variance normalisation.

    Args:
        split: ``"train"`` or ``"test"``.
        data_dir: explicit data folder, searched first (see :mod:`lcnn.data.locate`).
        download: whether missing files may be downloaded into the cache folder.
        transform: callable applied to each ``(1, 28, 28)`` image tensor.

    Raises:
        DataError: the files are missing and cannot be downloaded, or are malformed.
    """

    def __init__(
        self,
        split: Literal["train", "test"] = "train",
        *,
        data_dir: str | os.PathLike | None = None,
        download: bool = True,
        transform: Transform | None = None,
    ) -> None:
        images, labels = load_mnist_arrays(split, data_dir=data_dir, download=download)
        super().__init__(images, labels, class_names=MNIST_CLASS_NAMES, transform=transform)
        self.split = split
