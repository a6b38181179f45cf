"""Countermeasure and ASV score files, and joining scores to a protocol by trial id.

CM score formats (whitespace-separated, one trial a line, gzip allowed; higher score = bona fide):

* two columns ``TRIAL SCORE`` (ASVspoof 2021 submissions, ``lcnn score`` output);
* four columns ``TRIAL ATTACK KEY SCORE`` (``tDCF_python`` v1 CM score files, AIR-ASVspoof);
* six columns ``SPEAKER TRIAL ENV ATTACK KEY SCORE`` (the 2019 baselines' primary score files);
* a MATLAB v5 ``.mat`` file with one numeric vector of scores in protocol order, without ids
  (for example the LFCC-GMM scores of the RawNet2 repository). Such a file is joined to the
  protocol by position.

ASV score files (organisers' ``ASVspoof2019.LA.asv.*.gi.trl.scores.txt``) have three columns
``SOURCE KEY SCORE``, with SOURCE ``bonafide`` or the attack id and KEY ``target``, ``nontarget``
or ``spoof``.
"""

from __future__ import annotations

import gzip
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, Sequence

import numpy as np

from lcnn.data.protocols import BONAFIDE, SPOOF, Trial
from lcnn.errors import DataError

__all__ = ["AsvScores", "ScoreFile", "join_scores", "read_asv_scores", "read_score_file", "trials_from_score_file"]

logger = logging.getLogger(__name__)

# Ids or line numbers listed in an error message before the rest is given as a count.
_MAX_LISTED = 5
_KEYS = {"bonafide": BONAFIDE, "spoof": SPOOF}
# Column count -> (trial id, attack, key, score) column indices; None where the format has no such column.
_LAYOUTS = {2: (0, None, None, 1), 4: (0, 1, 2, 3), 6: (1, 3, 4, 5)}
_LAYOUT_NAMES = {2: "TRIAL SCORE", 4: "TRIAL ATTACK KEY SCORE", 6: "SPEAKER TRIAL ENV ATTACK KEY SCORE"}


@dataclass(frozen=True)
class ScoreFile:
    """Scores read from one file.

    Attributes:
        path: the file read.
        scores: float64 scores, shape ``(n,)``, higher = bona fide.
        trial_ids: trial ids in file order, or None for id-less files (``.mat``), which follow
            protocol order.
        labels: 1 bona fide / 0 spoof per line when the file has a key column, else None.
        attacks: attack id per line when the file has one (``"-"`` for bona fide), else None.
        columns: number of columns of the text format, or 0 for ``.mat``.
    """

    path: str
    scores: np.ndarray
    trial_ids: list[str] | None
    labels: np.ndarray | None
    attacks: list[str] | None
    columns: int


@dataclass(frozen=True)
class AsvScores:
    """ASV scores split by key, as the t-DCF needs them.

    Attributes:
        target: scores of bona fide target trials.
        nontarget: scores of bona fide nontarget trials.
        spoof: scores of spoofed trials.
        spoof_attacks: attack id of each spoof score, or None when the file does not give one.
    """

    target: np.ndarray
    nontarget: np.ndarray
    spoof: np.ndarray
    spoof_attacks: np.ndarray | None


def _open_text(path: Path) -> IO[str]:
    with open(path, "rb") as handle:
        magic = handle.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def _examples(items: Sequence[object]) -> str:
    listed = ", ".join(str(item) for item in items[:_MAX_LISTED])
    return listed + (", ..." if len(items) > _MAX_LISTED else "")


