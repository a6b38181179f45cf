"""Decode an image-folder tree ``<split>/<class>/<image>`` into uint8 arrays, with a disk cache.

The tree may be a folder or a tar archive (``.tar``, ``.tar.gz``, ``.tgz``) that contains it, possibly
below a top folder. Archives are read as a stream and never extracted. Images are decoded once
with Pillow and the arrays are cached as an uncompressed ``.npz`` in the user cache folder
(:func:`lcnn.data.locate.cache_dir`), keyed by the SHA-256 of the archive, or by the names, sizes
and modification times of a folder's files. Later reads load the cache in about a second.

Item order is deterministic and class-interleaved: the images of each class are sorted by file
name, and the k-th image of every class (in class order) comes before the (k+1)-th of any class.
So any contiguous slice, such as a Keras-style "last 20 %" validation holdout, keeps the classes
balanced. The original CIFAR-10 order cannot be recovered from an image folder.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import tarfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterator, Sequence

import numpy as np

from lcnn.data.locate import cache_dir, file_digest
from lcnn.errors import DataError
from lcnn.fileio import atomic_write

__all__ = ["IMAGE_EXTENSIONS", "is_tar_path", "read_image_tree"]

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
# Part of every cache key: bump it when the decoding or the item order changes.
_CACHE_FORMAT = "image-tree-v1"


@dataclass(frozen=True)
class _Entry:
    split: str
    class_index: int
    file_name: str


def is_tar_path(path: Path) -> bool:
    """Return whether ``path`` names a tar archive by its suffix (``.tar``, ``.tar.gz``, ``.tgz``)."""
    name = path.name.lower()
    return name.endswith((".tar", ".tar.gz", ".tgz"))


def _parse_member(
    name: str, splits: Sequence[str], class_names: Sequence[str], source: Path
) -> _Entry | None:
    """Map ``[prefix/]<split>/<class>/<file>`` to an entry, or None for anything that is not an image."""
    parts = PurePosixPath(name).parts
    file_name = parts[-1] if parts else ""
    if len(parts) < 3 or parts[-3] not in splits:
        return None
    if file_name.startswith(".") or not file_name.lower().endswith(IMAGE_EXTENSIONS):
        return None
    class_name = parts[-2]
    if class_name not in class_names:
        raise DataError(
            f"{source}: image {name} is in an unknown class folder {class_name!r}; "
            f"expected one of {', '.join(class_names)}."
        )
    return _Entry(split=parts[-3], class_index=class_names.index(class_name), file_name=file_name)


def _decode(data: bytes, name: str, source: Path, image_size: tuple[int, int]) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            rgb = image.convert("RGB")
    except (UnidentifiedImageError, OSError) as error:
        raise DataError(f"{source}: cannot decode image {name}: {error}. Replace or delete that file.") from error
    if rgb.size != (image_size[1], image_size[0]):
        raise DataError(
            f"{source}: image {name} is {rgb.size[0]}x{rgb.size[1]} (width x height), "
            f"expected {image_size[1]}x{image_size[0]}. Resize it or remove it."
        )
    return np.asarray(rgb, dtype=np.uint8)


def _iter_tar(path: Path, splits, class_names) -> Iterator[tuple[_Entry, str, bytes]]:
    try:
        with tarfile.open(path, mode="r|*") as archive:
            for member in archive:
                if not member.isfile():
                    continue
                entry = _parse_member(member.name, splits, class_names, path)
                if entry is None:
                    continue
                handle = archive.extractfile(member)
                if handle is None:
                    continue
                yield entry, member.name, handle.read()
    except (tarfile.TarError, EOFError, OSError) as error:
        raise DataError(f"{path}: cannot read the tar archive ({error}). Delete it and copy it again.") from error


def _list_folder(root: Path, splits, class_names) -> list[tuple[_Entry, Path]]:
    items: list[tuple[_Entry, Path]] = []
    for split in splits:
        split_dir = root / split
        if not split_dir.is_dir():
            raise DataError(f"{root}: missing folder {split}/; expected {root}/{split}/<class>/<image>.")
        for class_dir in sorted(split_dir.iterdir()):
            if not class_dir.is_dir() or class_dir.name.startswith("."):
                continue
            for file_path in sorted(class_dir.iterdir()):
                relative = file_path.relative_to(root).as_posix()
                entry = _parse_member(relative, splits, class_names, root)
                if entry is not None and file_path.is_file():
                    items.append((entry, file_path))
    return items


def _folder_key(items: list[tuple[_Entry, Path]]) -> str:
    digest = hashlib.sha256()
    for _, file_path in items:
        stat = file_path.stat()
        digest.update(f"{file_path.as_posix()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _assemble(decoded, splits, class_names, source: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Sort decoded ``(entry, pixels)`` pairs into class-interleaved arrays per split."""
    result = {}
    for split in splits:
        per_class: list[list[tuple[str, np.ndarray]]] = [[] for _ in class_names]
        for entry, pixels in decoded:
            if entry.split == split:
                per_class[entry.class_index].append((entry.file_name, pixels))
        counts = [len(items) for items in per_class]
        if sum(counts) == 0:
            raise DataError(
                f"{source}: no images found under {split}/<class>/ (accepted extensions: {', '.join(IMAGE_EXTENSIONS)})."
            )
        missing = [name for name, count in zip(class_names, counts) if count == 0]
        if missing:
            logger.warning("%s: split %s has no images of the classes %s", source, split, ", ".join(missing))
        ordered: list[tuple[int, int, np.ndarray]] = []
        for class_index, items in enumerate(per_class):
            items.sort(key=lambda item: item[0])
            ordered.extend((rank, class_index, pixels) for rank, (_, pixels) in enumerate(items))
        ordered.sort(key=lambda item: (item[0], item[1]))
        images = np.stack([pixels for _, _, pixels in ordered]).transpose(0, 3, 1, 2)
        labels = np.array([class_index for _, class_index, _ in ordered], dtype=np.int64)
        result[split] = (np.ascontiguousarray(images), labels)
    return result


