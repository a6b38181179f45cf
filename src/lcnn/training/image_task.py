"""Image classification task: data loaders and module for MNIST and CIFAR-10 runs."""

from __future__ import annotations

import logging
import math

import torch
from torch.utils.data import DataLoader, Subset

from lcnn.config import Config, config_to_dict
from lcnn.models.lcnn9 import KERAS_BN_MOMENTUM
from lcnn.training.image_module import ImageClassifier

__all__ = ["build_image_task"]

logger = logging.getLogger(__name__)


def _warn_short_batch_norm_warmup(config: Config, steps_per_epoch: int) -> None:
    """Warn when too few steps run for batch norm's running statistics to follow the training batches."""
    momentum = config.model.kwargs.get("bn_momentum", KERAS_BN_MOMENTUM)
    steps = steps_per_epoch * config.train.max_epochs
    # The running averages keep (1 - momentum) ** steps of their initial values (mean 0, variance 1).
    if momentum * steps < 3:
        logger.warning(
            "only %d training steps with batch-norm momentum %g: the running statistics used at "
            "evaluation will still lag the training batches and test accuracy will be low; train longer, "
            "or for a quick check pass --set model.kwargs.bn_momentum=0.1",
            steps,
            momentum,
        )


def build_image_task(config: Config):
    """Return the :class:`~lcnn.training.run.TaskParts` of an image run."""
    from lcnn.data.images import load_image_splits
    from lcnn.training.run import TaskParts

    data = config.data
    splits = load_image_splits(
        data.dataset,
        data_dir=data.data_dir,
        val_fraction=data.val_fraction,
        holdout=data.holdout,
        limit_train=data.limit_train,
        augment=data.augment,
        seed=config.seed,
        download=data.download,
    )
    val_set, test_set = splits.val, splits.test
    if data.limit_eval is not None:
        val_set = Subset(val_set, range(min(data.limit_eval, len(val_set))))
        test_set = Subset(test_set, range(min(data.limit_eval, len(test_set))))
        logger.warning("validation and test sets capped at %d examples (data.limit_eval)", data.limit_eval)
    generator = torch.Generator().manual_seed(config.seed)
    persistent = data.num_workers > 0
    train_loader = DataLoader(
        splits.train,
        batch_size=data.batch_size,
        shuffle=True,
        generator=generator,
        num_workers=data.num_workers,
        persistent_workers=persistent,
    )
    val_loader = DataLoader(val_set, batch_size=max(data.batch_size, 256), num_workers=data.num_workers)
    test_loader = DataLoader(test_set, batch_size=max(data.batch_size, 256), num_workers=data.num_workers)
    _warn_short_batch_norm_warmup(config, len(train_loader))
    module = ImageClassifier(
        config_to_dict(config),
        in_channels=splits.in_channels,
        num_classes=splits.num_classes,
        input_size=tuple(splits.input_size),
        steps_per_epoch=math.ceil(len(splits.train) / data.batch_size),
    )
    return TaskParts(module, train_loader, val_loader, test_loader, monitor="val_loss", mode="min")
