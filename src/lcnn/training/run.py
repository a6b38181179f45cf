"""A training run: the run folder, the Lightning trainer, resuming, and the final test.

A run folder contains:

- ``config.yaml``: the resolved configuration;
- ``checkpoints/best.ckpt`` (best by the monitored validation metric) and ``checkpoints/last.ckpt``;
- ``metrics.csv``: one row of logged metrics per epoch, appended to when a run is resumed;
- ``metrics.json``: the test metrics of the best checkpoint, epochs run and wall-clock seconds.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
import yaml
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

from lcnn.config import Config, TrainConfig, config_from_dict, config_to_dict
from lcnn.errors import CheckpointError, ConfigError
from lcnn.fileio import OutputExistsError, atomic_write
from lcnn.training.callbacks import EpochCSVLog, EpochLogger

__all__ = ["TaskParts", "train", "test_checkpoint", "build_task"]

logger = logging.getLogger(__name__)


@dataclass
class TaskParts:
    """Parts of a task for the trainer: the module, the loaders and the metric that selects checkpoints."""

    module: pl.LightningModule
    train_loader: Any
    val_loader: Any
    test_loader: Any | None
    monitor: str
    mode: str


def build_task(config: Config, out: Path | None = None, *, eval_only: bool = False) -> TaskParts:
    """Build the module and loaders for ``config.task``; lists of skipped files go to ``out``.

    With ``eval_only`` a countermeasure task reads only its evaluation protocol.
    """
    if config.task == "image":
        from lcnn.training.image_task import build_image_task

        return build_image_task(config)
    from lcnn.training.cm_task import build_countermeasure_task

    return build_countermeasure_task(config, out, eval_only=eval_only)


def _prepare_run_dir(out: Path, config: Config, *, resume: bool, force: bool) -> str | None:
    """Create or reuse ``out`` and return the checkpoint to resume from, if any."""
    config_path = out / "config.yaml"
    last = out / "checkpoints" / "last.ckpt"
    if resume:
        if not last.is_file():
            raise CheckpointError(
                f"cannot resume: {last} not found; start a new run without --resume, or pass the run folder "
                f"that contains checkpoints/last.ckpt."
            )
        if config_path.is_file():
            saved = yaml.safe_load(config_path.read_text(encoding="utf-8"))
            changed = _changed_keys(saved, config_to_dict(config))
            if changed:
                logger.warning(
                    "resuming with settings that differ from %s: %s; using the new values",
                    config_path,
                    ", ".join(changed),
                )
        return str(last)
    if out.exists() and any(out.iterdir()):
        if not force:
            raise OutputExistsError(
                f"run folder {out} already exists and is not empty; pass --resume to continue it, --force to "
                f"replace it, or --out to choose another folder."
            )
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    return None


def _changed_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Return the dotted keys whose values differ between two nested mappings."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return [prefix] if old != new else []
    changed = []
    for key in sorted(set(old) | set(new)):
        changed += _changed_keys(old.get(key), new.get(key), f"{prefix}.{key}" if prefix else str(key))
    return changed


def _write_config(out: Path, config: Config) -> None:
    with atomic_write(out / "config.yaml", force=True) as handle:
        yaml.safe_dump(config_to_dict(config), handle, sort_keys=False)


def _quiet_lightning() -> None:
    """Keep Lightning's start-up notices and internal deprecation warnings out of the run log."""
    if not logging.getLogger("lcnn").isEnabledFor(logging.DEBUG):
        logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
        logging.getLogger("lightning.fabric").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"lightning\..*")
    warnings.filterwarnings("ignore", message=r".*LeafSpec.*")


PRECISIONS = ("32-true", "16-mixed", "bf16-mixed", "16-true", "bf16-true", "64-true")

# Environment variables in which launchers pass a process its rank: torchrun sets RANK, SLURM's srun
# sets SLURM_PROCID, and Lightning's own launcher starts the extra processes with LOCAL_RANK and NODE_RANK.
_RANK_VARIABLES = ("RANK", "LOCAL_RANK", "NODE_RANK", "GROUP_RANK", "SLURM_PROCID")


