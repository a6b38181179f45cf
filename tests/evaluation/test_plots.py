"""Tests of lcnn.evaluation.plots: DET staircase thinning and PNG output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lcnn.errors import DataError
from lcnn.evaluation.plots import _det_corners, plot_det_curves, plot_score_histograms
from lcnn.fileio import OutputExistsError
from lcnn.metrics import compute_det_curve

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_det_corners_keep_the_staircase() -> None:
    rng = np.random.default_rng(0)
    miss, false_alarm, _ = compute_det_curve(rng.normal(1.0, 1.0, 300), rng.normal(size=500))
    corner_miss, corner_false_alarm = _det_corners(miss, false_alarm)
    assert corner_miss.size < miss.size
    assert (corner_miss[0], corner_false_alarm[0], corner_miss[-1], corner_false_alarm[-1]) == (0.0, 1.0, 1.0, 0.0)
    # Each dropped point lies on the horizontal or vertical segment between two kept corners.
    for point_miss, point_false_alarm in zip(miss, false_alarm):
        segment = np.searchsorted(corner_miss, point_miss, side="right") - 1
        on_vertical = corner_false_alarm[segment] == point_false_alarm
        on_horizontal = np.any((corner_miss == point_miss) & (corner_false_alarm >= point_false_alarm))
        assert on_vertical or on_horizontal


def test_plots_written(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    bonafide, spoof = rng.normal(1.0, 1.0, 200), rng.normal(-1.0, 1.0, 400)
    det = tmp_path / "det.png"
    plot_det_curves({"pooled": (bonafide, spoof), "A01": (bonafide, spoof[:200])}, det)
    assert det.read_bytes()[:8] == PNG_SIGNATURE

    histogram = tmp_path / "hist.png"
    scores = np.concatenate((bonafide, spoof))
    labels = np.array([1] * 200 + [0] * 400)
    attacks = ["-"] * 200 + ["A01"] * 200 + ["A02"] * 200
    plot_score_histograms(scores, labels, histogram, attacks=attacks)
    assert histogram.read_bytes()[:8] == PNG_SIGNATURE

    with pytest.raises(OutputExistsError, match="pass --force"):
        plot_score_histograms(scores, labels, histogram)
    plot_score_histograms(scores, labels, histogram, force=True)


def test_plot_rejects_non_finite_scores(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="non-finite"):
        plot_score_histograms([0.1, np.nan], [1, 0], tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_modules_import_without_matplotlib() -> None:
    code = (
        "import sys, lcnn.evaluation.plots, lcnn.evaluation.report, lcnn.metrics, lcnn.data.protocols, lcnn.cli.evaluate; "
        "print(sorted(name for name in ('matplotlib', 'torch', 'lightning') if name in sys.modules))"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert output.strip() == "[]"