def _load_cache(path: Path, splits) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {split: (archive[f"{split}_images"], archive[f"{split}_labels"]) for split in splits}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        logger.warning("Ignoring the unreadable cache file %s (%s); decoding again.", path, error)
        return None


def _save_cache(path: Path, arrays: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    payload = {}
    for split, (images, labels) in arrays.items():
        payload[f"{split}_images"] = images
        payload[f"{split}_labels"] = labels
    try:
        with atomic_write(path, "wb", force=True) as handle:
            np.savez(handle, **payload)
    except OSError as error:
        logger.warning("Could not write the cache file %s (%s); the images will be decoded again next time.", path, error)


def read_image_tree(
    path: str | os.PathLike,
    *,
    class_names: Sequence[str],
    splits: Sequence[str] = ("train", "test"),
    image_size: tuple[int, int] = (32, 32),
    cache: bool = True,
    cache_folder: str | os.PathLike | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Decode every image of a ``<split>/<class>/<image>`` tree, from a folder or a tar archive.

    Args:
        path: the folder that contains the split folders, or a tar archive of that tree.
        class_names: class folder names, in label order; another folder name raises DataError.
        splits: split folder names that must be present.
        image_size: ``(height, width)`` that every image must have.
        cache: whether to load and store the decoded arrays in the cache folder.
        cache_folder: where cache files go; None uses ``cache_dir() / "decoded"``.

    Returns:
        For each split, ``(images, labels)``: uint8 ``(N, 3, H, W)`` RGB and int64 ``(N,)``, in the
        class-interleaved order described in the module docstring.

    Raises:
        DataError: the tree is missing a split, contains an unknown class folder, a file that is not
            a decodable image, an image of another size, or the archive is damaged.
    """
    source = Path(path)
    class_names = list(class_names)
    splits = list(splits)
    if not source.exists():
        raise DataError(f"Image tree {source} not found.")
    folder_items: list[tuple[_Entry, Path]] = []
    is_folder = source.is_dir()
    if is_folder:
        folder_items = _list_folder(source, splits, class_names)
        content_key = _folder_key(folder_items)
    elif is_tar_path(source):
        content_key = file_digest(source, "sha256")
    else:
        raise DataError(f"{source} is neither a folder nor a tar archive (.tar, .tar.gz, .tgz).")

    settings = f"{_CACHE_FORMAT}|{','.join(class_names)}|{','.join(splits)}|{image_size}|{content_key}"
    key = hashlib.sha256(settings.encode()).hexdigest()[:24]
    folder = Path(cache_folder) if cache_folder is not None else cache_dir() / "decoded"
    cache_path = folder / f"{source.name}-{key}.npz"
    if cache:
        cached = _load_cache(cache_path, splits)
        if cached is not None:
            logger.debug("Loaded decoded images of %s from %s", source, cache_path)
            return cached

    start = time.perf_counter()
    if is_folder:
        decoded = [
            (entry, _decode(file_path.read_bytes(), str(file_path), source, image_size))
            for entry, file_path in folder_items
        ]
    else:
        decoded = [
            (entry, _decode(data, name, source, image_size))
            for entry, name, data in _iter_tar(source, splits, class_names)
        ]
    arrays = _assemble(decoded, splits, class_names, source)
    logger.info("Decoded %d images from %s in %.1f s", len(decoded), source, time.perf_counter() - start)
    if cache:
        _save_cache(cache_path, arrays)
        logger.info("Cached the decoded images in %s", cache_path)
    return arrays
