"""Streaming audio dataset over a trial list: each item is decoded when it is requested.

Nothing is decoded up front, so memory does not grow with the list. Two modes:

* fixed length (``crop_samples`` set): a random crop in training, the first ``crop_samples``
  samples in evaluation. A clip shorter than the crop is tiled (repeated) to the crop length, as
  for the AASIST-style input of 64,600 samples (about 4 s).
* whole utterance (``crop_samples=None``): :func:`collate_audio` zero-pads a batch to its longest
  utterance and returns the true lengths, as in the ASVspoof 2021 LFCC-LCNN-LSTM recipe.

Pair the dataset with :class:`lcnn.data.sampling.LengthBucketBatchSampler` and the lengths from
:func:`lcnn.data.audio_check.check_trials` to keep padding small (see :func:`build_audio_loader`).
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from lcnn.audio import load_audio
from lcnn.data.sampling import LengthBucketBatchSampler
from lcnn.errors import AudioError

if TYPE_CHECKING:
    from lcnn.data.protocols import Trial

__all__ = ["AudioItem", "AudioBatch", "AudioDataset", "collate_audio", "build_audio_loader", "UNKNOWN_LABEL"]

logger = logging.getLogger(__name__)

# Label of a trial whose key is unknown (unlabelled scoring).
UNKNOWN_LABEL = -1


class AudioItem(NamedTuple):
    """One decoded trial.

    Attributes:
        waveform: float32 tensor ``(samples,)``; empty when decoding failed.
        label: 1 bona fide, 0 spoof, -1 unknown.
        trial_id: the trial's utterance id.
        index: the item's index in the dataset.
        error: why decoding failed, when the dataset skips unreadable audio; None otherwise.
    """

    waveform: torch.Tensor
    label: int
    trial_id: str
    index: int
    error: str | None = None


@dataclass
class AudioBatch:
    """A padded batch of trials.

    Attributes:
        waveform: float32 ``(batch, samples)``, zero-padded after each utterance.
        lengths: int64 ``(batch,)``, samples before the padding.
        labels: int64 ``(batch,)``; 1 bona fide, 0 spoof, -1 unknown.
        trial_ids: utterance ids in batch order.
        indices: int64 ``(batch,)``, dataset indices in batch order.
        failed: ``(index, trial_id, reason)`` of the items whose decoding failed; they are not in
            the tensors.
    """

    waveform: torch.Tensor
    lengths: torch.Tensor
    labels: torch.Tensor
    trial_ids: list[str]
    indices: torch.Tensor
    failed: list[tuple[int, str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.trial_ids)

    def to(self, device: torch.device | str, *, non_blocking: bool = False) -> AudioBatch:
        """Return a copy whose tensors live on ``device``."""
        return AudioBatch(
            waveform=self.waveform.to(device, non_blocking=non_blocking),
            lengths=self.lengths.to(device, non_blocking=non_blocking),
            labels=self.labels.to(device, non_blocking=non_blocking),
            trial_ids=self.trial_ids,
            indices=self.indices,
            failed=self.failed,
        )

    def pin_memory(self) -> AudioBatch:
        """Return a copy in pinned memory; called by ``DataLoader(pin_memory=True)``."""
        return AudioBatch(
            waveform=self.waveform.pin_memory(),
            lengths=self.lengths.pin_memory(),
            labels=self.labels.pin_memory(),
            trial_ids=self.trial_ids,
            indices=self.indices,
            failed=self.failed,
        )


def collate_audio(items: Sequence[AudioItem]) -> AudioBatch:
    """Stack items into a batch, zero-padding every waveform to the longest one.

    Items whose decoding failed go to ``AudioBatch.failed`` instead of the tensors.
    """
    good = [item for item in items if item.error is None]
    failed = [(item.index, item.trial_id, item.error) for item in items if item.error is not None]
    longest = max((item.waveform.numel() for item in good), default=0)
    waveform = torch.zeros(len(good), longest, dtype=torch.float32)
    for row, item in enumerate(good):
        waveform[row, : item.waveform.numel()] = item.waveform
    return AudioBatch(
        waveform=waveform,
        lengths=torch.tensor([item.waveform.numel() for item in good], dtype=torch.int64),
        labels=torch.tensor([item.label for item in good], dtype=torch.int64),
        trial_ids=[item.trial_id for item in good],
        indices=torch.tensor([item.index for item in good], dtype=torch.int64),
        failed=failed,
    )


class AudioDataset(Dataset):
    """Map-style dataset that decodes one trial's audio per item.

    Args:
        trials: trials with ``path`` set; only this list is kept in memory.
        sample_rate: int > 0, the model's sample rate in Hz; audio at other rates is resampled.
        allow_resample: if False, audio at another sample rate raises AudioError.
        min_samples: shortest accepted decoded length, passed to :func:`lcnn.audio.load_audio`
            (None: its default of 20 ms).
        crop_samples: int > 0 for fixed-length items, or None for whole utterances.
        random_crop: take a random crop (training) instead of the first ``crop_samples`` samples
            (evaluation). A shorter clip is tiled from a random offset in training, from its
            start in evaluation.
        seed: seed of the random crops. The crop of item ``i`` depends only on ``seed``, the epoch
            (see :meth:`set_epoch`) and ``i``, so it does not change with the number of workers.
        skip_errors: return an item marked as failed when decoding raises AudioError, instead
            of raising. :func:`collate_audio` moves it to ``AudioBatch.failed``, which the caller
            must report, because the dataset logs it at DEBUG level only.
        short_warning_fraction: float in [0, 1]. A clip shorter than this fraction of the crop
            triggers one warning per process, naming the clip. 0 disables the warning.

    Raises:
        ValueError: a setting is out of range.
    """

    def __init__(
        self,
        trials: Sequence[Trial],
        *,
        sample_rate: int = 16000,
        allow_resample: bool = True,
        min_samples: int | None = None,
        crop_samples: int | None = None,
        random_crop: bool = False,
        seed: int = 0,
        skip_errors: bool = False,
        short_warning_fraction: float = 0.5,
    ) -> None:
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be a positive integer, got {sample_rate}.")
        if crop_samples is not None and crop_samples <= 0:
            raise ValueError(f"crop_samples must be a positive integer or None, got {crop_samples}.")
        if not 0.0 <= short_warning_fraction <= 1.0:
            raise ValueError(f"short_warning_fraction must be in [0, 1], got {short_warning_fraction}.")
        self.trials = list(trials)
        self.sample_rate = sample_rate
        self.allow_resample = allow_resample
        self.min_samples = min_samples
        self.crop_samples = crop_samples
        self.random_crop = random_crop
        self.seed = seed
        self.skip_errors = skip_errors
        self.short_warning_fraction = short_warning_fraction
        # Shared memory lets DataLoader workers, persistent ones included, see set_epoch.
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()
        self._warned_short = False

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch that, with ``seed``, determines the random crops."""
        self._epoch.fill_(int(epoch))

    @property
    def epoch(self) -> int:
        """The epoch set by :meth:`set_epoch` (0 before the first call)."""
        return int(self._epoch.item())

    def __len__(self) -> int:
        return len(self.trials)

    def __getitem__(self, index: int) -> AudioItem:
        trial = self.trials[index]
        label = UNKNOWN_LABEL if trial.label is None else int(trial.label)
        try:
            if trial.path is None:
                raise AudioError(
                    f"trial {trial.trial_id} has no audio path; resolve the trial ids against an audio "
                    "folder first (lcnn.data.protocols.resolve_audio_paths)."
                )
            waveform = load_audio(
                trial.path,
                sample_rate=self.sample_rate,
                allow_resample=self.allow_resample,
                min_samples=self.min_samples,
            )
        except AudioError as error:
            if not self.skip_errors:
                raise
            logger.debug("Decoding %s failed: %s", trial.trial_id, error)
            return AudioItem(torch.zeros(0), label, trial.trial_id, index, str(error))
        if self.crop_samples is not None:
            waveform = self._crop(waveform, trial.trial_id, index)
        return AudioItem(waveform, label, trial.trial_id, index)

    def _crop(self, waveform: torch.Tensor, trial_id: str, index: int) -> torch.Tensor:
        crop = self.crop_samples
        length = waveform.numel()
        rng = np.random.default_rng([self.seed, self.epoch, index]) if self.random_crop else None
        if length >= crop:
            # randint's upper bound is exclusive, so ``+ 1`` lets a clip of exactly ``crop`` samples
            # start at 0 instead of failing on an empty range.
            start = int(rng.integers(0, length - crop + 1)) if rng is not None else 0
            return waveform[start : start + crop]

        if length < self.short_warning_fraction * crop and not self._warned_short:
            self._warned_short = True
            warnings.warn(
                f"trial {trial_id} has {length} samples ({length / self.sample_rate:.2f} s), much shorter "
                f"than the crop of {crop} samples ({crop / self.sample_rate:.2f} s); it is tiled to the "
                f"crop length. Further short clips in this process are not reported (pid {os.getpid()}).",
                stacklevel=2,
            )
        offset = int(rng.integers(0, length)) if rng is not None else 0
        repeats = math.ceil((crop + offset) / length)
        return waveform.repeat(repeats)[offset : offset + crop]


