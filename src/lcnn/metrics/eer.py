"""Detection error trade-off (DET) curve and equal error rate (EER) of a countermeasure.

Convention: a higher score means bona fide. Rates are fractions in [0, 1], not percentages.

The curve and the EER follow the organisers' ASVspoof evaluation code (``tDCF_python`` v1 and v2,
and the 2021 evaluation package) step for step, so results agree with published tables:

* Bona fide and spoof scores are concatenated in that order and sorted with a stable sort. The
  curve has one point before the lowest score (miss rate 0, false-alarm rate 1) and one point after
  each sorted score ``k``, where the ``k`` lowest scores count as rejected. Within a group of tied
  scores the bona fide trials are therefore rejected first, and the curve moves through the tie one
  trial at a time instead of jumping over it.
* The EER is taken at the first point where ``|miss - false alarm|`` is smallest, as the mean of
  the two rates there. Its threshold is the score at that point, or the lowest score minus 0.001
  for the first point. Trials scoring at or below that threshold are the ones rejected there.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from lcnn.errors import DataError

__all__ = ["check_scores", "compute_det_curve", "compute_eer"]

# Offsets listed when a score array contains non-finite values.
_MAX_LISTED = 5


def check_scores(scores: Sequence[float] | np.ndarray, *, name: str = "scores") -> np.ndarray:
    """Convert scores to a finite 1-D float64 array, raising on anything else.

    Args:
        scores: 1-D array-like of real scores.
        name: what the scores are, used in error messages (for example ``"bona fide scores"``).

    Returns:
        The scores as a contiguous float64 array of shape ``(n,)``.

    Raises:
        DataError: the input is not 1-D or not numeric, is empty, or contains NaN or infinite
            values (the message gives their count and first positions).
    """
    try:
        array = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise DataError(f"{name} must be real numbers: {error}") from None
    if array.ndim != 1:
        raise DataError(f"{name} must be a 1-D array of scores, got shape {array.shape}.")
    if array.size == 0:
        raise DataError(f"{name} are empty: at least one score is needed.")
    bad = np.flatnonzero(~np.isfinite(array))
    if bad.size:
        listed = ", ".join(f"{int(i)} ({array[i]})" for i in bad[:_MAX_LISTED])
        more = ", ..." if bad.size > _MAX_LISTED else ""
        raise DataError(
            f"{name} contain {bad.size} non-finite value(s) (NaN or inf) at positions {listed}{more}; "
            "fix or remove those trials before evaluation."
        )
    return np.ascontiguousarray(array)


def compute_det_curve(
    bonafide_scores: Sequence[float] | np.ndarray, spoof_scores: Sequence[float] | np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Compute miss and false-alarm rates at every operating point, as the ASVspoof tools do.

    Args:
        bonafide_scores: scores of bona fide trials, shape ``(n_bonafide,)``.
        spoof_scores: scores of spoof trials, shape ``(n_spoof,)``.

    Returns:
        ``(miss_rates, false_alarm_rates, thresholds)``, each of shape ``(n_bonafide + n_spoof + 1,)``.
        ``miss_rates`` (bona fide rejected) rises from 0 to 1, ``false_alarm_rates`` (spoof accepted)
        falls from 1 to 0. ``thresholds[k]`` is the k-th lowest score for ``k >= 1``, and the lowest
        score minus 0.001 for ``k = 0``.

    Raises:
        DataError: either array is empty, not 1-D, or contains NaN or infinite values.
    """
    bonafide = check_scores(bonafide_scores, name="bona fide scores")
    spoof = check_scores(spoof_scores, name="spoof scores")
    all_scores = np.concatenate((bonafide, spoof))
    is_bonafide = np.concatenate((np.ones(bonafide.size), np.zeros(spoof.size)))

    order = np.argsort(all_scores, kind="stable")
    rejected_bonafide = np.cumsum(is_bonafide[order])
    positions = np.arange(1, all_scores.size + 1)
    accepted_spoof = spoof.size - (positions - rejected_bonafide)

    miss_rates = np.concatenate(([0.0], rejected_bonafide / bonafide.size))
    false_alarm_rates = np.concatenate(([1.0], accepted_spoof / spoof.size))
    sorted_scores = all_scores[order]
    thresholds = np.concatenate(([sorted_scores[0] - 0.001], sorted_scores))
    return miss_rates, false_alarm_rates, thresholds


def compute_eer(
    bonafide_scores: Sequence[float] | np.ndarray, spoof_scores: Sequence[float] | np.ndarray
) -> tuple[float, float]:
    """Compute the equal error rate and its threshold (higher score = bona fide).

    Args:
        bonafide_scores: scores of bona fide trials, shape ``(n_bonafide,)``.
        spoof_scores: scores of spoof trials, shape ``(n_spoof,)``.

    Returns:
        ``(eer, threshold)``: the EER as a fraction and the score at which it occurs. The same
        function gives the ASV EER threshold when called with target and nontarget scores.

    Raises:
        DataError: either array is empty, not 1-D, or contains NaN or infinite values.

    Example:
        >>> compute_eer([0.9, 0.8, 0.7, 0.2], [0.75, 0.3, 0.1, 0.05])
        (0.25, 0.3)
    """
    miss_rates, false_alarm_rates, thresholds = compute_det_curve(bonafide_scores, spoof_scores)
    index = int(np.argmin(np.abs(miss_rates - false_alarm_rates)))
    eer = (miss_rates[index] + false_alarm_rates[index]) / 2.0
    return float(eer), float(thresholds[index])