def _parse_score(text: str, path: Path, line_number: int, line: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise DataError(f"{path}:{line_number}: the score {text!r} is not a number: {line.rstrip()!r}") from None


def _check_finite(scores: np.ndarray, locations: Callable[[int], str], path: Path) -> None:
    bad = np.flatnonzero(~np.isfinite(scores))
    if bad.size:
        where = _examples([f"{locations(int(i))} ({scores[i]})" for i in bad[: _MAX_LISTED + 1]])
        raise DataError(
            f"{path}: {bad.size} score(s) are NaN or infinite, at {where}; fix the scoring run or "
            "remove those trials."
        )


def _read_mat(path: Path) -> ScoreFile:
    import scipy.io

    try:
        content = scipy.io.loadmat(path)
    except (ValueError, NotImplementedError, OSError) as error:
        raise DataError(f"{path}: cannot read the MATLAB file: {error}") from None
    arrays = {
        name: value
        for name, value in content.items()
        if not name.startswith("__") and isinstance(value, np.ndarray) and value.dtype.kind in "fiu"
    }
    if len(arrays) != 1:
        raise DataError(
            f"{path}: expected exactly one numeric variable holding the scores, found "
            f"{sorted(arrays) or 'none'}."
        )
    (name, value), = arrays.items()
    if value.ndim > 2 or min(value.shape) != 1:
        raise DataError(f"{path}: the variable {name!r} must be a score vector, got shape {value.shape}.")
    scores = value.astype(np.float64).ravel()
    _check_finite(scores, lambda index: f"index {index}", path)
    return ScoreFile(path=str(path), scores=scores, trial_ids=None, labels=None, attacks=None, columns=0)


def read_score_file(path: str | os.PathLike) -> ScoreFile:
    """Read a countermeasure score file (formats in the module docstring).

    Args:
        path: text file (plain or gzip) or MATLAB ``.mat`` file.

    Returns:
        The scores with their ids, and keys and attacks where the file has them.

    Raises:
        DataError: the file is missing or empty, a line has another column count than the first,
            a score is not a number, or a key is not bonafide/spoof. Also raised for NaN or
            infinite scores and repeated trial ids. The message gives the file and line numbers.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"score file not found: {path}")
    if path.suffix.lower() == ".mat":
        return _read_mat(path)

    trial_ids: list[str] = []
    scores: list[float] = []
    labels: list[int] = []
    attacks: list[str] = []
    line_numbers: list[int] = []
    first_line: dict[str, int] = {}
    duplicates: list[str] = []
    columns = 0
    try:
        with _open_text(path) as handle:
            for line_number, line in enumerate(handle, start=1):
                fields = line.split()
                if not fields or fields[0].startswith("#"):
                    continue
                if columns == 0:
                    columns = len(fields)
                    if columns not in _LAYOUTS:
                        raise DataError(
                            f"{path}:{line_number}: a score line has {columns} columns; expected "
                            f"{' or '.join(_LAYOUT_NAMES.values())}: {line.rstrip()!r}"
                        )
                    id_column, attack_column, key_column, score_column = _LAYOUTS[columns]
                elif len(fields) != columns:
                    raise DataError(
                        f"{path}:{line_number}: expected {columns} columns as on the first line, got "
                        f"{len(fields)}: {line.rstrip()!r}"
                    )
                trial_id = fields[id_column]
                previous = first_line.setdefault(trial_id, line_number)
                if previous != line_number:
                    duplicates.append(f"{trial_id} (lines {previous} and {line_number})")
                trial_ids.append(trial_id)
                scores.append(_parse_score(fields[score_column], path, line_number, line))
                line_numbers.append(line_number)
                if key_column is not None:
                    label = _KEYS.get(fields[key_column].lower())
                    if label is None:
                        raise DataError(
                            f"{path}:{line_number}: the key must be 'bonafide' or 'spoof', got "
                            f"{fields[key_column]!r}: {line.rstrip()!r}"
                        )
                    labels.append(label)
                    attacks.append("-" if label == BONAFIDE else fields[attack_column])
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: not a UTF-8 text score file ({error}).") from None
    if not scores:
        raise DataError(f"{path}: the score file contains no score.")
    if duplicates:
        raise DataError(
            f"{path}: {len(duplicates)} trial id(s) are scored more than once: {_examples(duplicates)}; "
            "keep one score per trial."
        )
    score_array = np.asarray(scores, dtype=np.float64)
    _check_finite(score_array, lambda index: f"line {line_numbers[index]}", path)
    has_keys = _LAYOUTS[columns][2] is not None
    return ScoreFile(
        path=str(path),
        scores=score_array,
        trial_ids=trial_ids,
        labels=np.asarray(labels, dtype=np.int8) if has_keys else None,
        attacks=attacks if has_keys else None,
        columns=columns,
    )


def trials_from_score_file(score_file: ScoreFile) -> list[Trial]:
    """Build the trial list from the keys of a four- or six-column score file.

    Raises:
        DataError: the file has no key column (two-column or ``.mat``), so a protocol is needed.
    """
    if score_file.labels is None or score_file.trial_ids is None or score_file.attacks is None:
        raise DataError(
            f"{score_file.path}: the score file has no key column, so labels must come from a protocol "
            "(pass --protocol)."
        )
    return [
        Trial(trial_id=trial_id, label=int(label), attack=attack)
        for trial_id, label, attack in zip(score_file.trial_ids, score_file.labels, score_file.attacks)
    ]


def join_scores(
    score_file: ScoreFile, trials: Sequence[Trial], *, allow_missing: bool = False
) -> tuple[list[Trial], np.ndarray, list[str]]:
    """Pair each protocol trial with its score.

    Args:
        score_file: scores as read by :func:`read_score_file`.
        trials: the protocol's trials; all must be labelled.
        allow_missing: evaluate the trials present in both instead of raising when the score file
            and the protocol list different trials.

    Returns:
        ``(trials, scores, notes)``: the scored trials in protocol order, their scores as a
        float64 array, and notes on anything dropped.

    Raises:
        DataError: protocol trials lack a score or scored ids are not in the protocol (unless
            ``allow_missing``), or no trial is in both. Also raised when an id-less file has another
            length than the protocol, when keys in the score file contradict the protocol, and
            when a trial has no label.
    """
    source = score_file.path
    if not trials:
        raise DataError("the protocol contains no trial.")
    if score_file.trial_ids is None:
        if score_file.scores.size != len(trials):
            raise DataError(
                f"{source}: the file has {score_file.scores.size} scores without trial ids, so it must "
                f"follow the protocol order line by line, but the protocol has {len(trials)} trials."
            )
        selected, scores, notes = list(trials), score_file.scores, []
    else:
        position = {trial_id: index for index, trial_id in enumerate(score_file.trial_ids)}
        protocol_ids = {trial.trial_id for trial in trials}
        missing = [trial.trial_id for trial in trials if trial.trial_id not in position]
        extra = [trial_id for trial_id in score_file.trial_ids if trial_id not in protocol_ids]
        notes = []
        if missing or extra:
            parts = []
            if missing:
                parts.append(
                    f"{len(missing)} of {len(trials)} protocol trials have no score (first: {_examples(missing)})"
                )
            if extra:
                parts.append(
                    f"{len(extra)} of {len(score_file.trial_ids)} scored trials are not in the protocol "
                    f"(first: {_examples(extra)})"
                )
            message = f"{source}: " + "; ".join(parts)
            common = len(trials) - len(missing)
            if not allow_missing or common == 0:
                hint = (
                    "no trial is in both; check that the protocol and the score file are of the same split."
                    if common == 0
                    else f"pass --allow-missing (allow_missing=True) to evaluate the {common} trials in both."
                )
                raise DataError(f"{message}; {hint}")
            logger.warning("%s; evaluating the %d trials in both.", message, common)
            notes.append(f"{message}; evaluated the {common} trials in both.")
        selected = [trial for trial in trials if trial.trial_id in position]
        indices = np.fromiter((position[trial.trial_id] for trial in selected), dtype=np.int64, count=len(selected))
        scores = score_file.scores[indices]
        if score_file.labels is not None:
            file_labels = score_file.labels[indices]
            conflicts = [
                trial.trial_id for trial, label in zip(selected, file_labels) if trial.label is not None and trial.label != label
            ]
            if conflicts:
                raise DataError(
                    f"{source}: the key column contradicts the protocol for {len(conflicts)} trials "
                    f"(first: {_examples(conflicts)}); check that both belong to the same data set."
                )

    unlabelled = [trial.trial_id for trial in selected if trial.label is None]
    if unlabelled:
        raise DataError(
            f"{len(unlabelled)} trials have no bonafide/spoof label in the protocol (first: "
            f"{_examples(unlabelled)}); evaluation needs a labelled protocol or key file."
        )
    return selected, scores, notes


def read_asv_scores(path: str | os.PathLike) -> AsvScores:
    """Read an ASV score file of lines ``SOURCE KEY SCORE`` (organisers' 2019 ASV scores).

    Raises:
        DataError: the file is missing, a line is malformed (file and line number), a score is
            NaN or infinite, or target, nontarget or spoof scores are absent.
    """
    # NOTE: ASVspoof 2021 ASV scores come as two files (``asv_spk trial score`` plus a key file);
    # that layout is not read here.
    path = Path(path)
    if not path.is_file():
        raise DataError(f"ASV score file not found: {path}")
    groups: dict[str, list[float]] = {"target": [], "nontarget": [], "spoof": []}
    spoof_sources: list[str] = []
    with _open_text(path) as handle:
        for line_number, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            if len(fields) != 3:
                raise DataError(
                    f"{path}:{line_number}: expected 3 columns SOURCE KEY SCORE, got {len(fields)}: {line.rstrip()!r}"
                )
            source, key, text = fields
            if key not in groups:
                raise DataError(
                    f"{path}:{line_number}: the key must be target, nontarget or spoof, got {key!r}: {line.rstrip()!r}"
                )
            score = _parse_score(text, path, line_number, line)
            if not math.isfinite(score):
                raise DataError(f"{path}:{line_number}: the ASV score is not finite: {line.rstrip()!r}")
            groups[key].append(score)
            if key == "spoof":
                spoof_sources.append(source)
    empty = [key for key, values in groups.items() if not values]
    if empty:
        raise DataError(f"{path}: no {' / '.join(empty)} ASV scores; the t-DCF needs all three kinds.")
    has_attacks = any(source != "spoof" for source in spoof_sources)
    return AsvScores(
        target=np.asarray(groups["target"]),
        nontarget=np.asarray(groups["nontarget"]),
        spoof=np.asarray(groups["spoof"]),
        spoof_attacks=np.asarray(spoof_sources) if has_attacks else None,
    )
