"""Parallel synthesis of the demo corpus: read a source clip, write it and its vocoded copies."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from lcnn.demo.vocoders import vocode
from lcnn.errors import AudioError

__all__ = ["ClipTask", "run_tasks", "synthesise_clip"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClipTask:
    """One source clip and the files to make from it.

    Attributes:
        source: path of the bona fide recording.
        bonafide_id: utterance id of the bona fide copy in the corpus.
        spoofs: ``(utterance_id, vocoder_name, seed)`` per spoof, where ``seed`` initialises
            ``numpy.random.default_rng`` for that spoof alone.
        sample_rate: corpus sampling rate in Hz.
    """

    source: str
    bonafide_id: str
    spoofs: tuple[tuple[str, str, tuple[int, ...]], ...]
    sample_rate: int


def synthesise_clip(task: ClipTask, audio_dir: str | os.PathLike) -> dict[str, int]:
    """Write the bona fide copy and the spoofs of one clip as 16-bit WAV files.

    Without resampling, the bona fide file contains the source samples unchanged.

    Returns:
        Number of samples per written utterance id.

    Raises:
        AudioError: the source cannot be read, is not mono, or is silent.
    """
    audio_dir = Path(audio_dir)
    try:
        pcm, source_rate = sf.read(task.source, dtype="int16")
    except (sf.LibsndfileError, RuntimeError) as error:
        raise AudioError(f"cannot read {task.source}: {error}") from error
    if pcm.ndim != 1:
        raise AudioError(f"{task.source} has {pcm.shape[1]} channels; the demo corpus expects mono recordings")
    if not np.any(pcm):
        raise AudioError(f"{task.source} is silent (all samples are zero); remove it from the source folder")

    if source_rate == task.sample_rate:
        waveform = pcm / 32768.0
        sf.write(audio_dir / f"{task.bonafide_id}.wav", pcm, task.sample_rate, subtype="PCM_16")
    else:
        waveform = np.clip(soxr.resample(pcm / 32768.0, source_rate, task.sample_rate), -1.0, 1.0)
        sf.write(audio_dir / f"{task.bonafide_id}.wav", waveform, task.sample_rate, subtype="PCM_16")

    lengths = {task.bonafide_id: len(waveform)}
    for utterance_id, vocoder_name, seed in task.spoofs:
        spoof = vocode(vocoder_name, waveform, task.sample_rate, np.random.default_rng(seed))
        sf.write(audio_dir / f"{utterance_id}.wav", spoof, task.sample_rate, subtype="PCM_16")
        lengths[utterance_id] = len(spoof)
    return lengths


def _run_one(arguments: tuple[ClipTask, str]) -> dict[str, int]:
    return synthesise_clip(*arguments)


def run_tasks(tasks: list[ClipTask], audio_dir: str | os.PathLike, *, workers: int = 2) -> dict[str, int]:
    """Run :func:`synthesise_clip` on every task, in ``workers`` processes when ``workers`` > 1.

    The pool starts its processes with ``spawn``, because a forked child of a process that runs
    PyTorch or OpenMP threads can deadlock.

    Returns:
        Number of samples per written utterance id.
    """
    arguments = [(task, str(audio_dir)) for task in tasks]
    lengths: dict[str, int] = {}
    step = max(1, len(tasks) // 10)
    with contextlib.ExitStack() as stack:
        if workers == 1:
            results = map(_run_one, arguments)
        else:
            pool = stack.enter_context(multiprocessing.get_context("spawn").Pool(workers))
            results = pool.imap_unordered(_run_one, arguments, chunksize=8)
        for done, result in enumerate(results, start=1):
            lengths.update(result)
            if done % step == 0:
                logger.info("synthesised %d of %d source clips", done, len(tasks))
    return lengths