def _is_launched_secondary() -> bool:
    """Return whether a launcher started this process as other than global rank 0.

    The trainer does not exist yet when the run folder is prepared, so the environment is the only
    source of the rank at that point.
    """
    return any(os.environ.get(name, "0") not in ("", "0") for name in _RANK_VARIABLES)


def _runs_on_cpu(train: TrainConfig) -> bool:
    return train.accelerator == "cpu" or (train.accelerator == "auto" and not torch.cuda.is_available())


def _trainer_precision(train: TrainConfig) -> str:
    """Return the Trainer precision for ``train``: the configured one, or "32-true" for mixed precision on a CPU.

    Raises:
        ConfigError: ``train.precision`` is not one of :data:`PRECISIONS`.
    """
    precision = train.precision
    if precision not in PRECISIONS:
        raise ConfigError(
            f"train.precision must be one of {', '.join(PRECISIONS)}, got {precision!r}; "
            f"use 16-mixed or bf16-mixed for mixed precision on GPUs."
        )
    if precision.endswith("-mixed") and _runs_on_cpu(train):
        logger.warning(
            "train.precision=%s needs a GPU but this run uses the CPU (train.accelerator=%s); "
            "training in 32-true instead",
            precision,
            train.accelerator,
        )
        return "32-true"
    return precision


def _trainer_sync_batchnorm(train: TrainConfig) -> bool:
    """Return ``train.sync_batchnorm``, or False on a CPU, where PyTorch's SyncBatchNorm does not run."""
    if train.sync_batchnorm and _runs_on_cpu(train):
        logger.warning(
            "train.sync_batchnorm=true needs GPUs but this run uses the CPU (train.accelerator=%s); "
            "each process normalises with the statistics of its own batch instead",
            train.accelerator,
        )
        return False
    return train.sync_batchnorm


def _make_trainer(config: Config, out: Path, parts: TaskParts, *, max_epochs: int) -> pl.Trainer:
    checkpoint = ModelCheckpoint(
        dirpath=out / "checkpoints",
        filename="best",
        monitor=parts.monitor,
        mode=parts.mode,
        save_top_k=1,
        save_last=True,
        enable_version_counter=False,
    )
    callbacks: list[pl.Callback] = [checkpoint, EpochCSVLog(out / "metrics.csv")]
    if config.train.patience is not None:
        callbacks.append(EarlyStopping(monitor=parts.monitor, mode=parts.mode, patience=config.train.patience))
    interactive = sys.stderr.isatty()
    if not interactive:
        callbacks.append(EpochLogger())
    return pl.Trainer(
        default_root_dir=out,
        max_epochs=max_epochs,
        accelerator=config.train.accelerator,
        devices=config.train.devices,
        num_nodes=config.train.num_nodes,
        strategy=config.train.strategy,
        precision=_trainer_precision(config.train),
        sync_batchnorm=_trainer_sync_batchnorm(config.train),
        # LengthBucketBatchSampler shards the audio batches itself, and image loaders get Lightning's
        # DistributedSampler.
        use_distributed_sampler=config.task == "image",
        gradient_clip_val=config.train.gradient_clip,
        log_every_n_steps=max(1, min(config.train.log_every_n_steps, _steps_per_epoch(parts))),
        logger=False,
        callbacks=callbacks,
        enable_progress_bar=interactive,
        enable_model_summary=interactive,
        deterministic=False,
    )


def _steps_per_epoch(parts: TaskParts) -> int:
    try:
        return len(parts.train_loader)
    except TypeError:
        return 1