def build_audio_loader(
    dataset: AudioDataset,
    lengths: Sequence[int] | np.ndarray,
    *,
    batch_size: int | None = 32,
    max_batch_samples: int | None = None,
    shuffle: bool = False,
    seed: int = 0,
    workers: int = 0,
    window_size: int | None = None,
    drop_last: bool = False,
    pin_memory: bool = False,
    persistent_workers: bool = False,
) -> DataLoader:
    """Build a DataLoader that batches ``dataset`` by length with :func:`collate_audio`.

    Args:
        dataset: the dataset to load.
        lengths: one length in samples per dataset item, used only to group items (header
            estimates are enough).
        batch_size, max_batch_samples, shuffle, seed, window_size, drop_last: passed to
            :class:`~lcnn.data.sampling.LengthBucketBatchSampler`.
        workers: int >= 0, decoding processes; 0 decodes in the calling process.
        pin_memory: pin batches for faster copies to a GPU.
        persistent_workers: keep workers alive between epochs (needs ``workers > 0``).

    Returns:
        A DataLoader yielding :class:`AudioBatch`. Call ``loader.batch_sampler.set_epoch(epoch)``
        and ``dataset.set_epoch(epoch)`` before each training epoch.

    Raises:
        ValueError: ``lengths`` and ``dataset`` differ in size, or a sampler setting is invalid.
    """
    if len(lengths) != len(dataset):
        raise ValueError(f"lengths has {len(lengths)} entries but the dataset has {len(dataset)} items.")
    if workers < 0:
        raise ValueError(f"workers must be 0 or more, got {workers}.")
    sampler = LengthBucketBatchSampler(
        lengths,
        batch_size=batch_size,
        max_batch_samples=max_batch_samples,
        shuffle=shuffle,
        seed=seed,
        window_size=window_size,
        drop_last=drop_last,
    )
    return DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=collate_audio,
        num_workers=workers,
        pin_memory=pin_memory,
        persistent_workers=persistent_workers and workers > 0,
    )
