"""A torch Dataset over an in-memory uint8 image array, shared by the MNIST and CIFAR-10 readers."""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

__all__ = ["ImageArrayDataset"]

Transform = Callable[[torch.Tensor], torch.Tensor]


class ImageArrayDataset(Dataset):
    """Labelled images stored as one uint8 array, returned as float tensors in ``[0, 1]``.

    Item ``i`` is ``(image, label)``. The image is a float32 tensor ``(C, H, W)`` equal to the stored
    pixels divided by 255, passed through ``transform`` if one is set. The label is a Python int. The dataset
    may view only some rows of the arrays (``indices``), so that train and validation subsets share
    one copy of the pixels.

    Args:
        images: uint8 array ``(N, C, H, W)``.
        labels: integer array ``(N,)`` with values in ``[0, len(class_names))``.
        class_names: name of each class, indexed by label.
        indices: rows of ``images`` that this dataset exposes, in order; None exposes all rows.
        transform: callable applied to each ``(C, H, W)`` float image, for example augmentation.

    Raises:
        ValueError: the arrays have the wrong type or shape, a label is out of range, or an index
            is outside ``[0, N)``.
    """

    def __init__(
        self,
        images: np.ndarray,
        labels: np.ndarray,
        *,
        class_names: Sequence[str],
        indices: np.ndarray | Sequence[int] | None = None,
        transform: Transform | None = None,
    ) -> None:
        if images.dtype != np.uint8 or images.ndim != 4:
            raise ValueError(
                f"images must be a uint8 array (N, C, H, W), got dtype {images.dtype} and shape {images.shape}."
            )
        labels = np.asarray(labels)
        if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
            raise ValueError(
                f"labels must be a 1-D array with one label per image ({images.shape[0]}), got shape {labels.shape}."
            )
        if not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"labels must be integers, got dtype {labels.dtype}.")
        num_classes = len(class_names)
        if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(
                f"labels must lie in [0, {num_classes}) for {num_classes} classes, "
                f"found values from {labels.min()} to {labels.max()}."
            )
        if indices is None:
            index_array = np.arange(images.shape[0], dtype=np.int64)
        else:
            index_array = np.asarray(indices, dtype=np.int64).reshape(-1)
            if index_array.size and (index_array.min() < 0 or index_array.max() >= images.shape[0]):
                raise ValueError(
                    f"indices must lie in [0, {images.shape[0]}), "
                    f"found values from {index_array.min()} to {index_array.max()}."
                )
        self._images = images
        self._labels = labels.astype(np.int64, copy=False)
        self._indices = index_array
        self.class_names = tuple(class_names)
        self.transform = transform

    def __len__(self) -> int:
        return int(self._indices.shape[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        """Return ``(image (C, H, W) float32 in [0, 1], label)`` of item ``index``."""
        row = self._indices[index]
        # torch.tensor copies the row, so read-only source arrays (np.frombuffer) are fine.
        image = torch.tensor(self._images[row], dtype=torch.float32).div_(255.0)
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self._labels[row])

    @property
    def labels(self) -> np.ndarray:
        """Labels of the exposed items, int64 ``(len(self),)``."""
        return self._labels[self._indices]

    @property
    def indices(self) -> np.ndarray:
        """Rows of the underlying arrays that this dataset exposes, int64 ``(len(self),)``."""
        return self._indices.copy()

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """Shape ``(C, H, W)`` of one stored image, before any transform."""
        return tuple(int(size) for size in self._images.shape[1:])  # type: ignore[return-value]

    def pixels(self) -> np.ndarray:
        """Return the uint8 pixels of the exposed items, ``(len(self), C, H, W)`` (a copy)."""
        return self._images[self._indices]

    def subset(self, indices: np.ndarray | Sequence[int], *, transform: Transform | None = None) -> ImageArrayDataset:
        """Return a dataset over some of this dataset's items, sharing the pixel array.

        Args:
            indices: positions in this dataset (not in the underlying array), in the new order.
            transform: transform of the new dataset; it is not inherited, so None means no transform.

        Raises:
            ValueError: a position is outside ``[0, len(self))``.
        """
        positions = np.asarray(indices, dtype=np.int64).reshape(-1)
        if positions.size and (positions.min() < 0 or positions.max() >= len(self)):
            raise ValueError(
                f"subset indices must lie in [0, {len(self)}), "
                f"found values from {positions.min()} to {positions.max()}."
            )
        return ImageArrayDataset(
            self._images,
            self._labels,
            class_names=self.class_names,
            indices=self._indices[positions],
            transform=transform,
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(items={len(self)}, image_shape={self.image_shape}, "
            f"classes={len(self.class_names)}, transform={self.transform!r})"
        )
