"""Tests of lcnn.data.image_tree on small synthetic PNG trees (lossless, so pixels compare exactly)."""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lcnn.data import image_tree
from lcnn.data.image_tree import read_image_tree
from lcnn.errors import DataError

CLASSES = ("cat", "dog", "frog")
# Images per class and split; unequal on purpose, to check the interleaved order.
COUNTS = {"train": (3, 2, 3), "test": (1, 1, 1)}


def make_tree(root: Path) -> dict[tuple[str, str, str], np.ndarray]:
    """Write random 8x6 PNGs to root/<split>/<class>/<name>.png and return them by (split, class, name)."""
    rng = np.random.default_rng(0)
    written = {}
    for split, counts in COUNTS.items():
        for class_name, count in zip(CLASSES, counts):
            folder = root / split / class_name
            folder.mkdir(parents=True)
            # Names written in reverse order, so the sort by name is visible.
            for number in reversed(range(count)):
                pixels = rng.integers(0, 256, size=(8, 6, 3), dtype=np.uint8)
                name = f"{number:04d}.png"
                Image.fromarray(pixels).save(folder / name)
                written[(split, class_name, name)] = pixels
    (root / "train" / "cat" / "notes.txt").write_text("not an image")
    (root / "train" / "cat" / ".hidden.png").write_bytes(b"ignored")
    return written


def make_archive(root: Path, archive: Path, prefix: str = "tree") -> Path:
    with tarfile.open(archive, "w:gz") as handle:
        handle.add(root, arcname=prefix)
    return archive


@pytest.fixture
def cache(monkeypatch, tmp_path) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("LCNN_CACHE_DIR", str(folder))
    return folder


def read(path: Path, **kwargs):
    return read_image_tree(path, class_names=CLASSES, image_size=(8, 6), **kwargs)


def test_folder_pixels_and_order(tmp_path, cache):
    written = make_tree(tmp_path / "tree")
    arrays = read(tmp_path / "tree")

    train_images, train_labels = arrays["train"]
    assert train_images.shape == (8, 3, 8, 6)
    assert train_images.dtype == np.uint8
    # Rank 0 of each class, then rank 1 of each class, ...; dog has only 2 images.
    assert train_labels.tolist() == [0, 1, 2, 0, 1, 2, 0, 2]
    expected_names = ["0000", "0000", "0000", "0001", "0001", "0001", "0002", "0002"]
    for position, (label, stem) in enumerate(zip(train_labels, expected_names)):
        expected = written[("train", CLASSES[label], f"{stem}.png")]
        np.testing.assert_array_equal(train_images[position], expected.transpose(2, 0, 1))

    test_images, test_labels = arrays["test"]
    assert test_labels.tolist() == [0, 1, 2]
    np.testing.assert_array_equal(test_images[1], written[("test", "dog", "0000.png")].transpose(2, 0, 1))


def test_archive_matches_folder(tmp_path, cache):
    make_tree(tmp_path / "tree")
    from_folder = read(tmp_path / "tree", cache=False)
    from_archive = read(make_archive(tmp_path / "tree", tmp_path / "tree.tar.gz"), cache=False)
    for split in COUNTS:
        np.testing.assert_array_equal(from_archive[split][0], from_folder[split][0])
        np.testing.assert_array_equal(from_archive[split][1], from_folder[split][1])


def test_cache_written_and_reused(tmp_path, cache, monkeypatch):
    make_tree(tmp_path / "tree")
    archive = make_archive(tmp_path / "tree", tmp_path / "tree.tar.gz")
    first = read(archive)
    cache_files = list((cache / "decoded").glob("tree.tar.gz-*.npz"))
    assert len(cache_files) == 1

    def fail_decode(*args, **kwargs):
        raise AssertionError("images must come from the cache")

    monkeypatch.setattr(image_tree, "_decode", fail_decode)
    second = read(archive)
    np.testing.assert_array_equal(second["train"][0], first["train"][0])
    np.testing.assert_array_equal(second["test"][1], first["test"][1])


def test_cache_key_follows_content(tmp_path, cache):
    make_tree(tmp_path / "tree")
    archive = make_archive(tmp_path / "tree", tmp_path / "tree.tar.gz")
    read(archive)
    Image.fromarray(np.zeros((8, 6, 3), np.uint8)).save(tmp_path / "tree" / "test" / "cat" / "0009.png")
    make_archive(tmp_path / "tree", archive)
    arrays = read(archive)
    assert len(arrays["test"][1]) == 4
    assert len(list((cache / "decoded").glob("*.npz"))) == 2


def test_unreadable_cache_is_replaced(tmp_path, cache):
    make_tree(tmp_path / "tree")
    archive = make_archive(tmp_path / "tree", tmp_path / "tree.tar.gz")
    expected = read(archive)
    (cache_file,) = (cache / "decoded").glob("*.npz")
    cache_file.write_bytes(b"broken")
    again = read(archive)
    np.testing.assert_array_equal(again["train"][0], expected["train"][0])
    assert cache_file.stat().st_size > 100


def test_cache_disabled_writes_nothing(tmp_path, cache):
    make_tree(tmp_path / "tree")
    read(tmp_path / "tree", cache=False)
    assert not cache.exists()


def test_unknown_class_folder(tmp_path, cache):
    make_tree(tmp_path / "tree")
    (tmp_path / "tree" / "train" / "zebra").mkdir()
    Image.fromarray(np.zeros((8, 6, 3), np.uint8)).save(tmp_path / "tree" / "train" / "zebra" / "0.png")
    with pytest.raises(DataError, match="unknown class folder 'zebra'; expected one of cat, dog, frog"):
        read(tmp_path / "tree")


def test_wrong_image_size(tmp_path, cache):
    make_tree(tmp_path / "tree")
    Image.fromarray(np.zeros((9, 6, 3), np.uint8)).save(tmp_path / "tree" / "test" / "dog" / "0005.png")
    with pytest.raises(DataError, match=r"0005\.png is 6x9 \(width x height\), expected 6x8"):
        read(tmp_path / "tree")


def test_undecodable_image(tmp_path, cache):
    make_tree(tmp_path / "tree")
    (tmp_path / "tree" / "test" / "dog" / "0007.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match=r"cannot decode image .*0007\.jpg"):
        read(tmp_path / "tree")


def test_missing_split_folder(tmp_path, cache):
    make_tree(tmp_path / "tree")
    for file in (tmp_path / "tree" / "test").rglob("*"):
        if file.is_file():
            file.unlink()
    for folder in sorted((tmp_path / "tree" / "test").rglob("*"), reverse=True):
        folder.rmdir()
    (tmp_path / "tree" / "test").rmdir()
    with pytest.raises(DataError, match="missing folder test/"):
        read(tmp_path / "tree")


def test_archive_without_split(tmp_path, cache):
    make_tree(tmp_path / "tree")
    archive = tmp_path / "train_only.tar.gz"
    with tarfile.open(archive, "w:gz") as handle:
        handle.add(tmp_path / "tree" / "train", arcname="train")
    with pytest.raises(DataError, match=r"no images found under test/<class>/"):
        read(archive)


def test_truncated_archive(tmp_path, cache):
    make_tree(tmp_path / "tree")
    archive = make_archive(tmp_path / "tree", tmp_path / "tree.tar.gz")
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="cannot read the tar archive"):
        read(archive)


def test_not_a_tree(tmp_path, cache):
    (tmp_path / "file.zip").write_bytes(b"PK")
    with pytest.raises(DataError, match="neither a folder nor a tar archive"):
        read(tmp_path / "file.zip")
    with pytest.raises(DataError, match="not found"):
        read(tmp_path / "missing")
