"""Anti-spoofing task: protocols, checked audio lists, streaming loaders and the module."""

from __future__ import annotations

import logging
import math
import random
from pathlib import Path

from lcnn.config import AudioDataConfig, Config, config_to_dict
from lcnn.data.audio_check import check_trials
from lcnn.data.audio_dataset import AudioDataset, build_audio_loader
from lcnn.data.protocols import Trial, read_protocol, resolve_audio_paths
from lcnn.errors import ConfigError
from lcnn.training.cm_module import CountermeasureModule

__all__ = ["build_countermeasure_task", "load_split"]

logger = logging.getLogger(__name__)


def _resolve(audio: AudioDataConfig, value: str) -> Path:
    path = Path(value).expanduser()
    if audio.root and not path.is_absolute():
        path = Path(audio.root).expanduser() / path
    return path


def load_split(
    audio: AudioDataConfig,
    protocol: str,
    *,
    limit: int | None,
    seed: int,
    split: str,
    out: Path | None = None,
) -> tuple[list[Trial], list[int]]:
    """Read a protocol, find its audio, check every file and return the usable trials with their lengths.

    Raises:
        DataError: a malformed protocol line, missing audio files or unusable audio (all listed at
            once). With ``audio.skip_bad`` unusable files are skipped instead, with a warning, and
            listed in ``<out>/skipped_<split>.tsv`` when ``out`` is given.
    """
    trials = read_protocol(_resolve(audio, protocol), format=audio.protocol_format)
    if limit is not None and limit < len(trials):
        rng = random.Random(seed)
        chosen = sorted(rng.sample(range(len(trials)), limit))
        trials = [trials[i] for i in chosen]
    folder = getattr(audio, f"{split}_audio_dir") or audio.audio_dir
    if not folder:
        raise ConfigError(f"no audio folder for the {split} set: set audio.audio_dir or audio.{split}_audio_dir.")
    trials = resolve_audio_paths(trials, _resolve(audio, folder))
    skipped_path = out / f"skipped_{split}.tsv" if (audio.skip_bad and out is not None) else None
    checked = check_trials(
        trials, sample_rate=audio.sample_rate, skip_bad=audio.skip_bad, skipped_path=skipped_path, force=True
    )
    counts = sum(1 for t in checked.trials if t.label == 1), sum(1 for t in checked.trials if t.label == 0)
    logger.info("%s: %d trials (%d bona fide, %d spoof)", split, len(checked.trials), *counts)
    return list(checked.trials), list(checked.lengths)


def _loader(audio: AudioDataConfig, trials, lengths, *, train: bool, seed: int, crop_seconds: float | None):
    crop = None if crop_seconds is None else int(round(crop_seconds * audio.sample_rate))
    dataset = AudioDataset(
        trials,
        sample_rate=audio.sample_rate,
        crop_samples=crop,
        random_crop=train,
        seed=seed,
        # The header check cannot see every decoding failure (silent or truncated files); with
        # skip_bad those are dropped from their batch when decoded.
        skip_errors=audio.skip_bad,
    )
    loader_lengths = lengths if crop is None else [crop] * len(lengths)
    max_batch_samples = None
    if audio.max_batch_seconds is not None:
        max_batch_samples = int(audio.max_batch_seconds * audio.sample_rate)
    return build_audio_loader(
        dataset,
        loader_lengths,
        batch_size=audio.batch_size,
        max_batch_samples=max_batch_samples,
        shuffle=train,
        seed=seed,
        workers=audio.num_workers,
        persistent_workers=audio.num_workers > 0,
    )


def build_countermeasure_task(config: Config, out: Path | None = None, *, eval_only: bool = False):
    """Return the :class:`~lcnn.training.run.TaskParts` of an anti-spoofing run.

    With ``eval_only`` only the evaluation protocol is read and checked (for ``lcnn test``).
    """
    from lcnn.training.run import TaskParts

    audio = config.audio
    for key in ("train_protocol", "dev_protocol"):
        if not getattr(audio, key):
            raise ConfigError(f"audio.{key} is empty; a countermeasure run needs a training and a development protocol.")
    if not config.frontend.name:
        raise ConfigError("frontend.name is empty; choose a front end, e.g. frontend: {name: lfcc}.")

    train_loader = dev_loader = test_loader = None
    steps_per_epoch = 1
    if not eval_only:
        train_trials, train_lengths = load_split(
            audio, audio.train_protocol, limit=audio.limit_train, seed=config.seed, split="train", out=out
        )
        dev_trials, dev_lengths = load_split(
            audio, audio.dev_protocol, limit=audio.limit_dev, seed=config.seed, split="dev", out=out
        )
        train_loader = _loader(
            audio, train_trials, train_lengths, train=True, seed=config.seed, crop_seconds=audio.crop_seconds
        )
        dev_loader = _loader(
            audio, dev_trials, dev_lengths, train=False, seed=config.seed, crop_seconds=audio.eval_crop_seconds
        )
        steps_per_epoch = max(1, len(train_loader))
    if audio.eval_protocol:
        test_trials, test_lengths = load_split(
            audio, audio.eval_protocol, limit=None, seed=config.seed, split="eval", out=out
        )
        test_loader = _loader(
            audio, test_trials, test_lengths, train=False, seed=config.seed, crop_seconds=audio.eval_crop_seconds
        )

    module = CountermeasureModule(config_to_dict(config), steps_per_epoch=steps_per_epoch)
    return TaskParts(module, train_loader, dev_loader, test_loader, monitor="dev_eer", mode="min")
