"""Score trial lists with a countermeasure and stream the results to an ASVspoof score file.

Audio is decoded in DataLoader worker processes and batched by length. Score lines are written as
batches complete, in input order, so memory keeps at most one window of pending lines however long
the list is. A score file goes to a temporary file that replaces the target only after the last
line is written and synced, so an interrupted run never leaves a truncated score file behind.

Score files follow the official layouts:

* ``2019``: four columns ``trial_id attack key score``. ``attack`` is ``-`` for bona fide and
  unknown trials, and ``key`` is ``bonafide``, ``spoof`` or ``-`` when the label is unknown.
* ``2021``: two columns ``trial_id score``, the layout of ASVspoof 2021 score files.

Higher scores mean bona fide.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Callable, Iterator, Sequence

import numpy as np
import torch

from lcnn.data.audio_check import BadFile, check_trials, write_bad_files
from lcnn.data.audio_dataset import AudioBatch, AudioDataset, build_audio_loader
from lcnn.errors import AudioError, ConfigError, DataError
from lcnn.fileio import atomic_write, check_writable

if TYPE_CHECKING:
    from lcnn.data.protocols import Trial

__all__ = ["SCORE_FORMATS", "ScoreSummary", "format_score_line", "load_scorer", "score_trials"]

logger = logging.getLogger(__name__)

SCORE_FORMATS = ("2019", "2021")
# Trials per ordering window. The scorer sorts each window by length and keeps at most one window of
# score lines in memory while it restores input order.
DEFAULT_WINDOW = 4096
_KEY_NAMES = {1: "bonafide", 0: "spoof"}


@dataclass
class ScoreSummary:
    """Counts and timings of one :func:`score_trials` run.

    Attributes:
        scored: trials written to the score file.
        skipped: trials left out because their audio is unusable.
        audio_seconds: seconds of audio passed to the model (the crop length per trial when cropping).
        wall_seconds: elapsed time from loading the model to the end of the run.
    """

    scored: int
    skipped: list[BadFile] = field(default_factory=list)
    audio_seconds: float = 0.0
    wall_seconds: float = 0.0


def format_score_line(trial: Trial, score: float, score_format: str) -> str:
    """Return one score-file line (without newline) in the ``2019`` or ``2021`` layout."""
    if score_format == "2021":
        return f"{trial.trial_id} {score:.6f}"
    key = _KEY_NAMES.get(trial.label, "-")
    attack = trial.attack if trial.label is not None and trial.attack else "-"
    return f"{trial.trial_id} {attack} {key} {score:.6f}"


class _TorchScorer:
    """Adapter that runs a PyTorch countermeasure under no_grad in eval mode."""

    def __init__(self, model: torch.nn.Module, device: str | torch.device) -> None:
        self.model = model.to(device).eval()
        self.device = torch.device(device)
        self.sample_rate = int(getattr(model, "sample_rate", 16000))
        self.min_samples = getattr(model, "min_samples", None) or _model_min_samples(model)
        self.name = type(model).__name__

    def __call__(self, waveform: torch.Tensor, lengths: torch.Tensor) -> np.ndarray:
        with torch.inference_mode():
            scores = self.model(waveform.to(self.device), lengths.to(self.device))
        return scores.float().cpu().numpy().reshape(-1)


def _model_min_samples(model: torch.nn.Module) -> int | None:
    """Return the shortest waveform ``model`` accepts, or None when it has no front end with ``num_frames``."""
    if not hasattr(getattr(model, "frontend", None), "num_frames"):
        return None
    from lcnn.export import minimum_samples

    return minimum_samples(model)


class _OnnxAdapter:
    """Adapter around :class:`lcnn.export.OnnxScorer`."""

    def __init__(self, scorer) -> None:
        self.scorer = scorer
        self.sample_rate = int(scorer.sample_rate)
        self.min_samples = getattr(scorer, "min_samples", None)
        self.name = f"ONNX {getattr(scorer, 'path', '')}".strip()

    def __call__(self, waveform: torch.Tensor, lengths: torch.Tensor) -> np.ndarray:
        # NOTE: the ONNX export has no lengths input and scores each row as a whole utterance, so
        # rows are run in groups of equal length, without padding. Whole-utterance batches of
        # varied lengths therefore run close to one utterance per call.
        scores = np.empty(len(lengths), dtype=np.float64)
        lengths_np = lengths.numpy()
        for length in np.unique(lengths_np):
            rows = np.flatnonzero(lengths_np == length)
            scores[rows] = np.asarray(self.scorer(waveform[rows, :length].numpy())).reshape(-1)
        return scores


def load_scorer(
    model_or_path, *, device: str | torch.device = "cpu", num_threads: int | None = None
) -> Callable[[torch.Tensor, torch.Tensor], np.ndarray]:
    """Wrap a countermeasure, a checkpoint path or an ONNX file as ``scorer(waveform, lengths) -> scores``.

    Args:
        model_or_path: a :class:`torch.nn.Module` countermeasure, an :class:`lcnn.export.OnnxScorer`,
            a path to an ``.onnx`` export, or a path to an lcnn or Lightning checkpoint.
        device: device of a PyTorch model; ONNX runs on the CPU.
        num_threads: intra-op threads of an ONNX file opened here (ONNX Runtime's default when
            None). PyTorch's thread count is process-wide; set it with ``torch.set_num_threads``.

    Returns:
        A callable with attributes ``sample_rate``, ``min_samples`` and ``name``.

    Raises:
        CheckpointError, ExportError: the file cannot be loaded.
        FileNotFoundError: the path does not exist.
    """
    if isinstance(model_or_path, (_TorchScorer, _OnnxAdapter)):
        return model_or_path
    if isinstance(model_or_path, torch.nn.Module):
        return _TorchScorer(model_or_path, device)
    if isinstance(model_or_path, (str, os.PathLike)):
        path = Path(model_or_path)
        if not path.is_file():
            raise FileNotFoundError(f"model file not found: {path}")
        if path.suffix.lower() == ".onnx":
            from lcnn.export import OnnxScorer

            return _OnnxAdapter(OnnxScorer(path, num_threads=num_threads))
        from lcnn.checkpoint import load_countermeasure

        model, _ = load_countermeasure(path, map_location=device)
        return _TorchScorer(model, device)
    return _OnnxAdapter(model_or_path)


@contextlib.contextmanager
def _open_output(out: str | os.PathLike | IO[str], force: bool) -> Iterator[IO[str]]:
    if isinstance(out, (str, os.PathLike)):
        with atomic_write(out, "w", force=force) as handle:
            yield handle
    else:
        yield out


def _check_settings(score_format: str, batch_size: int | None, max_batch_seconds: float | None, workers: int) -> None:
    if score_format not in SCORE_FORMATS:
        raise ConfigError(f"score_format must be one of {', '.join(SCORE_FORMATS)}; got {score_format!r}.")
    if batch_size is None and max_batch_seconds is None:
        raise ConfigError("set batch_size, max_batch_seconds or both; got neither.")
    if batch_size is not None and batch_size <= 0:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size}.")
    if max_batch_seconds is not None and not max_batch_seconds > 0:
        raise ConfigError(f"max_batch_seconds must be positive, got {max_batch_seconds}.")
    if workers < 0:
        raise ConfigError(f"workers must be 0 or more, got {workers}.")


def _check_unique_ids(trials: Sequence[Trial]) -> None:
    seen: set[str] = set()
    repeated: list[str] = []
    for trial in trials:
        if trial.trial_id in seen:
            repeated.append(trial.trial_id)
        seen.add(trial.trial_id)
    if repeated:
        listed = ", ".join(repeated[:10]) + (", ..." if len(repeated) > 10 else "")
        raise DataError(
            f"{len(repeated)} trial ids occur more than once, so their score lines would be "
            f"ambiguous: {listed}. Rename the files or remove the repeated protocol lines."
        )


def score_trials(
    model_or_onnx,
    trials: Sequence[Trial],
    out: str | os.PathLike | IO[str],
    *,
    score_format: str = "2019",
    batch_size: int | None = 32,
    workers: int = 2,
    max_batch_seconds: float | None = None,
    crop_samples: int | None = None,
    allow_resample: bool = True,
    skip_bad: bool = False,
    skipped_path: str | os.PathLike | None = None,
    force: bool = False,
    progress: Callable[[int, int], None] | None = None,
    device: str | torch.device = "cpu",
    num_threads: int | None = None,
    window_size: int = DEFAULT_WINDOW,
) -> ScoreSummary:
    """Score every trial and write one line per trial, in input order, to a score file.

    Args:
        model_or_onnx: a countermeasure module, a checkpoint path, an ``.onnx`` path or an
            :class:`lcnn.export.OnnxScorer` (see :func:`load_scorer`).
        trials: trials with ``path`` set and unique ids.
        out: score-file path (written atomically) or an open text stream (written line by line).
        score_format: ``"2019"`` (``trial_id attack key score``) or ``"2021"`` (``trial_id score``).
        batch_size: int > 0, maximum trials per batch, or None for no count limit.
        workers: int >= 0, decoding processes; 0 decodes in this process.
        max_batch_seconds: float > 0, maximum padded audio per batch in seconds, or None.
        crop_samples: score a fixed-length input (first samples, tiled when shorter) for models
            trained that way; None scores whole utterances with their lengths passed to the model.
        allow_resample: resample audio at another sample rate; if False such files are unusable.
        skip_bad: leave out unusable files instead of raising (see
            :func:`lcnn.data.audio_check.check_trials`); decoding failures are skipped as well.
        skipped_path: file that receives the skipped trials when ``skip_bad`` is set.
        force: overwrite existing ``out`` and ``skipped_path`` files.
        progress: called after each batch as ``progress(done, total)`` in trials.
        device: device of a PyTorch model.
        num_threads: intra-op threads of an ONNX file given by path (see :func:`load_scorer`).
        window_size: int > 0, trials per ordering window (memory bound of pending lines).

    Returns:
        Counts, skipped trials and timings.

    Raises:
        ConfigError: a setting is invalid.
        DataError: trial ids repeat, audio is unusable without ``skip_bad``, or the model returns a
            non-finite score.
        OutputExistsError: ``out`` or ``skipped_path`` exists and ``force`` is false.
    """
    _check_settings(score_format, batch_size, max_batch_seconds, workers)
    if isinstance(out, (str, os.PathLike)):
        check_writable(out, force=force)
    if skip_bad and skipped_path is not None:
        check_writable(skipped_path, force=force)
    _check_unique_ids(trials)
    started = time.perf_counter()

    scorer = load_scorer(model_or_onnx, device=device, num_threads=num_threads)
    # A fixed-length input is tiled from clips of any length, so only whole utterances must be
    # long enough for the model.
    min_samples = scorer.min_samples
    if crop_samples is not None:
        if min_samples is not None and crop_samples < min_samples:
            raise ConfigError(
                f"crop_samples={crop_samples} is shorter than the {min_samples} samples the model needs; "
                f"use at least {min_samples}."
            )
        min_samples = None
    checked = check_trials(
        trials,
        sample_rate=scorer.sample_rate,
        allow_resample=allow_resample,
        min_samples=min_samples,
        skip_bad=skip_bad,
    )
    dataset = AudioDataset(
        checked.trials,
        sample_rate=scorer.sample_rate,
        allow_resample=allow_resample,
        min_samples=min_samples,
        crop_samples=crop_samples,
        # Failures come back in AudioBatch.failed, so a worker's error is raised here without the
        # DataLoader's worker traceback.
        skip_errors=True,
    )
    lengths = checked.lengths if crop_samples is None else np.full(len(dataset), crop_samples, dtype=np.int64)
    max_batch_samples = None if max_batch_seconds is None else int(max_batch_seconds * scorer.sample_rate)
    loader = build_audio_loader(
        dataset,
        lengths,
        batch_size=batch_size,
        max_batch_samples=max_batch_samples,
        shuffle=False,
        workers=workers,
        window_size=window_size,
    )
    logger.info(
        "Scoring %d trials with %s (%d decoding workers, batch size %s, max batch %s s)",
        len(dataset), scorer.name, workers, batch_size, max_batch_seconds,
    )

    skipped = list(checked.skipped)
    summary = ScoreSummary(scored=0, skipped=skipped)
    with _open_output(out, force) as handle:
        pending: dict[int, str | None] = {}
        next_index = 0
        done = 0
        for batch in loader:
            for index, trial_id, reason in batch.failed:
                if not skip_bad:
                    raise AudioError(f"{reason} Fix or remove the file, or skip unusable files (lcnn score --skip-bad FILE).")
                logger.warning("Skipping %s: %s", trial_id, reason)
                skipped.append(BadFile(trial_id, dataset.trials[index].path, reason))
                pending[index] = None
            if len(batch):
                scores = _score_batch(scorer, batch)
                summary.audio_seconds += float(batch.lengths.sum()) / scorer.sample_rate
                for index, score in zip(batch.indices.tolist(), scores.tolist()):
                    pending[index] = format_score_line(dataset.trials[index], score, score_format)
            while next_index in pending:
                line = pending.pop(next_index)
                if line is not None:
                    handle.write(line + "\n")
                    summary.scored += 1
                next_index += 1
            handle.flush()
            done += len(batch) + len(batch.failed)
            if progress is not None:
                progress(done, len(dataset))

    if skip_bad and skipped_path is not None:
        write_bad_files(skipped_path, skipped, force=force)
    summary.wall_seconds = time.perf_counter() - started
    rate = summary.audio_seconds / summary.wall_seconds if summary.wall_seconds > 0 else math.inf
    logger.info(
        "Scored %d trials (%.1f s of audio) in %.1f s, %.1f s of audio per second; %d skipped",
        summary.scored, summary.audio_seconds, summary.wall_seconds, rate, len(skipped),
    )
    return summary


def _score_batch(scorer, batch: AudioBatch) -> np.ndarray:
    scores = scorer(batch.waveform, batch.lengths)
    if scores.shape != (len(batch),):
        raise ValueError(f"the model returned {scores.shape} scores for a batch of {len(batch)} trials.")
    bad = ~np.isfinite(scores)
    if bad.any():
        ids = [batch.trial_ids[i] for i in np.flatnonzero(bad)[:10]]
        raise DataError(
            f"the model returned non-finite scores for {int(bad.sum())} trials, first {', '.join(ids)}; "
            "check these audio files and the checkpoint."
        )
    return scores
