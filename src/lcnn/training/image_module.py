"""Lightning module for image classification with a registry model (LCNN-9 on MNIST / CIFAR-10)."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from lcnn.config import Config, config_from_dict, config_to_dict
from lcnn.models import create_model
from lcnn.training.base import OptimizedModule

__all__ = ["ImageClassifier"]


class ImageClassifier(OptimizedModule):
    """Train and evaluate a classifier with softmax cross-entropy; logs loss and accuracy.

    Args:
        config: the resolved run configuration, stored as a plain dict in every checkpoint.
        in_channels, num_classes, input_size: taken from the data set.
        steps_per_epoch: optimiser steps per epoch, for per-step learning-rate schedules.
    """

    def __init__(
        self,
        config: dict,
        *,
        in_channels: int,
        num_classes: int,
        input_size: tuple[int, int],
        steps_per_epoch: int,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.config: Config = config_from_dict(config)
        self.model = create_model(
            self.config.model.name,
            in_channels=in_channels,
            num_classes=num_classes,
            input_size=tuple(input_size),
            **self.config.model.kwargs,
        )
        self.steps_per_epoch = steps_per_epoch

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Map ``(B, C, H, W)`` images to ``(B, num_classes)`` logits."""
        return self.model(images)

    def _step(self, batch, stage: str) -> torch.Tensor:
        images, labels = batch
        logits = self(images)
        loss = F.cross_entropy(logits, labels)
        accuracy = (logits.argmax(dim=1) == labels).float().mean()
        self.log(f"{stage}_loss", loss, on_step=False, on_epoch=True, prog_bar=True, sync_dist=True)
        self.log(f"{stage}_accuracy", accuracy, on_step=False, on_epoch=True, prog_bar=True, sync_dist=True)
        return loss

    def training_step(self, batch, batch_index: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch, batch_index: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch, batch_index: int) -> None:
        self._step(batch, "test")

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["lcnn"] = {"format_version": 1, "kind": "image", "config": config_to_dict(self.config)}
