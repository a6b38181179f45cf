"""Batch sampler that groups utterances of similar length, so padded batches waste little compute.

Training follows the bucketing of the ASVspoof 2021 LFCC-LCNN-LSTM recipe: utterances are sorted by
length, cut into buckets of similar length, batched inside each bucket and the batches shuffled.
Evaluation keeps the input order window by window, which lets a scorer write results in input order
while holding at most one window of results in memory.

Under distributed data-parallel training every process builds the same list of batches from the
shared seed and takes every ``num_replicas``-th batch, starting at its ``rank``.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import Sampler

__all__ = ["LengthBucketBatchSampler"]


class LengthBucketBatchSampler(Sampler[list[int]]):
    """Yield lists of dataset indices whose utterances have similar lengths.

    A batch is limited by ``batch_size`` (number of utterances), by ``max_batch_samples`` (the
    padded size ``len(batch) * longest_in_batch``), or by both. An utterance longer than
    ``max_batch_samples`` gets a batch of its own.

    With ``shuffle=True`` (training) the indices are sorted by length, ties broken at random, and cut
    into buckets of ``bucket_size`` utterances. Each bucket is shuffled and batched, and the batches
    of all buckets are shuffled. The order depends only on ``seed`` and the epoch set with
    :meth:`set_epoch`.

    With ``shuffle=False`` (evaluation) the indices are cut into consecutive windows of
    ``window_size``. Each window is sorted by length and batched, and the windows follow each other
    in input order, so every batch lies inside one window.

    Every index appears in exactly one batch per epoch unless ``drop_last`` drops the last, smaller
    batch of each bucket.

    With ``num_replicas > 1`` the batch list is extended by repeating its first batches until its
    length is a multiple of ``num_replicas``, and process ``rank`` takes batches ``rank``,
    ``rank + num_replicas``, ... So every process runs the same number of steps, and together they
    cover every index. The padding adds at most ``num_replicas - 1`` repeated batches per epoch.
    ``batch_size`` and ``max_batch_samples`` limit the batch of one process.

    Args:
        lengths: utterance lengths in samples, one per dataset index (for example from
            :func:`lcnn.data.audio_check.check_trials`).
        batch_size: int > 0, maximum utterances per batch, or None for no count limit.
        max_batch_samples: int > 0, maximum padded samples per batch, or None for no limit.
        shuffle: shuffle batches (training) or keep input order by window (evaluation).
        seed: seed of the shuffling; combined with the epoch.
        bucket_size: int > 0, utterances per bucket when shuffling; default ``50 * batch_size``
            (or 2,000 when only ``max_batch_samples`` is set).
        window_size: int > 0, utterances per window when not shuffling; None sorts the whole list.
        drop_last: drop the last, incomplete batch of every bucket (training only).
        num_replicas: int > 0, number of processes that share the batches. None takes the world
            size of the default ``torch.distributed`` process group when it is initialised at
            iteration time, and 1 otherwise.
        rank: int in ``[0, num_replicas)``, this process's share. None takes the process rank in
            the same way, or 0.

    Raises:
        ValueError: neither limit is set, a limit or size is not positive, a length is negative, or
            ``rank`` is outside ``[0, num_replicas)``.
    """

    def __init__(
        self,
        lengths: Sequence[int] | np.ndarray | torch.Tensor,
        *,
        batch_size: int | None = 32,
        max_batch_samples: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        bucket_size: int | None = None,
        window_size: int | None = None,
        drop_last: bool = False,
        num_replicas: int | None = None,
        rank: int | None = None,
    ) -> None:
        if batch_size is None and max_batch_samples is None:
            raise ValueError("set batch_size, max_batch_samples or both; got neither.")
        for name, value in (
            ("batch_size", batch_size),
            ("max_batch_samples", max_batch_samples),
            ("bucket_size", bucket_size),
            ("window_size", window_size),
            ("num_replicas", num_replicas),
        ):
            if value is not None and int(value) <= 0:
                raise ValueError(f"{name} must be a positive integer or None, got {value}.")
        self.lengths = np.asarray(lengths, dtype=np.int64).reshape(-1)
        if self.lengths.size and self.lengths.min() < 0:
            bad = int(np.argmin(self.lengths))
            raise ValueError(f"lengths must be non-negative; index {bad} has length {self.lengths[bad]}.")
        self.batch_size = batch_size
        self.max_batch_samples = max_batch_samples
        self.shuffle = shuffle
        self.seed = seed
        self.bucket_size = bucket_size or (50 * batch_size if batch_size else 2000)
        self.window_size = window_size
        self.drop_last = drop_last
        if rank is not None and (int(rank) < 0 or (num_replicas is not None and int(rank) >= num_replicas)):
            raise ValueError(f"rank must be in [0, num_replicas={num_replicas}), got {rank}.")
        self.num_replicas = num_replicas
        self.rank = rank
        self.epoch = 0
        self._cache_key: tuple[int, int] | None = None
        self._cache: list[list[int]] = []

    def set_epoch(self, epoch: int) -> None:
        """Set the epoch that, with ``seed``, determines the shuffled order."""
        self.epoch = int(epoch)

    def __iter__(self) -> Iterator[list[int]]:
        yield from self._shard(self._batches())

    def __len__(self) -> int:
        # Under a sample limit the batch count depends on the shuffled order, so count real batches.
        return len(self._shard(self._batches()))

    def replica(self) -> tuple[int, int]:
        """Return ``(num_replicas, rank)`` in effect now, resolving unset values from ``torch.distributed``.

        The values are resolved at each call rather than at construction, because loaders are
        usually built before the trainer initialises the process group.

        Raises:
            ValueError: the resolved ``rank`` is outside ``[0, num_replicas)``.
        """
        initialised = dist.is_available() and dist.is_initialized()
        num_replicas = self.num_replicas
        if num_replicas is None:
            num_replicas = dist.get_world_size() if initialised else 1
        rank = self.rank
        if rank is None:
            rank = dist.get_rank() if initialised else 0
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank must be in [0, num_replicas={num_replicas}), got {rank}.")
        return num_replicas, rank

    def _shard(self, batches: list[list[int]]) -> list[list[int]]:
        """Return this process's share of ``batches``, padded so that every process gets as many."""
        num_replicas, rank = self.replica()
        if num_replicas == 1 or not batches:
            return batches
        total = -(-len(batches) // num_replicas) * num_replicas
        padded = [batches[i % len(batches)] for i in range(total)]
        return padded[rank::num_replicas]

    def _batches(self) -> list[list[int]]:
        key = (self.epoch, self.seed)
        if self._cache_key != key:
            self._cache = self._shuffled_batches() if self.shuffle else self._windowed_batches()
            self._cache_key = key
        return self._cache

    def _shuffled_batches(self) -> list[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        permutation = rng.permutation(self.lengths.size)
        # A stable sort of a random permutation breaks ties between equal lengths at random.
        order = permutation[np.argsort(self.lengths[permutation], kind="stable")]
        batches: list[list[int]] = []
        for start in range(0, order.size, self.bucket_size):
            bucket = order[start : start + self.bucket_size].copy()
            rng.shuffle(bucket)
            bucket_batches = self._pack(bucket)
            if self.drop_last and bucket_batches and self.batch_size is not None:
                if len(bucket_batches[-1]) < self.batch_size:
                    bucket_batches.pop()
            batches.extend(bucket_batches)
        batch_order = rng.permutation(len(batches))
        return [batches[i] for i in batch_order]

    def _windowed_batches(self) -> list[list[int]]:
        window = self.window_size or max(self.lengths.size, 1)
        batches: list[list[int]] = []
        for start in range(0, self.lengths.size, window):
            indices = np.arange(start, min(start + window, self.lengths.size))
            indices = indices[np.argsort(self.lengths[indices], kind="stable")]
            batches.extend(self._pack(indices))
        return batches

    def _pack(self, indices: np.ndarray) -> list[list[int]]:
        """Cut ``indices`` into consecutive batches that respect both limits."""
        batches: list[list[int]] = []
        current: list[int] = []
        longest = 0
        for index in indices.tolist():
            length = int(self.lengths[index])
            new_longest = max(longest, length)
            full_count = self.batch_size is not None and len(current) >= self.batch_size
            full_samples = (
                self.max_batch_samples is not None
                and current
                and (len(current) + 1) * new_longest > self.max_batch_samples
            )
            if full_count or full_samples:
                batches.append(current)
                current, new_longest = [], length
            current.append(index)
            longest = new_longest
        if current:
            batches.append(current)
        return batches
