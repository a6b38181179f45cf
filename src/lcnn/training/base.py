"""Shared Lightning behaviour of the training modules: optimiser, schedule and CPU speed settings."""

from __future__ import annotations

import lightning.pytorch as pl

from lcnn.config import Config
from lcnn.training.optim import build_optimizer

__all__ = ["OptimizedModule"]


class OptimizedModule(pl.LightningModule):
    """Base of the task modules; subclasses set ``self.config``, ``self.model`` and ``self.steps_per_epoch``."""

    config: Config
    steps_per_epoch: int

    def _steps_per_epoch(self) -> int:
        """Optimiser steps per epoch on this process: the trainer's estimate, which divides by the DDP world size."""
        trainer = getattr(self, "_trainer", None)
        if trainer is not None and trainer.max_epochs and trainer.max_epochs > 0:
            try:
                return max(1, int(trainer.estimated_stepping_batches) // trainer.max_epochs)
            except (RuntimeError, ValueError, TypeError):
                pass
        return self.steps_per_epoch

    def setup(self, stage: str) -> None:
        trainer = self.trainer
        # NOTE: single-process runs only. With channels-last weights, a 2-process CPU DDP run drifted
        # 3.5e-4 from the single-process weights after 16 steps (3e-6 without); not yet explained.
        if self.config.train.cpu_speed and trainer.strategy.root_device.type == "cpu" and trainer.world_size == 1:
            from lcnn.models.cpu_speed import optimize_for_cpu, tune_glibc_malloc

            tune_glibc_malloc()
            optimize_for_cpu(self.model)

    def configure_optimizers(self):
        optimizer, scheduler = build_optimizer(
            self.parameters(),
            self.config.optim,
            steps_per_epoch=self._steps_per_epoch(),
            max_epochs=self.config.train.max_epochs,
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
