"""Audio file reading for the countermeasures: mono float32 waveforms at a fixed sample rate.

Files are read with soundfile (libsndfile), which scales integer PCM to [-1, 1) (int16 / 32768,
int24 / 2**23, int32 / 2**31). Multichannel audio is averaged to mono with a warning; another sample
rate is converted with soxr (high quality) and logged. Every unusable file raises
:class:`~lcnn.errors.AudioError` with its path and the reason.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from typing import Iterable

import numpy as np
import soundfile
import soxr
import torch

from lcnn.errors import AudioError

__all__ = ["load_audio", "check_audio_files", "DEFAULT_MIN_DURATION"]

logger = logging.getLogger(__name__)

# One 20 ms analysis frame (320 samples at 16 kHz, the LFCC window): shorter audio carries no frame.
DEFAULT_MIN_DURATION = 0.02

# Source rates and channel counts already reported at INFO or WARNING level. Repeats go to DEBUG,
# so a dataset of thousands of 8 kHz or stereo files does not flood the log.
_reported_resampling: set[tuple[int, int]] = set()
_reported_downmix: set[int] = set()


def load_audio(
    path: str | os.PathLike,
    *,
    sample_rate: int = 16000,
    allow_resample: bool = True,
    min_samples: int | None = None,
) -> torch.Tensor:
    """Read an audio file as a mono float32 waveform at ``sample_rate``.

    Args:
        path: FLAC, WAV or any other format libsndfile reads.
        sample_rate: Hz of the returned waveform.
        allow_resample: convert other sample rates with soxr; when false, another rate raises.
        min_samples: shortest accepted length after resampling, in samples; None means
            :data:`DEFAULT_MIN_DURATION` seconds (320 samples at 16 kHz).

    Returns:
        ``(samples,)`` float32 tensor, integer PCM scaled to [-1, 1).

    Raises:
        AudioError: the file is missing, unreadable, empty, silent (all zeros), contains NaN or
            Inf, has another sample rate while ``allow_resample`` is false, or is shorter than
            ``min_samples``. The message names the file.
    """
    path = os.fspath(path)
    if min_samples is None:
        min_samples = max(1, math.ceil(DEFAULT_MIN_DURATION * sample_rate))
    if not os.path.isfile(path):
        raise AudioError(f"{path}: audio file not found.")
    # NOTE: libsndfile reads a WAV file cut short up to its end without an error, so such a file is
    # accepted with fewer samples than its header states. A truncated FLAC file raises.
    try:
        data, file_rate = soundfile.read(path, dtype="float32", always_2d=True)
    except (soundfile.SoundFileError, RuntimeError) as error:
        raise AudioError(
            f"{path}: cannot read audio ({error}); check that the file is a complete FLAC or WAV file."
        ) from None

    if data.shape[0] == 0:
        raise AudioError(f"{path}: the file contains no samples.")
    if not np.isfinite(data).all():
        bad = int(np.count_nonzero(~np.isfinite(data)))
        raise AudioError(f"{path}: {bad} samples are NaN or Inf; the file is corrupt or not normalised audio.")

    channels = data.shape[1]
    if channels > 1:
        _report_downmix(path, channels)
        data = data.mean(axis=1, dtype=np.float32)
    else:
        data = data[:, 0]
    if not np.any(data):
        raise AudioError(f"{path}: all {data.shape[0]} samples are zero (silent file).")
    peak = float(np.abs(data).max())
    if peak > 1.0:
        warnings.warn(f"{path}: floating-point samples reach {peak:.3g}, outside [-1, 1]; they are kept unscaled.",
                      stacklevel=2)

    if file_rate != sample_rate:
        if not allow_resample:
            raise AudioError(
                f"{path}: sample rate is {file_rate} Hz, expected {sample_rate} Hz. Resample the file "
                f"(for example `sox IN -r {sample_rate} OUT`) or allow resampling."
            )
        _report_resampling(path, file_rate, sample_rate)
        data = soxr.resample(data, file_rate, sample_rate, quality="HQ").astype(np.float32, copy=False)

    if data.shape[0] < min_samples:
        raise AudioError(
            f"{path}: {data.shape[0]} samples at {sample_rate} Hz ({data.shape[0] / sample_rate * 1000:.1f} ms), "
            f"shorter than the minimum of {min_samples} samples."
        )
    return torch.from_numpy(np.ascontiguousarray(data))


def check_audio_files(
    paths: Iterable[str | os.PathLike],
    *,
    sample_rate: int = 16000,
    min_samples: int | None = None,
    allow_resample: bool = True,
) -> list[tuple[str, str]]:
    """Read every file and return all that :func:`load_audio` rejects, so they can be reported together.

    Args:
        paths: audio files.
        sample_rate, min_samples, allow_resample: as in :func:`load_audio`.

    Returns:
        ``(path, reason)`` for each bad file, in input order; empty when all files are usable.
    """
    problems = []
    for path in paths:
        try:
            load_audio(path, sample_rate=sample_rate, allow_resample=allow_resample, min_samples=min_samples)
        except AudioError as error:
            problems.append((os.fspath(path), str(error)))
    return problems


def _report_resampling(path: str, file_rate: int, sample_rate: int) -> None:
    key = (file_rate, sample_rate)
    if key in _reported_resampling:
        logger.debug("resampling %s from %d Hz to %d Hz", path, file_rate, sample_rate)
        return
    _reported_resampling.add(key)
    logger.info(
        "resampling %s from %d Hz to %d Hz with soxr; further %d Hz files are logged at DEBUG level",
        path, file_rate, sample_rate, file_rate,
    )


def _report_downmix(path: str, channels: int) -> None:
    if channels in _reported_downmix:
        logger.debug("averaging %d channels of %s to mono", channels, path)
        return
    _reported_downmix.add(channels)
    warnings.warn(
        f"{path}: {channels} channels averaged to mono; further {channels}-channel files are logged "
        "at DEBUG level only.",
        stacklevel=3,
    )
