"""Tests of lcnn.data.images: holdout rules, limits and options on synthetic and real datasets."""

from __future__ import annotations

import gzip
import logging
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from lcnn.data.images import holdout_indices, load_image_splits
from lcnn.data.mnist import load_mnist_arrays
from lcnn.errors import ConfigError


def write_idx_gz(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(gzip.compress(header + array.tobytes()))


@pytest.fixture
def toy_mnist(tmp_path, monkeypatch) -> Path:
    """A tiny MNIST folder: 50 training images whose first pixel is their index, 10 test images."""
    monkeypatch.delenv("LCNN_DATA_DIR", raising=False)
    monkeypatch.setenv("LCNN_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "data" / "mnist"
    folder.mkdir(parents=True)
    for prefix, count in (("train", 50), ("t10k", 10)):
        images = np.zeros((count, 28, 28), np.uint8)
        images[:, 0, 0] = np.arange(count)
        write_idx_gz(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx_gz(folder / f"{prefix}-labels-idx1-ubyte.gz", (np.arange(count) % 10).astype(np.uint8))
    return tmp_path / "data"


def first_pixels(dataset) -> list[int]:
    return dataset.pixels()[:, 0, 0, 0].tolist()


def test_holdout_last_is_keras_tail():
    train, val = holdout_indices(60000, val_fraction=0.2, holdout="last")
    np.testing.assert_array_equal(train, np.arange(48000))
    np.testing.assert_array_equal(val, np.arange(48000, 60000))


def test_holdout_sizes_follow_keras_rounding():
    # Keras keeps int(n * (1 - fraction)) training items.
    train, val = holdout_indices(7, val_fraction=0.3, holdout="last")
    assert len(train) == int(7 * 0.7)
    assert len(val) == 7 - int(7 * 0.7)
    train, val = holdout_indices(7, val_fraction=0.3, holdout="random", seed=1)
    assert (len(train), len(val)) == (4, 3)


def test_holdout_random_partition_and_seed():
    train, val = holdout_indices(1000, val_fraction=0.25, holdout="random", seed=5)
    assert len(train) == 750
    assert len(val) == 250
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(1000))
    again_train, again_val = holdout_indices(1000, val_fraction=0.25, holdout="random", seed=5)
    np.testing.assert_array_equal(again_val, val)
    np.testing.assert_array_equal(again_train, train)
    _, other_val = holdout_indices(1000, val_fraction=0.25, holdout="random", seed=6)
    assert set(other_val.tolist()) != set(val.tolist())
    assert val.max() > 750  # not simply the head or the tail


def test_holdout_zero_fraction():
    train, val = holdout_indices(10, val_fraction=0.0, holdout="random")
    assert len(train) == 10
    assert len(val) == 0


@pytest.mark.parametrize(("fraction", "holdout"), [(1.0, "last"), (-0.1, "last"), (0.2, "first")])
def test_holdout_invalid(fraction, holdout):
    with pytest.raises(ConfigError, match="val_fraction must lie in|holdout must be one of last, random"):
        holdout_indices(10, val_fraction=fraction, holdout=holdout)


def test_splits_last(toy_mnist):
    splits = load_image_splits("mnist", data_dir=toy_mnist, download=False)
    assert first_pixels(splits.train) == list(range(40))
    assert first_pixels(splits.val) == list(range(40, 50))
    assert len(splits.test) == 10
    assert splits.num_classes == 10
    assert splits.in_channels == 1
    assert splits.input_size == (28, 28)
    assert splits.class_names == tuple("0123456789")
    image, label = splits.train[3]
    assert image.shape == (1, 28, 28)
    assert label == 3
    assert float(image[0, 0, 0]) == pytest.approx(3 / 255)


def test_splits_random_seeded(toy_mnist):
    first = load_image_splits("mnist", data_dir=toy_mnist, holdout="random", seed=3, download=False)
    second = load_image_splits("mnist", data_dir=toy_mnist, holdout="random", seed=3, download=False)
    other = load_image_splits("mnist", data_dir=toy_mnist, holdout="random", seed=4, download=False)
    assert first_pixels(first.val) == first_pixels(second.val)
    assert first_pixels(first.val) != first_pixels(other.val)
    assert sorted(first_pixels(first.train) + first_pixels(first.val)) == list(range(50))


def test_limit_train(toy_mnist):
    splits = load_image_splits("mnist", data_dir=toy_mnist, limit_train=7, download=False)
    assert first_pixels(splits.train) == list(range(7))
    assert len(splits.val) == 10  # the limit does not shrink the validation set


def test_limit_train_above_size_warns(toy_mnist, caplog):
    with caplog.at_level(logging.WARNING, logger="lcnn.data.images"):
        splits = load_image_splits("mnist", data_dir=toy_mnist, limit_train=1000, download=False)
    assert len(splits.train) == 40
    assert "limit_train=1000 exceeds the 40 training items" in caplog.text


def test_zero_val_fraction(toy_mnist):
    splits = load_image_splits("mnist", data_dir=toy_mnist, val_fraction=0.0, download=False)
    assert splits.val is None
    assert len(splits.train) == 50


def test_missing_classes_in_val_warn(toy_mnist, caplog):
    with caplog.at_level(logging.WARNING, logger="lcnn.data.images"):
        load_image_splits("mnist", data_dir=toy_mnist, val_fraction=0.1, download=False)
    assert "has no items of the classes 0, 1, 2, 3, 4" in caplog.text


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "svhn"}, "Unknown image dataset 'svhn'; expected one of mnist, cifar10"),
        ({"name": "mnist", "limit_train": 0}, "limit_train must be a positive integer or None, got 0"),
        ({"name": "mnist", "limit_train": 2.5}, "limit_train must be a positive integer or None, got 2.5"),
        ({"name": "mnist", "augment": True}, "augment=True is defined only for cifar10"),
        ({"name": "mnist", "val_fraction": 1.0}, r"val_fraction must lie in \[0, 1\), got 1.0"),
        ({"name": "mnist", "holdout": "tail"}, "holdout must be one of last, random, got 'tail'"),
    ],
)
def test_invalid_options(toy_mnist, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        load_image_splits(data_dir=toy_mnist, download=False, **kwargs)


def test_real_mnist_splits(data_dir):
    if not (data_dir / "mnist" / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"MNIST files not found in {data_dir / 'mnist'}")
    splits = load_image_splits("mnist", data_dir=data_dir, download=False)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (48000, 12000, 10000)
    _, labels = load_mnist_arrays("train", data_dir=data_dir, download=False)
    np.testing.assert_array_equal(splits.val.labels, labels[48000:])
    limited = load_image_splits("mnist", data_dir=data_dir, holdout="random", limit_train=1000, download=False)
    assert len(limited.train) == 1000
    assert len(limited.val) == 12000
    assert not set(limited.train.indices.tolist()) & set(limited.val.indices.tolist())


def test_real_cifar10_splits(data_dir):
    if not (data_dir / "cifar10" / "cifar10_jpeg_full.tar.gz").is_file():
        pytest.skip(f"CIFAR-10 archive not found in {data_dir / 'cifar10'}")
    splits = load_image_splits("cifar10", data_dir=data_dir, augment=True, download=False)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (40000, 10000, 10000)
    assert (splits.in_channels, splits.input_size, splits.num_classes) == (3, (32, 32), 10)
    assert splits.class_names[0] == "airplane"
    assert splits.class_names[-1] == "truck"
    assert np.bincount(splits.val.labels, minlength=10).tolist() == [1000] * 10
    assert splits.train.transform is not None
    assert splits.val.transform is None
    assert splits.test.transform is None
    image, _ = splits.train[0]
    assert image.shape == (3, 32, 32)
    val_image, _ = splits.val[0]
    expected = torch.tensor(splits.val.pixels()[0], dtype=torch.float32) / 255.0
    assert torch.equal(val_image, expected)
