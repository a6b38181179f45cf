"""Tests of lcnn.metrics.eer against brute-force references and the ASVspoof tools' conventions."""

from __future__ import annotations

import time

import numpy as np
import pytest

from lcnn.errors import DataError
from lcnn.metrics import check_scores, compute_det_curve, compute_eer


def brute_force_eer(bonafide: np.ndarray, spoof: np.ndarray) -> tuple[float, float]:
    """O(n^2) EER for scores without ties: at threshold t, bona fide <= t are missed, spoof > t accepted."""
    thresholds = np.sort(np.concatenate((bonafide, spoof)))
    miss = np.concatenate(([0.0], (bonafide[:, None] <= thresholds[None, :]).mean(axis=0)))
    false_alarm = np.concatenate(([1.0], (spoof[:, None] > thresholds[None, :]).mean(axis=0)))
    candidates = np.concatenate(([thresholds[0] - 0.001], thresholds))
    index = int(np.argmin(np.abs(miss - false_alarm)))
    return (miss[index] + false_alarm[index]) / 2, candidates[index]


def reference_det_curve(bonafide: list[float], spoof: list[float]) -> tuple[list[float], list[float]]:
    """Step-by-step DET curve of the organisers' code: Python's stable sort, bona fide listed first."""
    trials = [(score, True) for score in bonafide] + [(score, False) for score in spoof]
    trials.sort(key=lambda trial: trial[0])
    miss, false_alarm = [0.0], [1.0]
    rejected_bonafide = rejected_spoof = 0
    for _, is_bonafide in trials:
        if is_bonafide:
            rejected_bonafide += 1
        else:
            rejected_spoof += 1
        miss.append(rejected_bonafide / len(bonafide))
        false_alarm.append((len(spoof) - rejected_spoof) / len(spoof))
    return miss, false_alarm


def test_eer_hand_example() -> None:
    eer, threshold = compute_eer([0.9, 0.8, 0.7, 0.2], [0.75, 0.3, 0.1, 0.05])
    assert eer == 0.25
    assert threshold == 0.3


def test_eer_separable_and_inverted() -> None:
    assert compute_eer([2.0, 3.0], [0.0, 1.0]) == (0.0, 1.0)
    assert compute_eer([0.0, 1.0], [2.0, 3.0])[0] == 1.0


@pytest.mark.parametrize("seed", range(5))
def test_eer_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    bonafide = rng.normal(1.0, 1.0, size=int(rng.integers(50, 700)))
    spoof = rng.normal(-1.0, 1.5, size=int(rng.integers(50, 900)))
    eer, threshold = compute_eer(bonafide, spoof)
    expected_eer, expected_threshold = brute_force_eer(bonafide, spoof)
    assert eer == pytest.approx(expected_eer, abs=1e-15)
    assert threshold == expected_threshold


@pytest.mark.parametrize("seed", range(3))
def test_det_curve_ties_match_reference(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    bonafide = rng.integers(0, 6, size=40).astype(float)
    spoof = rng.integers(-3, 3, size=55).astype(float)
    miss, false_alarm, thresholds = compute_det_curve(bonafide, spoof)
    expected_miss, expected_false_alarm = reference_det_curve(list(bonafide), list(spoof))
    np.testing.assert_allclose(miss, expected_miss, rtol=0, atol=1e-15)
    np.testing.assert_allclose(false_alarm, expected_false_alarm, rtol=0, atol=1e-15)
    assert thresholds[0] == min(bonafide.min(), spoof.min()) - 0.001
    np.testing.assert_array_equal(thresholds[1:], np.sort(np.concatenate((bonafide, spoof))))


def test_ties_reject_bonafide_first() -> None:
    # All scores tied: the curve steps through the tie, bona fide trials first.
    miss, false_alarm, _ = compute_det_curve([1.0, 1.0], [1.0, 1.0])
    np.testing.assert_array_equal(miss, [0.0, 0.5, 1.0, 1.0, 1.0])
    np.testing.assert_array_equal(false_alarm, [1.0, 1.0, 1.0, 0.5, 0.0])
    assert compute_eer([1.0, 1.0], [1.0, 1.0]) == (1.0, 1.0)


def test_det_curve_shape_and_monotonicity() -> None:
    rng = np.random.default_rng(7)
    bonafide, spoof = rng.normal(size=300), rng.normal(size=200) - 0.5
    miss, false_alarm, thresholds = compute_det_curve(bonafide, spoof)
    assert miss.shape == false_alarm.shape == thresholds.shape == (501,)
    assert (miss[0], false_alarm[0], miss[-1], false_alarm[-1]) == (0.0, 1.0, 1.0, 0.0)
    assert np.all(np.diff(miss) >= 0)
    assert np.all(np.diff(false_alarm) <= 0)
    assert np.all(np.diff(thresholds) >= 0)


@pytest.mark.parametrize(
    "transform",
    [lambda x: 3.0 * x + 7.0, np.exp, np.arctan, lambda x: x**3],
    ids=["affine", "exp", "arctan", "cube"],
)
def test_eer_invariant_under_monotone_transform(transform) -> None:
    rng = np.random.default_rng(3)
    bonafide, spoof = rng.normal(0.8, 1.0, 500), rng.normal(-0.4, 0.7, 800)
    eer, threshold = compute_eer(bonafide, spoof)
    transformed_eer, transformed_threshold = compute_eer(transform(bonafide), transform(spoof))
    assert transformed_eer == eer
    assert transformed_threshold == pytest.approx(transform(threshold), rel=1e-12)


def test_eer_accepts_lists_and_integers() -> None:
    assert compute_eer([3, 4, 5], [0, 1, 2]) == (0.0, 2.0)


def test_eer_million_trials_fast() -> None:
    rng = np.random.default_rng(0)
    bonafide, spoof = rng.normal(1.0, 1.0, 100_000), rng.normal(-1.0, 1.0, 900_000)
    start = time.perf_counter()
    eer, _ = compute_eer(bonafide, spoof)
    elapsed = time.perf_counter() - start
    # Two unit-variance normals two apart cross at 0: EER = Phi(-1) = 0.1587.
    assert eer == pytest.approx(0.1587, abs=0.003)
    assert elapsed < 5.0


def test_non_finite_scores_rejected() -> None:
    with pytest.raises(DataError, match=r"bona fide scores contain 1 non-finite value\(s\) .* at positions 2 \(nan\)"):
        compute_eer([0.1, 0.2, np.nan], [0.0])
    with pytest.raises(DataError, match=r"spoof scores contain 2 non-finite value\(s\) .* positions 0 \(inf\), 3 \(-inf\)"):
        compute_eer([0.1], [np.inf, 0.0, 1.0, -np.inf])


def test_bad_shapes_rejected() -> None:
    with pytest.raises(DataError, match="spoof scores are empty"):
        compute_eer([0.1, 0.2], [])
    with pytest.raises(DataError, match=r"must be a 1-D array of scores, got shape \(2, 2\)"):
        compute_eer(np.zeros((2, 2)), [0.0])
    with pytest.raises(DataError, match="must be real numbers"):
        check_scores(["a", "b"], name="scores")
