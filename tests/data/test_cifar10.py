"""Tests of lcnn.data.cifar10: synthetic python batches, source detection, and the real JPEG archive."""

from __future__ import annotations

import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lcnn.data.cifar10 import CIFAR10, CIFAR10_CLASS_NAMES, load_cifar10_arrays, read_cifar10
from lcnn.errors import DataError

# Per-channel mean of the original CIFAR-10 training images, in pixel units (widely quoted).
CIFAR10_MEAN_RGB = (125.3, 123.0, 113.9)
BATCH_NAMES = [f"data_batch_{number}" for number in range(1, 6)] + ["test_batch"]


def make_batches(folder: Path, per_batch: int = 4) -> dict[str, tuple[np.ndarray, list[int]]]:
    """Write python-version batch files with random rows, pickled like the official ones."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    written = {}
    for index, name in enumerate(BATCH_NAMES):
        data = rng.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
        labels = [int(value) for value in (np.arange(per_batch) + index) % 10]
        batch = {b"batch_label": name.encode(), b"labels": labels, b"data": data, b"filenames": [b"x.png"] * per_batch}
        with open(folder / name, "wb") as handle:
            pickle.dump(batch, handle, protocol=2)
        written[name] = (data, labels)
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": [name.encode() for name in CIFAR10_CLASS_NAMES]}))
    return written


@pytest.fixture(scope="module")
def real_cifar(data_dir: Path):
    archive = data_dir / "cifar10" / "cifar10_jpeg_full.tar.gz"
    if not archive.is_file():
        pytest.skip(f"{archive} not found")
    # Uses the user cache folder on purpose, so the 60,000 JPEGs are decoded once across runs.
    return archive, load_cifar10_arrays(data_dir=data_dir, download=False)


def test_batches_folder(tmp_path):
    written = make_batches(tmp_path / "cifar-10-batches-py")
    arrays = read_cifar10(tmp_path)  # the parent folder is accepted too
    train_images, train_labels = arrays["train"]
    assert train_images.shape == (20, 3, 32, 32)
    assert train_images.dtype == np.uint8
    assert train_labels.dtype == np.int64
    first_data, first_labels = written["data_batch_1"]
    # Row layout: 1024 red values, then 1024 green, then 1024 blue, each plane row-major.
    np.testing.assert_array_equal(train_images[0, 0], first_data[0, :1024].reshape(32, 32))
    np.testing.assert_array_equal(train_images[0, 2, 31], first_data[0, 3072 - 32 :])
    assert train_labels[:4].tolist() == first_labels
    fifth_data, fifth_labels = written["data_batch_5"]
    np.testing.assert_array_equal(train_images[16:].reshape(4, 3072), fifth_data)
    assert train_labels[16:].tolist() == fifth_labels
    test_data, test_labels = written["test_batch"]
    np.testing.assert_array_equal(arrays["test"][0].reshape(4, 3072), test_data)
    assert arrays["test"][1].tolist() == test_labels


def test_batches_archive_matches_folder(tmp_path):
    make_batches(tmp_path / "cifar-10-batches-py")
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as handle:
        handle.add(tmp_path / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    from_archive = read_cifar10(archive)
    from_folder = read_cifar10(tmp_path / "cifar-10-batches-py")
    for split in ("train", "test"):
        np.testing.assert_array_equal(from_archive[split][0], from_folder[split][0])
        np.testing.assert_array_equal(from_archive[split][1], from_folder[split][1])


def test_located_through_data_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("LCNN_DATA_DIR", raising=False)
    monkeypatch.setenv("LCNN_CACHE_DIR", str(tmp_path / "cache"))
    make_batches(tmp_path / "data" / "cifar10" / "cifar-10-batches-py")
    dataset = CIFAR10("test", data_dir=tmp_path / "data", download=False)
    image, label = dataset[1]
    assert len(dataset) == 4
    assert image.shape == (3, 32, 32)
    assert image.dtype == torch.float32
    assert label == 6  # (1 + 5) % 10 for the sixth batch file
    assert dataset.class_names == CIFAR10_CLASS_NAMES


def test_missing_batch_file(tmp_path):
    make_batches(tmp_path / "cifar-10-batches-py")
    os.remove(tmp_path / "cifar-10-batches-py" / "data_batch_3")
    (tmp_path / "cifar-10-batches-py" / "data_batch_1").rename(tmp_path / "cifar-10-batches-py" / "data_batch_x")
    with pytest.raises(DataError, match="missing CIFAR-10 batch files data_batch_1, data_batch_3"):
        read_cifar10(tmp_path / "cifar-10-batches-py")


def test_unsafe_pickle_rejected(tmp_path):
    make_batches(tmp_path / "cifar-10-batches-py")

    class Exploit:
        def __reduce__(self):
            return (os.system, ("echo unsafe",))

    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(DataError, match=r"test_batch: not a readable CIFAR-10 batch \(global .*system is not allowed"):
        read_cifar10(tmp_path / "cifar-10-batches-py")


def test_wrong_batch_shape(tmp_path):
    make_batches(tmp_path / "cifar-10-batches-py")
    bad = {b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}
    (tmp_path / "cifar-10-batches-py" / "data_batch_2").write_bytes(pickle.dumps(bad))
    with pytest.raises(DataError, match=r"data_batch_2: expected uint8 data of shape \(N, 3072\), found uint8 \(2, 100\)"):
        read_cifar10(tmp_path / "cifar-10-batches-py")


def test_image_folder_source(tmp_path, monkeypatch):
    monkeypatch.setenv("LCNN_CACHE_DIR", str(tmp_path / "cache"))
    for split in ("train", "test"):
        for class_name in CIFAR10_CLASS_NAMES:
            folder = tmp_path / "tree" / split / class_name
            folder.mkdir(parents=True)
            value = CIFAR10_CLASS_NAMES.index(class_name) * 20
            Image.fromarray(np.full((32, 32, 3), value, np.uint8)).save(folder / "0000.png")
    arrays = read_cifar10(tmp_path / "tree")
    images, labels = arrays["train"]
    assert labels.tolist() == list(range(10))
    assert images[:, 0, 0, 0].tolist() == [20 * label for label in range(10)]


def test_unknown_source(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no CIFAR-10 data found; expected cifar-10-batches-py/"):
        read_cifar10(tmp_path / "empty")
    with pytest.raises(DataError, match="not found"):
        read_cifar10(tmp_path / "absent.tar.gz")


def test_real_split_sizes(real_cifar):
    _, arrays = real_cifar
    train_images, train_labels = arrays["train"]
    test_images, test_labels = arrays["test"]
    assert train_images.shape == (50000, 3, 32, 32)
    assert test_images.shape == (10000, 3, 32, 32)
    assert np.bincount(train_labels, minlength=10).tolist() == [5000] * 10
    assert np.bincount(test_labels, minlength=10).tolist() == [1000] * 10


def test_real_mean_rgb(real_cifar):
    _, arrays = real_cifar
    images = arrays["train"][0][:10000]  # class-interleaved order: 1,000 images of each class
    mean = images.reshape(len(images), 3, -1).mean(axis=(0, 2))
    # JPEG re-encoding moves the means slightly away from the original arrays.
    np.testing.assert_allclose(mean, CIFAR10_MEAN_RGB, atol=1.0)


def test_real_pixels_match_pillow(real_cifar):
    archive, arrays = real_cifar
    wanted = {"train/cat/0000.jpg": ("train", 3), "test/truck/0000.jpg": ("test", 9), "train/airplane/0001.jpg": ("train", 10)}
    found = {}
    with tarfile.open(archive, "r:gz") as handle:
        for member in handle:
            if member.name in wanted:
                found[member.name] = np.asarray(Image.open(io.BytesIO(handle.extractfile(member).read())).convert("RGB"))
            if len(found) == len(wanted):
                break
    assert sorted(found) == sorted(wanted)
    for name, (split, position) in wanted.items():
        images, labels = arrays[split]
        assert CIFAR10_CLASS_NAMES[labels[position]] == name.split("/")[1]
        np.testing.assert_array_equal(images[position], found[name].transpose(2, 0, 1))


def test_real_dataset_items(real_cifar, data_dir):
    dataset = CIFAR10("train", data_dir=data_dir, download=False)
    image, label = dataset[3]
    assert image.shape == (3, 32, 32)
    assert image.dtype == torch.float32
    assert label == CIFAR10_CLASS_NAMES.index("cat")
    expected = real_cifar[1]["train"][0][3].astype(np.float32) / np.float32(255.0)
    np.testing.assert_array_equal(image.numpy(), expected)
    assert 0.0 <= float(image.min()) <= float(image.max()) <= 1.0
