"""Tests of the length-bucketing batch sampler, including its sharding across processes."""

import numpy as np
import pytest
import torch.distributed as dist

from lcnn.data.sampling import LengthBucketBatchSampler


def lengths_of(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(1_000, 64_000, size=count)


def shards(lengths, num_replicas: int, **kwargs) -> list[list[list[int]]]:
    samplers = [
        LengthBucketBatchSampler(lengths, num_replicas=num_replicas, rank=rank, **kwargs)
        for rank in range(num_replicas)
    ]
    return [list(sampler) for sampler in samplers]


def test_single_process_covers_each_index_once():
    lengths = lengths_of(103)
    batches = list(LengthBucketBatchSampler(lengths, batch_size=8, seed=3))
    flat = sorted(i for batch in batches for i in batch)
    assert flat == list(range(103))
    assert all(len(batch) <= 8 for batch in batches)


def test_one_replica_matches_unsharded():
    lengths = lengths_of(77)
    plain = list(LengthBucketBatchSampler(lengths, batch_size=8, seed=1))
    sharded = list(LengthBucketBatchSampler(lengths, batch_size=8, seed=1, num_replicas=1, rank=0))
    assert sharded == plain


@pytest.mark.parametrize("num_replicas", [2, 3, 4])
@pytest.mark.parametrize("shuffle", [True, False])
def test_shards_equal_and_cover_all(num_replicas, shuffle):
    lengths = lengths_of(101)
    kwargs = dict(batch_size=8, shuffle=shuffle, seed=5, window_size=40)
    per_rank = shards(lengths, num_replicas, **kwargs)
    counts = [len(batches) for batches in per_rank]
    assert len(set(counts)) == 1, counts

    unsharded = list(LengthBucketBatchSampler(lengths, **kwargs))
    assert counts[0] == -(-len(unsharded) // num_replicas)

    seen = [i for batches in per_rank for batch in batches for i in batch]
    assert set(seen) == set(range(101))
    # Only the padding batches repeat indices, at most num_replicas - 1 of them.
    extra_batches = sum(counts) - len(unsharded)
    assert 0 <= extra_batches < num_replicas
    padding = [i for batch in unsharded[:extra_batches] for i in batch]
    assert sorted(seen) == sorted(list(range(101)) + padding)


def test_shards_interleave_global_batch_list():
    lengths = lengths_of(64)
    unsharded = list(LengthBucketBatchSampler(lengths, batch_size=8, seed=2))
    rank0, rank1 = shards(lengths, 2, batch_size=8, seed=2)
    assert rank0 == unsharded[0::2]
    assert rank1 == unsharded[1::2]


def test_fewer_batches_than_replicas():
    lengths = [16_000, 16_000, 8_000]
    per_rank = shards(lengths, 4, batch_size=8, shuffle=False)
    assert [len(batches) for batches in per_rank] == [1, 1, 1, 1]
    for batches in per_rank:
        assert sorted(batches[0]) == [0, 1, 2]


def test_empty_dataset_no_batches():
    per_rank = shards([], 2, batch_size=8)
    assert per_rank == [[], []]


def test_shards_respect_sample_limit():
    lengths = lengths_of(90)
    limit = 150_000
    for batches in shards(lengths, 3, batch_size=None, max_batch_samples=limit, seed=4):
        for batch in batches:
            padded = len(batch) * max(lengths[i] for i in batch)
            assert padded <= limit or len(batch) == 1


def test_set_epoch_reshuffles_all_ranks():
    lengths = lengths_of(80)
    samplers = [LengthBucketBatchSampler(lengths, batch_size=8, num_replicas=2, rank=r) for r in range(2)]
    first = [list(sampler) for sampler in samplers]
    for sampler in samplers:
        sampler.set_epoch(1)
    second = [list(sampler) for sampler in samplers]
    assert first != second
    for batches in second:
        assert len(batches) == len(second[0])
    covered = {i for batches in second for batch in batches for i in batch}
    assert covered == set(range(80))


def test_len_matches_iteration_per_rank():
    lengths = lengths_of(50)
    for rank in range(3):
        sampler = LengthBucketBatchSampler(lengths, batch_size=4, num_replicas=3, rank=rank)
        assert len(sampler) == len(list(sampler))


def test_replica_from_process_group(monkeypatch):
    lengths = lengths_of(40)
    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "get_world_size", lambda group=None: 2)
    monkeypatch.setattr(dist, "get_rank", lambda group=None: 1)
    sampler = LengthBucketBatchSampler(lengths, batch_size=4, seed=7)
    assert sampler.replica() == (2, 1)
    expected = LengthBucketBatchSampler(lengths, batch_size=4, seed=7, num_replicas=2, rank=1)
    assert list(sampler) == list(expected)


def test_replica_without_process_group():
    sampler = LengthBucketBatchSampler(lengths_of(10), batch_size=4)
    if dist.is_available() and dist.is_initialized():
        pytest.skip("a process group is initialised in this interpreter")
    assert sampler.replica() == (1, 0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(num_replicas=0), "num_replicas must be a positive integer"),
        (dict(num_replicas=2, rank=2), r"rank must be in \[0, num_replicas=2\), got 2"),
        (dict(num_replicas=2, rank=-1), r"rank must be in \[0, num_replicas=2\), got -1"),
        (dict(batch_size=None), "set batch_size, max_batch_samples or both"),
    ],
)
def test_invalid_settings_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        LengthBucketBatchSampler([100, 200], **kwargs)


def test_rank_beyond_world_size_raises(monkeypatch):
    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "get_world_size", lambda group=None: 2)
    sampler = LengthBucketBatchSampler([100, 200, 300], batch_size=1, rank=3)
    with pytest.raises(ValueError, match=r"rank must be in \[0, num_replicas=2\), got 3"):
        list(sampler)
