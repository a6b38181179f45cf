"""Tests of lcnn.data.image_dataset.ImageArrayDataset."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lcnn.data.image_dataset import ImageArrayDataset

CLASSES = ("a", "b", "c")


def make_dataset(**kwargs) -> ImageArrayDataset:
    images = np.arange(6 * 2 * 4 * 4, dtype=np.int64).reshape(6, 2, 4, 4).astype(np.uint8)
    labels = np.array([0, 1, 2, 0, 1, 2])
    return ImageArrayDataset(images, labels, class_names=CLASSES, **kwargs)


def test_item_is_scaled_float():
    dataset = make_dataset()
    image, label = dataset[4]
    assert image.dtype == torch.float32
    assert image.shape == (2, 4, 4)
    assert label == 1
    assert isinstance(label, int)
    expected = (np.arange(4 * 32, 5 * 32, dtype=np.float32) / np.float32(255.0)).reshape(2, 4, 4)
    np.testing.assert_array_equal(image.numpy(), expected)


def test_read_only_source_array():
    images = np.frombuffer(bytes(range(2 * 1 * 2 * 2)), dtype=np.uint8).reshape(2, 1, 2, 2)
    dataset = ImageArrayDataset(images, np.array([0, 1]), class_names=CLASSES)
    image, _ = dataset[1]
    image += 1.0  # the item owns its memory
    assert images[1, 0, 0, 0] == 4


def test_transform_applied():
    dataset = make_dataset(transform=lambda image: image * 0 + 0.5)
    image, _ = dataset[0]
    assert torch.all(image == 0.5)


def test_subset_shares_pixels_and_resets_transform():
    dataset = make_dataset(transform=lambda image: image * 0)
    subset = dataset.subset([5, 0])
    assert len(subset) == 2
    assert subset.labels.tolist() == [2, 0]
    assert subset.transform is None
    assert subset.indices.tolist() == [5, 0]
    np.testing.assert_array_equal(subset.pixels(), dataset.pixels()[[5, 0]])
    nested = subset.subset([1])
    assert nested.indices.tolist() == [0]


def test_len_labels_and_shape():
    dataset = make_dataset(indices=[1, 3])
    assert len(dataset) == 2
    assert dataset.labels.tolist() == [1, 0]
    assert dataset.image_shape == (2, 4, 4)
    assert "items=2" in repr(dataset)


@pytest.mark.parametrize(
    ("images", "labels", "message"),
    [
        (np.zeros((2, 4, 4), np.uint8), np.zeros(2, int), r"uint8 array \(N, C, H, W\)"),
        (np.zeros((2, 1, 4, 4), np.float32), np.zeros(2, int), "got dtype float32"),
        (np.zeros((2, 1, 4, 4), np.uint8), np.zeros(3, int), r"one label per image \(2\)"),
        (np.zeros((2, 1, 4, 4), np.uint8), np.array([0, 3]), r"labels must lie in \[0, 3\)"),
        (np.zeros((2, 1, 4, 4), np.uint8), np.array([0.0, 1.0]), "labels must be integers"),
    ],
)
def test_invalid_arrays(images, labels, message):
    with pytest.raises(ValueError, match=message):
        ImageArrayDataset(images, labels, class_names=CLASSES)


def test_invalid_indices():
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 6\), found values from 0 to 6"):
        make_dataset(indices=[0, 6])
    with pytest.raises(ValueError, match=r"subset indices must lie in \[0, 6\)"):
        make_dataset().subset([-1])
