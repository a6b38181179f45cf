"""Train, validation and test splits of the image datasets (MNIST, CIFAR-10).

The validation set is held out of the official training set, the test set is the official one.
``holdout="last"`` takes the last ``val_fraction`` of the training set in file order without
shuffling, as Keras' ``validation_split`` does. ``holdout="random"`` takes a seeded random subset.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Literal

import numpy as np

from lcnn.data.cifar10 import CIFAR10_CLASS_NAMES, load_cifar10_arrays
from lcnn.data.image_dataset import ImageArrayDataset
from lcnn.data.mnist import MNIST_CLASS_NAMES, load_mnist_arrays
from lcnn.data.transforms import cifar10_augmentation
from lcnn.errors import ConfigError

__all__ = ["HOLDOUTS", "IMAGE_DATASETS", "ImageSplits", "holdout_indices", "load_image_splits"]

logger = logging.getLogger(__name__)

IMAGE_DATASETS = ("mnist", "cifar10")
HOLDOUTS = ("last", "random")


@dataclass(frozen=True)
class ImageSplits:
    """The three splits of an image dataset and the facts a model needs to match it.

    Attributes:
        train: training items, with augmentation when it was requested.
        val: validation items held out of the official training set (never augmented), or None
            when ``val_fraction`` is 0.
        test: the official test set (never augmented).
        num_classes: number of classes (10 for both datasets).
        in_channels: image channels (1 for MNIST, 3 for CIFAR-10).
        input_size: image ``(height, width)``.
        class_names: class names indexed by label.
    """

    train: ImageArrayDataset
    val: ImageArrayDataset | None
    test: ImageArrayDataset
    num_classes: int
    in_channels: int
    input_size: tuple[int, int]
    class_names: tuple[str, ...]


def holdout_indices(
    num_items: int, *, val_fraction: float, holdout: Literal["last", "random"] = "last", seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Split ``range(num_items)`` into training and validation positions.

    The training part has ``int(num_items * (1 - val_fraction))`` items, the rule Keras uses, and
    the validation part has the rest.

    Args:
        num_items: size of the official training set, >= 0.
        val_fraction: fraction in ``[0, 1)`` to hold out.
        holdout: ``"last"`` keeps file order and holds out the tail; ``"random"`` holds out the
            first positions of a permutation drawn with ``numpy.random.default_rng(seed)``.
        seed: seed of the permutation; ignored for ``"last"``.

    Returns:
        ``(train_positions, val_positions)``, int64 arrays that together cover every position once.
        For ``"random"`` both are in permutation order.

    Raises:
        ConfigError: ``val_fraction`` or ``holdout`` is invalid.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"val_fraction must lie in [0, 1), got {val_fraction}.")
    if holdout not in HOLDOUTS:
        raise ConfigError(f"holdout must be one of {', '.join(HOLDOUTS)}, got {holdout!r}.")
    num_train = int(num_items * (1.0 - val_fraction))
    if holdout == "last":
        order = np.arange(num_items, dtype=np.int64)
        return order[:num_train], order[num_train:]
    num_val = num_items - num_train
    order = np.random.default_rng(seed).permutation(num_items).astype(np.int64)
    return order[num_val:], order[:num_val]


def _warn_missing_classes(val: ImageArrayDataset, num_classes: int, holdout: str) -> None:
    counts = np.bincount(val.labels, minlength=num_classes)
    if len(val) and (counts == 0).any():
        missing = [val.class_names[index] for index in np.flatnonzero(counts == 0)]
        logger.warning(
            "The validation set (holdout=%r, %d items) has no items of the classes %s; "
            "use holdout='random' for a mixed validation set.",
            holdout,
            len(val),
            ", ".join(missing),
        )


def load_image_splits(
    name: Literal["mnist", "cifar10"],
    *,
    data_dir: str | os.PathLike | None = None,
    val_fraction: float = 0.2,
    holdout: Literal["last", "random"] = "last",
    limit_train: int | None = None,
    augment: bool = False,
    seed: int = 0,
    download: bool = True,
) -> ImageSplits:
    """Load an image dataset and split it into training, validation and test sets.

    Args:
        name: ``"mnist"`` or ``"cifar10"``.
        data_dir: explicit data folder, searched first (see :mod:`lcnn.data.locate`).
        val_fraction: fraction in ``[0, 1)`` of the official training set held out for validation.
        holdout: ``"last"`` (Keras-like tail of the file order) or ``"random"`` (seeded).
        limit_train: int > 0 that caps the training items after the holdout (the first ones in
            holdout order), or None for all of them.
        augment: apply :func:`lcnn.data.transforms.cifar10_augmentation` to the training items.
            Only for CIFAR-10, because flipped digits change meaning.
        seed: seed of the random holdout.
        download: whether missing files may be downloaded into the cache folder.

    Returns:
        The splits with ``num_classes``, ``in_channels``, ``input_size`` and ``class_names``.

    Raises:
        ConfigError: an argument is invalid; the message names it and the accepted values.
        DataError: the data is missing and cannot be downloaded, or is malformed.
    """
    if name not in IMAGE_DATASETS:
        raise ConfigError(f"Unknown image dataset {name!r}; expected one of {', '.join(IMAGE_DATASETS)}.")
    if limit_train is not None and (isinstance(limit_train, bool) or not isinstance(limit_train, int) or limit_train <= 0):
        raise ConfigError(f"limit_train must be a positive integer or None, got {limit_train!r}.")
    if augment and name != "cifar10":
        raise ConfigError(
            f"augment=True is defined only for cifar10 (random crop with 4-pixel padding and horizontal flip), "
            f"got dataset {name!r}; set augment to false."
        )

    if name == "mnist":
        train_arrays = load_mnist_arrays("train", data_dir=data_dir, download=download)
        test_arrays = load_mnist_arrays("test", data_dir=data_dir, download=download)
        class_names = MNIST_CLASS_NAMES
    else:
        arrays = load_cifar10_arrays(data_dir=data_dir, download=download)
        train_arrays, test_arrays = arrays["train"], arrays["test"]
        class_names = CIFAR10_CLASS_NAMES

    full_train = ImageArrayDataset(*train_arrays, class_names=class_names)
    test = ImageArrayDataset(*test_arrays, class_names=class_names)
    train_positions, val_positions = holdout_indices(
        len(full_train), val_fraction=val_fraction, holdout=holdout, seed=seed
    )
    if limit_train is not None:
        if limit_train > len(train_positions):
            logger.warning(
                "limit_train=%d exceeds the %d training items left after the holdout; using all of them.",
                limit_train,
                len(train_positions),
            )
        train_positions = train_positions[:limit_train]

    train = full_train.subset(train_positions, transform=cifar10_augmentation() if augment else None)
    val = full_train.subset(val_positions) if val_fraction > 0 else None
    if val is not None:
        _warn_missing_classes(val, len(class_names), holdout)

    channels, height, width = full_train.image_shape
    logger.info(
        "%s splits: %d train, %d validation, %d test items",
        name,
        len(train),
        0 if val is None else len(val),
        len(test),
    )
    return ImageSplits(
        train=train,
        val=val,
        test=test,
        num_classes=len(class_names),
        in_channels=channels,
        input_size=(height, width),
        class_names=tuple(class_names),
    )
