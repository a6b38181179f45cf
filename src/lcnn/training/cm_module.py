"""Lightning module for anti-spoofing countermeasures, selected by development-set EER.

Scores of the validation and test sets are gathered across all processes before the EER is
computed, so multi-GPU runs report the same metric as a single process would. Duplicates that a
distributed sampler adds to even out the shards are removed by dataset index.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from lcnn.config import Config, config_from_dict
from lcnn.countermeasure import build_countermeasure
from lcnn.data.audio_dataset import AudioBatch
from lcnn.errors import DataError
from lcnn.metrics import compute_eer
from lcnn.training.base import OptimizedModule

__all__ = ["CountermeasureModule", "spec_from_config"]

logger = logging.getLogger(__name__)

# Undecodable files skipped during training are logged one by one up to this count.
MAX_FAILED_REPORTED = 20


def spec_from_config(config: Config) -> dict:
    """Return the countermeasure spec (front end, back end, head) described by a run configuration."""
    frontend = {"name": config.frontend.name, **config.frontend.kwargs}
    frontend.setdefault("sample_rate", config.audio.sample_rate)
    head = {"name": config.head.name or "sigmoid", **config.head.kwargs}
    if config.audio.bonafide_weight is not None and head["name"] in ("softmax", "sigmoid"):
        head.setdefault("class_weights", [1.0, float(config.audio.bonafide_weight)])
    return {
        "sample_rate": config.audio.sample_rate,
        "frontend": frontend,
        "backbone": {"name": config.model.name, **config.model.kwargs},
        "head": head,
    }


class CountermeasureModule(OptimizedModule):
    """Train a :class:`~lcnn.countermeasure.Countermeasure`; logs ``dev_eer`` (a fraction) each epoch.

    Args:
        config: the resolved run configuration as a plain dict.
        steps_per_epoch: optimiser steps per epoch, for per-step learning-rate schedules.
    """

    def __init__(self, config: dict, *, steps_per_epoch: int) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.config: Config = config_from_dict(config)
        self.model = build_countermeasure(spec_from_config(self.config))
        self.steps_per_epoch = steps_per_epoch
        self._collected: dict[str, list[torch.Tensor]] = {}
        self.last_scores: dict[str, np.ndarray] = {}
        self._failed_reported = 0

    def forward(self, waveform: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Score waveforms ``(B, samples)``, giving ``(B,)``; higher = bona fide."""
        return self.model(waveform, lengths)

    def _report_failed(self, batch: AudioBatch) -> None:
        for _, trial_id, reason in batch.failed:
            if self._failed_reported < MAX_FAILED_REPORTED:
                logger.warning("skipped %s: %s", trial_id, reason)
            self._failed_reported += 1

    def training_step(self, batch: AudioBatch, batch_index: int) -> torch.Tensor | None:
        self._report_failed(batch)
        if len(batch) == 0:
            return None
        loss, _ = self.model.loss_and_scores(batch.waveform, batch.lengths, batch.labels)
        self.log("train_loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(batch))
        return loss

    def _collect(self, batch: AudioBatch, stage: str) -> None:
        self._report_failed(batch)
        if len(batch) == 0:
            return
        loss, scores = self.model.loss_and_scores(batch.waveform, batch.lengths, batch.labels)
        self.log(f"{stage}_loss", loss, on_epoch=True, prog_bar=True, sync_dist=True, batch_size=len(batch))
        collected = self._collected.setdefault(stage, [])
        rows = torch.stack(
            [batch.indices.to(scores.device).double(), scores.detach().double(), batch.labels.double()], dim=1
        )
        collected.append(rows)

    def validation_step(self, batch: AudioBatch, batch_index: int) -> None:
        self._collect(batch, "dev")

    def test_step(self, batch: AudioBatch, batch_index: int) -> None:
        self._collect(batch, "test")

    def _gathered(self, stage: str) -> np.ndarray:
        """Return rows (index, score, label) of every process, one per dataset index, sorted by index."""
        parts = self._collected.pop(stage, [])
        local = torch.cat(parts) if parts else torch.zeros(0, 3, dtype=torch.float64, device=self.device)
        if self.trainer.world_size > 1:
            size = torch.tensor([local.shape[0]], device=local.device)
            sizes = self.all_gather(size).flatten()
            longest = int(sizes.max())
            padded = torch.full((longest, 3), float("nan"), dtype=local.dtype, device=local.device)
            padded[: local.shape[0]] = local
            gathered = self.all_gather(padded).reshape(-1, 3)
            local = gathered[~torch.isnan(gathered[:, 0])]
        rows = local.cpu().numpy()
        _, first = np.unique(rows[:, 0], return_index=True)
        return rows[first]

    def _log_eer(self, stage: str) -> None:
        rows = self._gathered(stage)
        if rows.shape[0] == 0:
            return
        self.last_scores[stage] = rows
        labels = rows[:, 2]
        bonafide, spoof = rows[labels == 1, 1], rows[labels == 0, 1]
        if bonafide.size == 0 or spoof.size == 0:
            raise DataError(
                f"the {stage} set has {bonafide.size} bona fide and {spoof.size} spoof trials; EER needs both "
                f"classes, so check its protocol (or the limit on its size)."
            )
        eer, _ = compute_eer(bonafide, spoof)
        self.log(f"{stage}_eer", float(eer), prog_bar=True, rank_zero_only=False)

    def on_validation_epoch_end(self) -> None:
        self._log_eer("dev")

    def on_test_epoch_end(self) -> None:
        self._log_eer("test")

    def on_train_epoch_start(self) -> None:
        loader = self.trainer.train_dataloader
        epoch = self.current_epoch
        for target in (getattr(loader, "batch_sampler", None), getattr(loader, "dataset", None)):
            if target is not None and hasattr(target, "set_epoch"):
                target.set_epoch(epoch)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        from lcnn.config import config_to_dict

        checkpoint["lcnn"] = {
            "format_version": 1,
            "kind": "countermeasure",
            "spec": self.model.spec,
            "config": config_to_dict(self.config),
        }
