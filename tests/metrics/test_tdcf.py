"""Tests of lcnn.metrics.tdcf: brute-force references, the two normalisations, bad inputs."""

from __future__ import annotations

import numpy as np
import pytest

from lcnn.errors import ConfigError, DataError
from lcnn.metrics import (
    ASVSPOOF_COST_MODEL,
    AsvErrorRates,
    CostModel,
    asv_error_rates,
    compute_eer,
    legacy_tdcf_coefficients,
    min_tdcf_2019,
    min_tdcf_2021,
    min_tdcf_from_coefficients,
    tdcf_coefficients,
)


def brute_force_min_tdcf(bonafide: np.ndarray, spoof: np.ndarray, c0: float, c1: float, c2: float) -> float:
    """O(n^2) minimum over thresholds for scores without ties (bona fide <= t missed, spoof > t accepted)."""
    thresholds = np.sort(np.concatenate((bonafide, spoof)))
    miss = np.concatenate(([0.0], (bonafide[:, None] <= thresholds[None, :]).mean(axis=0)))
    false_alarm = np.concatenate(([1.0], (spoof[:, None] > thresholds[None, :]).mean(axis=0)))
    return float(np.min((c0 + c1 * miss + c2 * false_alarm) / (c0 + min(c1, c2))))


def random_asv(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(3.0, 1.0, 400), rng.normal(-2.0, 1.5, 2000), rng.normal(1.0, 2.0, 1500)


def test_cost_model_defaults() -> None:
    cost = ASVSPOOF_COST_MODEL
    assert (cost.p_spoof, cost.c_miss, cost.c_fa, cost.c_fa_spoof) == (0.05, 1.0, 10.0, 10.0)
    assert cost.p_target == pytest.approx(0.9405)
    assert cost.p_nontarget == pytest.approx(0.0095)


def test_cost_model_rejects_bad_priors() -> None:
    with pytest.raises(ConfigError, match="priors must sum to 1"):
        CostModel(p_spoof=0.1)
    with pytest.raises(ConfigError, match="c_fa must be a finite number >= 0, got -1"):
        CostModel(c_fa=-1)


def test_asv_error_rates_counts() -> None:
    rates = asv_error_rates([1.0, 2.0, 3.0, 4.0], [0.0, 2.0, 2.5], [1.0, 2.0, 5.0, 6.0], threshold=2.0)
    assert rates == AsvErrorRates(threshold=2.0, p_miss=0.25, p_fa=2 / 3, p_miss_spoof=0.25, p_fa_spoof=0.75)


def test_asv_threshold_defaults_to_eer_threshold() -> None:
    target, nontarget, spoof = random_asv(1)
    rates = asv_error_rates(target, nontarget, spoof)
    assert rates.threshold == compute_eer(target, nontarget)[1]
    assert rates.p_fa_spoof == np.mean(spoof >= rates.threshold)
    assert rates.p_miss_spoof + rates.p_fa_spoof == pytest.approx(1.0)


@pytest.mark.parametrize("seed", range(4))
def test_min_tdcf_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    bonafide = rng.normal(1.5, 1.0, int(rng.integers(100, 500)))
    spoof = rng.normal(-0.5, 1.2, int(rng.integers(100, 800)))
    rates = asv_error_rates(*random_asv(seed))
    c0, c1, c2 = tdcf_coefficients(rates)
    legacy_c1, legacy_c2 = legacy_tdcf_coefficients(rates)
    assert min_tdcf_2021(bonafide, spoof, rates)[0] == pytest.approx(brute_force_min_tdcf(bonafide, spoof, c0, c1, c2), abs=1e-14)
    assert min_tdcf_2019(bonafide, spoof, rates)[0] == pytest.approx(
        brute_force_min_tdcf(bonafide, spoof, 0.0, legacy_c1, legacy_c2), abs=1e-14
    )


def test_legacy_and_revised_coefficients_agree() -> None:
    rates = asv_error_rates(*random_asv(5))
    c0, c1, c2 = tdcf_coefficients(rates)
    legacy_c1, legacy_c2 = legacy_tdcf_coefficients(rates)
    assert legacy_c1 == pytest.approx(c1, rel=1e-14)
    assert legacy_c2 == pytest.approx(c2, rel=1e-14)
    cost = ASVSPOOF_COST_MODEL
    assert c0 == pytest.approx(cost.p_target * rates.p_miss + cost.p_nontarget * cost.c_fa * rates.p_fa)
    assert c0 + c1 == pytest.approx(cost.p_target * cost.c_miss)


def test_revised_is_affine_in_legacy() -> None:
    # Same curve up to an offset and a scale, so both minima sit at the same CM threshold.
    rng = np.random.default_rng(11)
    bonafide, spoof = rng.normal(1.0, 1.0, 400), rng.normal(-1.0, 1.0, 600)
    rates = asv_error_rates(*random_asv(11))
    c0, c1, c2 = tdcf_coefficients(rates)
    legacy, legacy_threshold = min_tdcf_2019(bonafide, spoof, rates)
    revised, revised_threshold = min_tdcf_2021(bonafide, spoof, rates)
    assert revised == pytest.approx((c0 + min(c1, c2) * legacy) / (c0 + min(c1, c2)), rel=1e-12)
    assert revised_threshold == legacy_threshold


def test_from_coefficients_matches_named_forms() -> None:
    rng = np.random.default_rng(12)
    bonafide, spoof = rng.normal(1.0, 1.0, 300), rng.normal(-1.0, 1.0, 300)
    scores = random_asv(12)
    rates = asv_error_rates(*scores)
    assert min_tdcf_2021(bonafide, spoof, scores) == min_tdcf_from_coefficients(bonafide, spoof, *tdcf_coefficients(rates))
    assert min_tdcf_2019(bonafide, spoof, scores) == min_tdcf_from_coefficients(
        bonafide, spoof, 0.0, *legacy_tdcf_coefficients(rates)
    )


def test_fixed_asv_threshold_used() -> None:
    rng = np.random.default_rng(13)
    bonafide, spoof = rng.normal(1.0, 1.0, 300), rng.normal(-1.0, 1.0, 300)
    scores = random_asv(13)
    fixed = asv_error_rates(*scores, threshold=0.5)
    assert min_tdcf_2019(bonafide, spoof, scores, asv_threshold=0.5) == min_tdcf_2019(bonafide, spoof, fixed)
    assert min_tdcf_2019(bonafide, spoof, scores, asv_threshold=0.5) != min_tdcf_2019(bonafide, spoof, scores)


def test_perfect_countermeasure() -> None:
    rates = asv_error_rates(*random_asv(2))
    c0, c1, c2 = tdcf_coefficients(rates)
    bonafide, spoof = np.array([2.0, 3.0, 4.0]), np.array([-1.0, 0.0, 1.0])
    assert min_tdcf_2019(bonafide, spoof, rates)[0] == 0.0
    assert min_tdcf_2021(bonafide, spoof, rates)[0] == pytest.approx(c0 / (c0 + min(c1, c2)))


def test_hand_computed_value() -> None:
    # C0 = 0.1, C1 = 0.5, C2 = 0.2; CM points (miss, fa): (0, 1), (0, 2/3), (0, 1/3), (1/2, 1/3), (1/2, 0), (1, 0).
    value, threshold = min_tdcf_from_coefficients([2.0, 5.0], [1.0, 3.0, 0.0], 0.1, 0.5, 0.2)
    assert value == pytest.approx((0.1 + 0.2 / 3) / 0.3)
    assert threshold == 1.0


@pytest.mark.parametrize("transform", [np.exp, lambda x: 5.0 * x - 2.0, np.tanh], ids=["exp", "affine", "tanh"])
def test_min_tdcf_invariant_under_monotone_transform(transform) -> None:
    rng = np.random.default_rng(21)
    bonafide, spoof = rng.normal(0.5, 0.5, 400), rng.normal(-0.5, 0.5, 700)
    rates = asv_error_rates(*random_asv(21))
    assert min_tdcf_2019(transform(bonafide), transform(spoof), rates)[0] == min_tdcf_2019(bonafide, spoof, rates)[0]
    assert min_tdcf_2021(transform(bonafide), transform(spoof), rates)[0] == min_tdcf_2021(bonafide, spoof, rates)[0]


def test_hard_decisions_rejected() -> None:
    rates = asv_error_rates(*random_asv(3))
    with pytest.raises(DataError, match="only 2 distinct value"):
        min_tdcf_2019([1.0, 1.0, 1.0], [0.0, 0.0], rates)


def test_bad_coefficients_rejected() -> None:
    with pytest.raises(DataError, match="coefficient C1 must be a finite number >= 0, got -0.1"):
        min_tdcf_from_coefficients([1.0, 2.0], [0.0, 0.5], 0.0, -0.1, 0.2)
    with pytest.raises(DataError, match=r"C0 \+ min\(C1, C2\) = 0"):
        min_tdcf_from_coefficients([1.0, 2.0], [0.0, 0.5], 0.0, 0.5, 0.0)
    with pytest.raises(DataError, match="coefficient C2 must be a finite number"):
        min_tdcf_from_coefficients([1.0, 2.0], [0.0, 0.5], 0.0, 0.5, float("nan"))


def test_asv_input_errors() -> None:
    rates = asv_error_rates(*random_asv(4))
    with pytest.raises(DataError, match="asv_threshold applies only when ASV scores are given"):
        min_tdcf_2021([1.0, 2.0], [0.0, 0.5, 0.7], rates, asv_threshold=0.0)
    with pytest.raises(DataError, match="asv must be AsvErrorRates or a tuple"):
        min_tdcf_2021([1.0, 2.0], [0.0, 0.5, 0.7], 3.0)
    with pytest.raises(DataError, match=r"ASV spoof scores contain 1 non-finite"):
        asv_error_rates([1.0], [0.0], [np.nan, 1.0])
    with pytest.raises(DataError, match="ASV target scores are empty"):
        asv_error_rates([], [0.0], [1.0])
    with pytest.raises(DataError, match="ASV threshold must be a finite number"):
        asv_error_rates([1.0], [0.0], [1.0], threshold=float("inf"))


def test_cm_nan_scores_rejected() -> None:
    rates = asv_error_rates(*random_asv(6))
    with pytest.raises(DataError, match=r"spoof scores contain 1 non-finite value\(s\) .* positions 1 \(nan\)"):
        min_tdcf_2021([1.0, 2.0, 3.0], [0.0, np.nan], rates)
