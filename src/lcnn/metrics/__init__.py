"""Countermeasure metrics: EER and the tandem detection cost function (t-DCF).

Convention throughout: a higher score means bona fide, and rates are fractions, not percentages.
The computations follow the organisers' ASVspoof evaluation code step for step (see
:mod:`lcnn.metrics.eer` and :mod:`lcnn.metrics.tdcf`). Only NumPy is imported.
"""

from lcnn.metrics.eer import check_scores, compute_det_curve, compute_eer
from lcnn.metrics.tdcf import (
    ASVSPOOF_COST_MODEL,
    AsvErrorRates,
    CostModel,
    asv_error_rates,
    legacy_tdcf_coefficients,
    min_tdcf_2019,
    min_tdcf_2021,
    min_tdcf_from_coefficients,
    tdcf_coefficients,
    tdcf_curve,
)

__all__ = [
    "ASVSPOOF_COST_MODEL",
    "AsvErrorRates",
    "CostModel",
    "asv_error_rates",
    "check_scores",
    "compute_det_curve",
    "compute_eer",
    "legacy_tdcf_coefficients",
    "min_tdcf_2019",
    "min_tdcf_2021",
    "min_tdcf_from_coefficients",
    "tdcf_coefficients",
    "tdcf_curve",
]
