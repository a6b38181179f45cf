"""Tests of the streaming audio dataset, the length-bucketed batch sampler and the up-front audio check.

Audio is written as 16-bit WAV and FLAC with soundfile, so the expected samples are exact
(int16 / 32768).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from lcnn.data.audio_check import check_trials
from lcnn.data.audio_dataset import AudioDataset, build_audio_loader, collate_audio
from lcnn.data.protocols import Trial
from lcnn.data.sampling import LengthBucketBatchSampler
from lcnn.errors import DataError
from lcnn.fileio import OutputExistsError

RATE = 16000


def write_clip(folder: Path, name: str, samples: int, *, rate: int = RATE, seed: int = 0, fmt: str = "flac") -> tuple[Path, np.ndarray]:
    """Write random int16 noise and return the path and the float32 samples a reader returns."""
    pcm = np.random.default_rng(seed).integers(-20000, 20000, size=samples, dtype=np.int16)
    path = folder / f"{name}.{fmt}"
    soundfile.write(path, pcm, rate, subtype="PCM_16")
    return path, pcm.astype(np.float32) / 32768.0


def trial(path: Path, label: int | None = 1) -> Trial:
    return Trial(trial_id=path.stem, label=label, path=str(path))


def find_start(signal: np.ndarray, window: np.ndarray) -> int:
    """Return the offset where ``window`` occurs in ``signal``; fail when it does not."""
    for start in np.flatnonzero(signal[: signal.size - window.size + 1] == window[0]):
        if np.array_equal(signal[start : start + window.size], window):
            return int(start)
    raise AssertionError("the crop is not a contiguous part of the clip")


# --- fixed-length crops ---------------------------------------------------------------------------


def test_eval_crop_takes_first_samples(tmp_path):
    path, expected = write_clip(tmp_path, "long", 5000)
    dataset = AudioDataset([trial(path)], crop_samples=1200)
    item = dataset[0]
    assert item.waveform.shape == (1200,)
    np.testing.assert_array_equal(item.waveform.numpy(), expected[:1200])


def test_clip_exactly_crop_length(tmp_path):
    path, expected = write_clip(tmp_path, "exact", 1600)
    for random_crop in (False, True):
        dataset = AudioDataset([trial(path)], crop_samples=1600, random_crop=random_crop)
        for epoch in range(5):
            dataset.set_epoch(epoch)
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                waveform = dataset[0].waveform.numpy()
            np.testing.assert_array_equal(waveform, expected)


def test_short_clip_tiled_in_eval(tmp_path):
    path, expected = write_clip(tmp_path, "short", 700)
    dataset = AudioDataset([trial(path)], crop_samples=2000, short_warning_fraction=0.0)
    np.testing.assert_array_equal(dataset[0].waveform.numpy(), np.tile(expected, 3)[:2000])


def test_short_clip_warns_once(tmp_path):
    first, _ = write_clip(tmp_path, "short_a", 400, seed=1)
    second, _ = write_clip(tmp_path, "short_b", 500, seed=2)
    dataset = AudioDataset([trial(first), trial(second)], crop_samples=4000)
    with pytest.warns(UserWarning, match=r"short_a has 400 samples .* crop of 4000 samples"):
        dataset[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dataset[1]
        dataset[0]


def test_random_crop_seeded_and_contiguous(tmp_path):
    path, expected = write_clip(tmp_path, "long", 9000)
    dataset = AudioDataset([trial(path)], crop_samples=1000, random_crop=True, seed=3)
    starts = []
    for epoch in range(6):
        dataset.set_epoch(epoch)
        crop = dataset[0].waveform.numpy()
        again = dataset[0].waveform.numpy()
        np.testing.assert_array_equal(crop, again)
        starts.append(find_start(expected, crop))
    assert len(set(starts)) > 1
    other_seed = AudioDataset([trial(path)], crop_samples=1000, random_crop=True, seed=4)
    other_seed.set_epoch(5)
    assert not np.array_equal(other_seed[0].waveform.numpy(), crop)


def test_random_crop_of_short_clip_is_tiled(tmp_path):
    path, expected = write_clip(tmp_path, "short", 400)
    dataset = AudioDataset([trial(path)], crop_samples=1000, random_crop=True, short_warning_fraction=0.0)
    offsets = set()
    for epoch in range(4):
        dataset.set_epoch(epoch)
        crop = dataset[0].waveform.numpy()
        assert crop.shape == (1000,)
        offset = find_start(np.tile(expected, 4), crop)
        assert offset < 400
        offsets.add(offset)
    assert len(offsets) > 1


def test_crops_same_with_workers_and_epochs(tmp_path):
    trials = [trial(write_clip(tmp_path, f"clip{i}", 3000 + 100 * i, seed=i)[0]) for i in range(6)]
    dataset = AudioDataset(trials, crop_samples=800, random_crop=True, seed=1)
    lengths = [3000 + 100 * i for i in range(6)]

    def crops(workers: int, epoch: int, loader=None) -> dict[str, np.ndarray]:
        dataset.set_epoch(epoch)
        loader = loader or build_audio_loader(dataset, lengths, batch_size=2, workers=workers)
        return {tid: row.numpy() for batch in loader for tid, row in zip(batch.trial_ids, batch.waveform)}

    in_process = [crops(0, epoch) for epoch in range(2)]
    persistent = build_audio_loader(dataset, lengths, batch_size=2, workers=2, persistent_workers=True)
    in_workers = [crops(2, epoch, persistent) for epoch in range(2)]
    for epoch in range(2):
        for trial_id, crop in in_process[epoch].items():
            np.testing.assert_array_equal(in_workers[epoch][trial_id], crop)
    assert not np.array_equal(in_process[0]["clip3"], in_process[1]["clip3"])


# --- whole utterances -----------------------------------------------------------------------------


def test_collate_pads_and_returns_lengths(tmp_path):
    sizes = (1000, 2500, 1700)
    clips = [write_clip(tmp_path, f"u{i}", size, seed=i) for i, size in enumerate(sizes)]
    labels = (1, 0, None)
    dataset = AudioDataset([trial(path, label) for (path, _), label in zip(clips, labels)])
    batch = collate_audio([dataset[i] for i in range(3)])
    assert batch.waveform.shape == (3, 2500)
    assert batch.waveform.dtype == torch.float32
    assert batch.lengths.tolist() == list(sizes)
    assert batch.lengths.dtype == torch.int64
    assert batch.labels.tolist() == [1, 0, -1]
    assert batch.trial_ids == ["u0", "u1", "u2"]
    for row, (_, expected) in enumerate(clips):
        np.testing.assert_array_equal(batch.waveform[row, : expected.size].numpy(), expected)
        assert not batch.waveform[row, expected.size :].any()


def test_dataset_resamples_to_model_rate(tmp_path):
    path, _ = write_clip(tmp_path, "rate8k", 8000, rate=8000)
    assert AudioDataset([trial(path)], sample_rate=RATE)[0].waveform.numel() == 16000


def test_undecodable_file_skipped_or_raised(tmp_path):
    silent = tmp_path / "silent.wav"
    soundfile.write(silent, np.zeros(2000, dtype=np.int16), RATE)
    good, _ = write_clip(tmp_path, "good", 2000)
    with pytest.raises(DataError, match="silent.wav: all 2000 samples are zero"):
        AudioDataset([trial(silent)])[0]
    dataset = AudioDataset([trial(good), trial(silent)], skip_errors=True)
    batch = collate_audio([dataset[0], dataset[1]])
    assert batch.trial_ids == ["good"]
    assert [(index, tid) for index, tid, _ in batch.failed] == [(1, "silent")]


# --- length-bucketed batches ----------------------------------------------------------------------


def test_sampler_covers_each_index_once_per_epoch():
    lengths = np.random.default_rng(0).integers(16000, 160000, size=517)
    sampler = LengthBucketBatchSampler(lengths, batch_size=16, seed=5, bucket_size=64)
    for epoch in range(3):
        sampler.set_epoch(epoch)
        indices = [index for batch in sampler for index in batch]
        assert sorted(indices) == list(range(517))
        assert all(len(batch) <= 16 for batch in sampler)
        assert len(sampler) == len(list(sampler))


def test_sampler_is_seeded_and_shuffles_per_epoch():
    lengths = np.random.default_rng(1).integers(1000, 50000, size=300)

    def order(seed: int, epoch: int) -> list[list[int]]:
        sampler = LengthBucketBatchSampler(lengths, batch_size=8, seed=seed)
        sampler.set_epoch(epoch)
        return list(sampler)

    assert order(0, 0) == order(0, 0)
    assert order(0, 0) != order(0, 1)
    assert order(0, 0) != order(1, 0)


def test_sampler_groups_similar_lengths():
    lengths = np.random.default_rng(2).integers(1000, 100000, size=2000)
    sampler = LengthBucketBatchSampler(lengths, batch_size=20, bucket_size=200)
    padded = sum(len(batch) * lengths[batch].max() for batch in sampler)
    rng = np.random.default_rng(3)
    shuffled = rng.permutation(2000).reshape(100, 20)
    padded_random = sum(20 * lengths[batch].max() for batch in shuffled)
    assert padded < 1.1 * lengths.sum()
    assert padded < 0.7 * padded_random


def test_sampler_respects_max_batch_samples():
    lengths = np.array([100, 900, 250, 400, 5000, 300, 120, 610, 75, 820])
    sampler = LengthBucketBatchSampler(lengths, batch_size=None, max_batch_samples=1000, seed=0)
    batches = list(sampler)
    assert sorted(i for batch in batches for i in batch) == list(range(10))
    for batch in batches:
        assert len(batch) * lengths[batch].max() <= 1000 or len(batch) == 1


def test_sampler_windows_keep_input_order():
    lengths = np.random.default_rng(4).integers(1, 1000, size=103)
    sampler = LengthBucketBatchSampler(lengths, batch_size=7, shuffle=False, window_size=20)
    batches = list(sampler)
    assert sorted(i for batch in batches for i in batch) == list(range(103))
    windows = [{index // 20 for index in batch} for batch in batches]
    assert all(len(window) == 1 for window in windows)
    assert [window.pop() for window in windows] == sorted(index // 20 for batch in batches for index in batch[:1])
    assert list(sampler) == batches


def test_sampler_rejects_bad_settings():
    with pytest.raises(ValueError, match="batch_size, max_batch_samples or both"):
        LengthBucketBatchSampler([1, 2], batch_size=None)
    with pytest.raises(ValueError, match="batch_size must be a positive integer or None, got 0"):
        LengthBucketBatchSampler([1, 2], batch_size=0)
    with pytest.raises(ValueError, match="index 1 has length -5"):
        LengthBucketBatchSampler([1, -5], batch_size=2)


# --- up-front check -------------------------------------------------------------------------------


def make_bad_files(folder: Path) -> list[Trial]:
    good, _ = write_clip(folder, "good", 4000)
    not_audio = folder / "text.flac"
    not_audio.write_text("this is not audio")
    empty = folder / "empty.wav"
    soundfile.write(empty, np.zeros(0, dtype=np.int16), RATE)
    rate8k, _ = write_clip(folder, "rate8k", 4000, rate=8000, fmt="wav")
    tiny, _ = write_clip(folder, "tiny", 100)
    return [
        trial(good),
        Trial("missing", 1, path=str(folder / "missing.flac")),
        trial(not_audio),
        trial(empty),
        trial(rate8k),
        trial(tiny),
        Trial("no_path", 0),
    ]


def test_check_reports_every_bad_file(tmp_path):
    trials = make_bad_files(tmp_path)
    with pytest.raises(DataError, match="6 of 7 audio files are unusable") as caught:
        check_trials(trials, sample_rate=RATE, allow_resample=False)
    lines = str(caught.value).splitlines()
    assert any(re.fullmatch(r"  missing \(.*\): file not found", line) for line in lines)
    assert any(re.fullmatch(r"  text \(.*\): unreadable header .*", line) for line in lines)
    assert any(re.fullmatch(r"  empty \(.*\): empty file \(0 samples\)", line) for line in lines)
    assert any(re.fullmatch(r"  rate8k \(.*\): sample rate 8000 Hz, expected 16000 Hz .*", line) for line in lines)
    assert any(re.fullmatch(r"  tiny \(.*\): too short: 100 samples .*", line) for line in lines)
    assert "  no_path (no path): no audio path; resolve the trial ids against an audio folder first" in lines
    message = str(caught.value)
    assert "--skip-bad" in message


def test_check_lengths_and_resampled_estimate(tmp_path):
    trials = make_bad_files(tmp_path)
    checked = check_trials([trials[0], trials[4]], sample_rate=RATE)
    assert [t.trial_id for t in checked.trials] == ["good", "rate8k"]
    assert checked.lengths.tolist() == [4000, 8000]
    assert checked.lengths.dtype == np.int64


def test_check_truncates_long_lists(tmp_path):
    trials = [Trial(f"gone{i:03d}", 1, path=str(tmp_path / f"gone{i:03d}.flac")) for i in range(45)]
    with pytest.raises(DataError, match=r"45 of 45 audio files[\s\S]*gone019[\s\S]*\.\.\. and 25 more") as caught:
        check_trials(trials)
    assert "gone020" not in str(caught.value)


def test_check_skips_and_writes_list(tmp_path):
    trials = make_bad_files(tmp_path)
    listing = tmp_path / "skipped.tsv"
    with pytest.warns(UserWarning, match=r"skipping 6 of 7 audio files .*/skipped.tsv"):
        checked = check_trials(trials, allow_resample=False, skip_bad=True, skipped_path=listing)
    assert [t.trial_id for t in checked.trials] == ["good"]
    rows = [line.split("\t") for line in listing.read_text().splitlines()]
    assert rows[0] == ["trial_id", "path", "reason"]
    assert [row[0] for row in rows[1:]] == ["missing", "text", "empty", "rate8k", "tiny", "no_path"]
    assert [s.trial_id for s in checked.skipped] == [row[0] for row in rows[1:]]
    with pytest.raises(OutputExistsError, match="skipped.tsv already exists"):
        check_trials(trials, skip_bad=True, skipped_path=listing)
