"""Tests of lcnn.data.mnist: the IDX reader on synthetic files and the real MNIST files."""

from __future__ import annotations

import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from lcnn.data.mnist import MNIST, load_mnist_arrays, read_idx, read_mnist_files
from lcnn.errors import DataError

# Label counts of the official MNIST files, as listed in many references (they sum to 60,000 and 10,000).
TRAIN_LABEL_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_LABEL_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
# MD5 of the uncompressed official files, published with the dataset.
UNCOMPRESSED_MD5 = {
    "train-images-idx3-ubyte.gz": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte.gz": "a25bea736e30d166cdddb491f175f624",
}


def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    """Encode an array as IDX independently of the reader: header, then big-endian values."""
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, array: np.ndarray, *, compress: bool, type_code: int = 0x08) -> Path:
    data = idx_bytes(array, type_code)
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


@pytest.fixture(scope="module")
def mnist_folder(data_dir: Path) -> Path:
    folder = data_dir / "mnist"
    if not (folder / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"MNIST files not found in {folder}")
    return folder


@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_round_trip(tmp_path, compress):
    images = np.random.default_rng(0).integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    path = write_idx(tmp_path / "images.idx", images, compress=compress)
    result = read_idx(path)
    assert result.dtype == np.uint8
    assert result.shape == (5, 28, 28)
    np.testing.assert_array_equal(result, images)


def test_read_idx_int32_big_endian(tmp_path):
    values = np.array([[1, -2, 70000], [0, 2**31 - 1, -(2**31)]], dtype=np.int32)
    result = read_idx(write_idx(tmp_path / "ints.idx", values, compress=False, type_code=0x0C))
    assert result.dtype == np.dtype("int32")
    np.testing.assert_array_equal(result, values)


def test_truncated_idx_names_sizes(tmp_path):
    images = np.zeros((3, 28, 28), dtype=np.uint8)
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(idx_bytes(images)[:-100])
    expected = 3 * 28 * 28
    with pytest.raises(DataError, match=f"truncated IDX file.*expected {expected} data bytes.*found {expected - 100}") as caught:
        read_idx(path)
    assert str(path) in str(caught.value)
    assert "Delete" in str(caught.value)
    assert "download it again" in str(caught.value)


