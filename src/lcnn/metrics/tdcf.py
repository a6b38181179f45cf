"""Tandem detection cost function (t-DCF) of a countermeasure (CM) in front of a speaker verifier (ASV).

Two forms are in use, both minimised over the CM threshold ``s``:

* 2019 (legacy, ASVspoof 2019 challenge; Kinnunen et al., Odyssey 2018)::

      t-DCF(s) = (C1 Pmiss_cm(s) + C2 Pfa_cm(s)) / min(C1, C2)

* 2021 (revised and normalised, ASVspoof 2021; Kinnunen et al., IEEE/ACM TASLP 28, 2020)::

      t-DCF(s) = (C0 + C1 Pmiss_cm(s) + C2 Pfa_cm(s)) / (C0 + min(C1, C2))

with, from the ASV error rates at a fixed ASV threshold and the cost model::

      C0 = Ptar Cmiss Pmiss_asv + Pnon Cfa Pfa_asv
      C1 = Ptar Cmiss - C0
      C2 = Pspoof Cfa_spoof Pfa_spoof_asv

The 2019 form uses the same C1 and C2 (written there with ``Cmiss_cm = Cmiss_asv = Cmiss``,
``Cfa_asv = Cfa`` and ``Cfa_cm = Cfa_spoof``), so it equals the 2021 curve with ``C0 = 0``.

The ASV threshold is, as in the organisers' ``tDCF_python`` packages, the EER threshold of the ASV
target versus nontarget scores (:func:`lcnn.metrics.eer.compute_eer`). A target is missed when its
score is below the threshold, and a nontarget or spoof is accepted when its score is at or above it.
A threshold fixed elsewhere (for example on development ASV scores) can be passed instead. The CM
rates come from :func:`lcnn.metrics.eer.compute_det_curve`, so ties are handled as the official code
handles them. Every arithmetic step follows the official order, so values agree to the last digit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from lcnn.errors import ConfigError, DataError
from lcnn.metrics.eer import check_scores, compute_det_curve, compute_eer

__all__ = [
    "ASVSPOOF_COST_MODEL",
    "AsvErrorRates",
    "CostModel",
    "asv_error_rates",
    "legacy_tdcf_coefficients",
    "min_tdcf_2019",
    "min_tdcf_2021",
    "min_tdcf_from_coefficients",
    "tdcf_coefficients",
    "tdcf_curve",
]

ArrayLike = Sequence[float] | np.ndarray


@dataclass(frozen=True)
class CostModel:
    """Priors and costs of the tandem system (defaults: the ASVspoof 2019 and 2021 model).

    Attributes:
        p_spoof: prior of a spoofing attack.
        p_target: prior of a target speaker, ``(1 - p_spoof) * 0.99`` by default.
        p_nontarget: prior of a nontarget (zero-effort impostor), ``(1 - p_spoof) * 0.01``.
        c_miss: cost of rejecting a target (``Cmiss_asv`` and ``Cmiss_cm`` in the 2019 code).
        c_fa: cost of accepting a nontarget (``Cfa_asv`` in the 2019 code).
        c_fa_spoof: cost of accepting a spoof (``Cfa_cm`` in the 2019 code).

    Raises:
        ConfigError: a prior or cost is negative or not finite, or the priors do not sum to 1.
    """

    p_spoof: float = 0.05
    p_target: float = (1 - 0.05) * 0.99
    p_nontarget: float = (1 - 0.05) * 0.01
    c_miss: float = 1.0
    c_fa: float = 10.0
    c_fa_spoof: float = 10.0

    def __post_init__(self) -> None:
        for name in ("p_spoof", "p_target", "p_nontarget", "c_miss", "c_fa", "c_fa_spoof"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ConfigError(f"t-DCF cost model: {name} must be a finite number >= 0, got {value}.")
        total = self.p_spoof + self.p_target + self.p_nontarget
        if abs(total - 1.0) > 1e-10:
            raise ConfigError(
                f"t-DCF cost model: priors must sum to 1, got p_spoof {self.p_spoof} + p_target "
                f"{self.p_target} + p_nontarget {self.p_nontarget} = {total}."
            )


ASVSPOOF_COST_MODEL = CostModel()


@dataclass(frozen=True)
class AsvErrorRates:
    """Error rates of the ASV system at a fixed threshold (fractions).

    Attributes:
        threshold: ASV score threshold; scores at or above it are accepted.
        p_miss: targets rejected (score below the threshold).
        p_fa: nontargets accepted.
        p_miss_spoof: spoofs rejected.
        p_fa_spoof: spoofs accepted.
    """

    threshold: float
    p_miss: float
    p_fa: float
    p_miss_spoof: float
    p_fa_spoof: float


def asv_error_rates(
    target_scores: ArrayLike,
    nontarget_scores: ArrayLike,
    spoof_scores: ArrayLike,
    *,
    threshold: float | None = None,
) -> AsvErrorRates:
    """Compute the ASV miss and false-alarm rates that the t-DCF needs.

    Args:
        target_scores: ASV scores of bona fide target trials, shape ``(n_target,)``.
        nontarget_scores: ASV scores of bona fide nontarget trials, shape ``(n_nontarget,)``.
        spoof_scores: ASV scores of spoofed target trials, shape ``(n_spoof,)``.
        threshold: ASV threshold. None (default) takes the EER threshold of ``target_scores``
            versus ``nontarget_scores``, as the ASVspoof tools do.

    Returns:
        The rates at that threshold.

    Raises:
        DataError: a score array is empty or contains NaN or infinite values, or ``threshold`` is
            not finite.
    """
    target = check_scores(target_scores, name="ASV target scores")
    nontarget = check_scores(nontarget_scores, name="ASV nontarget scores")
    spoof = check_scores(spoof_scores, name="ASV spoof scores")
    if threshold is None:
        threshold = compute_eer(target, nontarget)[1]
    elif not math.isfinite(threshold):
        raise DataError(f"ASV threshold must be a finite number, got {threshold}.")
    return AsvErrorRates(
        threshold=float(threshold),
        p_miss=int(np.sum(target < threshold)) / target.size,
        p_fa=int(np.sum(nontarget >= threshold)) / nontarget.size,
        p_miss_spoof=int(np.sum(spoof < threshold)) / spoof.size,
        p_fa_spoof=int(np.sum(spoof >= threshold)) / spoof.size,
    )


def tdcf_coefficients(
    rates: AsvErrorRates, *, cost_model: CostModel = ASVSPOOF_COST_MODEL
) -> tuple[float, float, float]:
    """Compute ``(C0, C1, C2)`` of the 2021 (revised) t-DCF from ASV error rates.

    Args:
        rates: ASV error rates at the fixed ASV threshold.
        cost_model: priors and costs.

    Returns:
        ``(C0, C1, C2)`` as in the ASVspoof 2021 evaluation package.
    """
    cost = cost_model
    c0 = cost.p_target * cost.c_miss * rates.p_miss + cost.p_nontarget * cost.c_fa * rates.p_fa
    c1 = cost.p_target * cost.c_miss - (
        cost.p_target * cost.c_miss * rates.p_miss + cost.p_nontarget * cost.c_fa * rates.p_fa
    )
    c2 = cost.p_spoof * cost.c_fa_spoof * rates.p_fa_spoof
    return c0, c1, c2


def legacy_tdcf_coefficients(
    rates: AsvErrorRates, *, cost_model: CostModel = ASVSPOOF_COST_MODEL
) -> tuple[float, float]:
    """Compute ``(C1, C2)`` of the 2019 (legacy) t-DCF, in the order of operations of its code.

    Args:
        rates: ASV error rates at the fixed ASV threshold.
        cost_model: priors and costs.

    Returns:
        ``(C1, C2)``; algebraically equal to C1 and C2 of :func:`tdcf_coefficients`.
    """
    cost = cost_model
    c1 = cost.p_target * (cost.c_miss - cost.c_miss * rates.p_miss) - cost.p_nontarget * cost.c_fa * rates.p_fa
    c2 = cost.c_fa_spoof * cost.p_spoof * (1 - rates.p_miss_spoof)
    return c1, c2


def tdcf_curve(
    bonafide_scores: ArrayLike, spoof_scores: ArrayLike, c0: float, c1: float, c2: float
) -> tuple[np.ndarray, np.ndarray]:
    """Compute the normalised t-DCF at every CM operating point.

    ``(C0 + C1 Pmiss_cm + C2 Pfa_cm) / (C0 + min(C1, C2))``; with ``c0 = 0`` this is the 2019 form.

    Args:
        bonafide_scores: CM scores of bona fide trials, shape ``(n_bonafide,)``.
        spoof_scores: CM scores of spoof trials, shape ``(n_spoof,)``.
        c0: constant cost term (0 for the 2019 form).
        c1: weight of the CM miss rate.
        c2: weight of the CM false-alarm rate.

    Returns:
        ``(tdcf, thresholds)``, each of shape ``(n_bonafide + n_spoof + 1,)``, on the points of
        :func:`lcnn.metrics.eer.compute_det_curve`.

    Raises:
        DataError: a coefficient is negative or not finite, ``c0 + min(c1, c2)`` is zero, the
            score arrays are invalid, or they hold fewer than 3 distinct values (hard decisions
            instead of scores, which the ASVspoof tools reject as well).
    """
    for name, value in (("C0", c0), ("C1", c1), ("C2", c2)):
        if not math.isfinite(value) or value < 0:
            raise DataError(
                f"t-DCF coefficient {name} must be a finite number >= 0, got {value}; check the ASV "
                "error rates or the coefficients given."
            )
    normaliser = c0 + min(c1, c2)
    if normaliser <= 0:
        raise DataError(
            f"t-DCF is undefined: C0 + min(C1, C2) = 0 (C0={c0}, C1={c1}, C2={c2}); the ASV system "
            "rejects every spoof or accepts every trial at its threshold."
        )
    bonafide = check_scores(bonafide_scores, name="bona fide scores")
    spoof = check_scores(spoof_scores, name="spoof scores")
    distinct = np.unique(np.concatenate((bonafide, spoof))).size
    if distinct < 3:
        raise DataError(
            f"CM scores take only {distinct} distinct value(s): the t-DCF needs soft scores, "
            "not hard decisions."
        )
    miss_rates, false_alarm_rates, thresholds = compute_det_curve(bonafide, spoof)
    curve = (c0 + c1 * miss_rates + c2 * false_alarm_rates) / normaliser
    return curve, thresholds


def min_tdcf_from_coefficients(
    bonafide_scores: ArrayLike, spoof_scores: ArrayLike, c0: float, c1: float, c2: float
) -> tuple[float, float]:
    """Compute the minimum normalised t-DCF from given coefficients.

    Use this with the ``C0``, ``C1``, ``C2`` shipped for each condition of ASVspoof 2021, or with
    ``c0 = 0`` for the 2019 form.

    Args:
        bonafide_scores: CM scores of bona fide trials, shape ``(n_bonafide,)``.
        spoof_scores: CM scores of spoof trials, shape ``(n_spoof,)``.
        c0: constant cost term.
        c1: weight of the CM miss rate.
        c2: weight of the CM false-alarm rate.

    Returns:
        ``(min_tdcf, cm_threshold)``: the minimum and the CM threshold where it is reached first.

    Raises:
        DataError: see :func:`tdcf_curve`.
    """
    curve, thresholds = tdcf_curve(bonafide_scores, spoof_scores, c0, c1, c2)
    index = int(np.argmin(curve))
    return float(curve[index]), float(thresholds[index])


def _resolve_rates(
    asv: AsvErrorRates | tuple[ArrayLike, ArrayLike, ArrayLike], asv_threshold: float | None
) -> AsvErrorRates:
    if isinstance(asv, AsvErrorRates):
        if asv_threshold is not None:
            raise DataError(
                "asv_threshold applies only when ASV scores are given; the AsvErrorRates passed "
                f"already fix the threshold at {asv.threshold}."
            )
        return asv
    try:
        target, nontarget, spoof = asv
    except (TypeError, ValueError):
        raise DataError(
            "asv must be AsvErrorRates or a tuple (target_scores, nontarget_scores, spoof_scores), "
            f"got {type(asv).__name__}."
        ) from None
    return asv_error_rates(target, nontarget, spoof, threshold=asv_threshold)


def min_tdcf_2019(
    bonafide_scores: ArrayLike,
    spoof_scores: ArrayLike,
    asv: AsvErrorRates | tuple[ArrayLike, ArrayLike, ArrayLike],
    *,
    asv_threshold: float | None = None,
    cost_model: CostModel = ASVSPOOF_COST_MODEL,
) -> tuple[float, float]:
    """Compute the minimum t-DCF in its 2019 (legacy) form, as ``tDCF_python`` v1 does.

    Args:
        bonafide_scores: CM scores of bona fide trials, shape ``(n_bonafide,)``.
        spoof_scores: CM scores of spoof trials, shape ``(n_spoof,)``.
        asv: ASV error rates, or ASV scores as ``(target, nontarget, spoof)`` arrays.
        asv_threshold: with ASV scores, a fixed ASV threshold instead of their EER threshold.
        cost_model: priors and costs.

    Returns:
        ``(min_tdcf, cm_threshold)``.

    Raises:
        DataError: invalid scores or rates (see :func:`tdcf_curve` and :func:`asv_error_rates`).
    """
    rates = _resolve_rates(asv, asv_threshold)
    c1, c2 = legacy_tdcf_coefficients(rates, cost_model=cost_model)
    return min_tdcf_from_coefficients(bonafide_scores, spoof_scores, 0.0, c1, c2)


def min_tdcf_2021(
    bonafide_scores: ArrayLike,
    spoof_scores: ArrayLike,
    asv: AsvErrorRates | tuple[ArrayLike, ArrayLike, ArrayLike],
    *,
    asv_threshold: float | None = None,
    cost_model: CostModel = ASVSPOOF_COST_MODEL,
) -> tuple[float, float]:
    """Compute the minimum t-DCF in its 2021 (revised, normalised) form, as ``tDCF_python`` v2 does.

    Args:
        bonafide_scores: CM scores of bona fide trials, shape ``(n_bonafide,)``.
        spoof_scores: CM scores of spoof trials, shape ``(n_spoof,)``.
        asv: ASV error rates, or ASV scores as ``(target, nontarget, spoof)`` arrays.
        asv_threshold: with ASV scores, a fixed ASV threshold instead of their EER threshold.
        cost_model: priors and costs.

    Returns:
        ``(min_tdcf, cm_threshold)``.

    Raises:
        DataError: invalid scores or rates (see :func:`tdcf_curve` and :func:`asv_error_rates`).
    """
    rates = _resolve_rates(asv, asv_threshold)
    c0, c1, c2 = tdcf_coefficients(rates, cost_model=cost_model)
    return min_tdcf_from_coefficients(bonafide_scores, spoof_scores, c0, c1, c2)
