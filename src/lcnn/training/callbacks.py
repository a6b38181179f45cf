"""Callbacks that report progress when no terminal shows a progress bar."""

from __future__ import annotations

import csv
import logging
import time
from pathlib import Path

import lightning.pytorch as pl

__all__ = ["EpochLogger", "EpochCSVLog"]

logger = logging.getLogger("lcnn.train")


def epoch_metrics(trainer: pl.Trainer) -> dict[str, float]:
    """Return the scalar metrics logged so far in this epoch, without per-step values."""
    return {
        key: float(value)
        for key, value in trainer.callback_metrics.items()
        if value.numel() == 1 and not key.endswith("_step")
    }


class EpochCSVLog(pl.Callback):
    """Append one row per epoch to a CSV file; a resumed run keeps the rows of the first one.

    The columns are fixed by the first row written: ``epoch``, ``seconds`` and the metrics sorted by name.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._started = time.perf_counter()

    # Train-epoch end comes after the epoch's validation and its module hooks, so every metric is final.
    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        row = {"epoch": trainer.current_epoch + 1}
        row["seconds"] = round(time.perf_counter() - getattr(self, "_started", time.perf_counter()), 2)
        row.update(sorted(epoch_metrics(trainer).items()))
        if self.path.is_file() and self.path.stat().st_size > 0:
            with self.path.open(newline="", encoding="utf-8") as handle:
                columns = next(csv.reader(handle))
        else:
            columns = list(row)
            with self.path.open("w", newline="", encoding="utf-8") as handle:
                csv.writer(handle).writerow(columns)
        with self.path.open("a", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerow([row.get(column, "") for column in columns])


class EpochLogger(pl.Callback):
    """Log one line per epoch with the logged metrics and the epoch's wall time."""

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._started = time.perf_counter()

    # Train-epoch end comes after the epoch's validation and its module hooks, so every metric is final.
    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        metrics = epoch_metrics(trainer)
        summary = " ".join(f"{key}={value:.4f}" for key, value in sorted(metrics.items()))
        seconds = time.perf_counter() - getattr(self, "_started", time.perf_counter())
        logger.info("epoch %d: %s (%.1f s)", trainer.current_epoch + 1, summary, seconds)