def test_truncated_gzip_idx(tmp_path):
    images = np.random.default_rng(1).integers(0, 256, size=(50, 28, 28), dtype=np.uint8)
    compressed = gzip.compress(idx_bytes(images))
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(compressed[: len(compressed) // 2])
    with pytest.raises(DataError, match=r"truncated IDX file \(the gzip stream ends early\).*expected 39200 data bytes"):
        read_idx(path)


def test_concatenated_gzip_members(tmp_path):
    labels = np.arange(200, dtype=np.uint8) % 10
    data = idx_bytes(labels)
    path = tmp_path / "labels.gz"
    path.write_bytes(gzip.compress(data[:50]) + gzip.compress(data[50:]))
    np.testing.assert_array_equal(read_idx(path), labels)


def test_corrupt_gzip(tmp_path):
    path = tmp_path / "labels.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00" + b"\xff" * 64)
    with pytest.raises(DataError, match="the gzip data is corrupt.*Delete"):
        read_idx(path)


def test_oversized_idx(tmp_path):
    path = tmp_path / "labels.idx"
    path.write_bytes(idx_bytes(np.arange(4, dtype=np.uint8)) + b"\x00\x00")
    with pytest.raises(DataError, match="oversized IDX file.*expected 4 data bytes.*found 6"):
        read_idx(path)


@pytest.mark.parametrize(
    ("header", "magic"),
    [
        (b"\x89PNG\r\n\x1a\n", "0x89504E47"),  # an image file saved under the IDX name
        (b"\x00\x00\x07\x01\x00\x00\x00\x01", "0x00000701"),  # unknown type code
        (b"\x00\x00\x08\x00", "0x00000800"),  # zero dimensions
    ],
)
def test_wrong_magic_number(tmp_path, header, magic):
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(header + b"\x00" * 16)
    with pytest.raises(DataError, match=f"not an IDX file: magic number {magic}, expected 0x00000801"):
        read_idx(path)


def test_header_shorter_than_dimensions(tmp_path):
    path = tmp_path / "short.idx"
    path.write_bytes(b"\x00\x00\x08\x03\x00\x00\x00\x02")
    with pytest.raises(DataError, match="expected a 16-byte header for 3 dimensions, found 8 bytes"):
        read_idx(path)


def test_mnist_files_count_mismatch(tmp_path):
    images = write_idx(tmp_path / "images", np.zeros((4, 28, 28), np.uint8), compress=True)
    labels = write_idx(tmp_path / "labels", np.zeros(3, np.uint8), compress=True)
    with pytest.raises(DataError, match="contains 4 images but .* contains 3 labels"):
        read_mnist_files(images, labels)


def test_mnist_files_swapped(tmp_path):
    images = write_idx(tmp_path / "images", np.zeros((4, 28, 28), np.uint8), compress=False)
    labels = write_idx(tmp_path / "labels", np.zeros(4, np.uint8), compress=False)
    with pytest.raises(DataError, match=r"expected uint8 MNIST images of shape \(N, 28, 28\).*swapped"):
        read_mnist_files(labels, images)


def test_mnist_label_out_of_range(tmp_path):
    images = write_idx(tmp_path / "images", np.zeros((2, 28, 28), np.uint8), compress=False)
    labels = write_idx(tmp_path / "labels", np.array([3, 12], np.uint8), compress=False)
    with pytest.raises(DataError, match="labels must be digits 0-9, found a maximum of 12"):
        read_mnist_files(images, labels)


def test_real_train_split(mnist_folder):
    images, labels = load_mnist_arrays("train", data_dir=mnist_folder.parent, download=False)
    assert images.shape == (60000, 1, 28, 28)
    assert images.dtype == np.uint8
    assert labels.shape == (60000,)
    assert labels[0] == 5
    assert np.bincount(labels, minlength=10).tolist() == TRAIN_LABEL_COUNTS
    assert images.min() == 0
    assert images.max() == 255


def test_real_test_split(mnist_folder):
    images, labels = load_mnist_arrays("test", data_dir=mnist_folder.parent, download=False)
    assert images.shape == (10000, 1, 28, 28)
    assert labels[0] == 7
    assert np.bincount(labels, minlength=10).tolist() == TEST_LABEL_COUNTS


@pytest.mark.parametrize("name", sorted(UNCOMPRESSED_MD5))
def test_real_files_match_published_md5(mnist_folder, name):
    # The reader's array, re-encoded as IDX, must reproduce the official uncompressed bytes.
    array = read_idx(mnist_folder / name)
    assert hashlib.md5(idx_bytes(array)).hexdigest() == UNCOMPRESSED_MD5[name]


def test_real_dataset_items(mnist_folder):
    dataset = MNIST("train", data_dir=mnist_folder.parent, download=False)
    raw, _ = load_mnist_arrays("train", data_dir=mnist_folder.parent, download=False)
    assert len(dataset) == 60000
    image, label = dataset[0]
    assert image.dtype == torch.float32
    assert image.shape == (1, 28, 28)
    assert label == 5
    assert isinstance(label, int)
    assert 0.0 <= float(image.min())
    assert float(image.max()) == 1.0
    expected = raw[0].astype(np.float32) / np.float32(255.0)
    np.testing.assert_array_equal(image.numpy(), expected)


def test_dataset_rejects_bad_split(mnist_folder):
    with pytest.raises(ValueError, match="split must be 'train' or 'test', got 'val'"):
        MNIST("val", data_dir=mnist_folder.parent, download=False)