def train(config: Config, out: str | Path, *, resume: bool = False, force: bool = False) -> dict[str, Any]:
    """Train ``config`` into the run folder ``out``, test the best checkpoint and return the metrics.

    Raises:
        OutputExistsError: ``out`` exists and neither ``resume`` nor ``force`` is set.
        CheckpointError: ``resume`` is set but ``out`` contains no ``checkpoints/last.ckpt``.
    """
    out = Path(out)
    if config.train.threads:
        torch.set_num_threads(config.train.threads)
    _quiet_lightning()
    if _is_launched_secondary():
        # Global rank 0 prepares the folder. The other processes write only through the trainer,
        # which lets rank 0 alone write files.
        ckpt_path = str(out / "checkpoints" / "last.ckpt") if resume else None
    else:
        ckpt_path = _prepare_run_dir(out, config, resume=resume, force=force)
    pl.seed_everything(config.seed, workers=True, verbose=False)
    # Only global rank 0 writes the lists of skipped files.
    parts = build_task(config, None if _is_launched_secondary() else out)
    trainer = _make_trainer(config, out, parts, max_epochs=config.train.max_epochs)
    if trainer.is_global_zero:
        _write_config(out, config)

    started = time.perf_counter()
    trainer.fit(parts.module, parts.train_loader, parts.val_loader, ckpt_path=ckpt_path)
    seconds = time.perf_counter() - started

    best = out / "checkpoints" / "best.ckpt"
    metrics: dict[str, Any] = {
        "epochs": int(trainer.current_epoch),
        "seconds": round(seconds, 2),
        "best_checkpoint": str(best),
        f"best_{parts.monitor}": _as_float(trainer.checkpoint_callback.best_model_score),
    }
    if parts.test_loader is not None:
        results = trainer.test(parts.module, parts.test_loader, ckpt_path=str(best), verbose=False)
        metrics.update({key: float(value) for key, value in results[0].items()})
    if trainer.is_global_zero:
        with atomic_write(out / "metrics.json", force=True) as handle:
            json.dump(metrics, handle, indent=2)
            handle.write("\n")
    return metrics


def _as_float(value: Any) -> float | None:
    if value is None:
        return None
    return float(value.item() if hasattr(value, "item") else value)


def load_run_config(checkpoint_path: str | Path) -> Config:
    """Read the configuration stored in a Lightning checkpoint written by :func:`train`.

    Raises:
        CheckpointError: the file is missing or carries no lcnn configuration.
    """
    path = Path(checkpoint_path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} not found.")
    try:
        # weights_only: a checkpoint is data, and unpickling arbitrary objects could run code.
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for a file that is not a checkpoint
        raise CheckpointError(
            f"cannot read {path} as a checkpoint written by 'lcnn train' ({type(error).__name__}); "
            f"pass the best.ckpt or last.ckpt file of a run folder."
        ) from None
    info = checkpoint.get("lcnn") if isinstance(checkpoint, dict) else None
    if not info or "config" not in info or info["config"] is None:
        raise CheckpointError(
            f"{path} is not a checkpoint written by 'lcnn train' (no lcnn configuration inside); "
            f"for published weights use 'lcnn import'."
        )
    try:
        return config_from_dict(info["config"])
    except ConfigError as error:
        raise CheckpointError(f"{path}: stored configuration is invalid: {error}") from None


def test_checkpoint(checkpoint_path: str | Path, *, data_dir: str | None = None) -> dict[str, float]:
    """Evaluate a checkpoint written by :func:`train` on its task's test set and return the metrics."""
    _quiet_lightning()
    config = load_run_config(checkpoint_path)
    if data_dir is not None:
        if config.task == "image":
            config.data.data_dir = data_dir
        else:
            config.audio.root = data_dir
    parts = build_task(config, eval_only=True)
    if parts.test_loader is None:
        raise ConfigError("the checkpoint's configuration has no test set (audio.eval_protocol is empty).")
    trainer = pl.Trainer(
        accelerator=config.train.accelerator,
        devices=1,
        logger=False,
        enable_progress_bar=sys.stderr.isatty(),
        enable_model_summary=False,
    )
    results = trainer.test(parts.module, parts.test_loader, ckpt_path=str(checkpoint_path), verbose=False)
    return {key: float(value) for key, value in results[0].items()}
