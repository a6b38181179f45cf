"""DET curves on probit (normal deviate) axes and score histograms, written as PNG files.

Matplotlib is imported inside the functions and drawn through its Agg canvas without pyplot, so
importing this module is cheap and no global backend is switched.
"""

from __future__ import annotations

import os
from typing import Mapping, Sequence

import numpy as np

from lcnn.fileio import atomic_write
from lcnn.metrics.eer import check_scores, compute_det_curve, compute_eer

__all__ = ["plot_det_curves", "plot_score_histograms"]

# Rates (fractions) marked on the probit axes.
_DET_TICKS = (0.0001, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6)
# Rates below this are drawn at it, because the probit of 0 is minus infinity.
_MIN_RATE = 1e-4


def _new_figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def _save(figure, path: str | os.PathLike, force: bool) -> None:
    with atomic_write(path, "wb", force=force) as handle:
        figure.savefig(handle, format="png", bbox_inches="tight")


def _probit(rates: np.ndarray) -> np.ndarray:
    from scipy.special import ndtri

    return ndtri(np.clip(rates, _MIN_RATE, 1 - _MIN_RATE))


def _det_corners(miss: np.ndarray, false_alarm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep the corners of the staircase: points inside a horizontal or vertical run add nothing."""
    bonafide_step = np.diff(miss) > 0
    turns = np.flatnonzero(bonafide_step[1:] != bonafide_step[:-1]) + 1
    keep = np.concatenate(([0], turns, [miss.size - 1]))
    return miss[keep], false_alarm[keep]


def plot_det_curves(
    curves: Mapping[str, tuple[Sequence[float] | np.ndarray, Sequence[float] | np.ndarray]],
    path: str | os.PathLike,
    *,
    title: str = "DET curve",
    force: bool = False,
) -> None:
    """Draw one DET curve per entry (miss rate against false-alarm rate, probit axes), with EER points.

    Args:
        curves: label -> ``(bonafide_scores, spoof_scores)``, for example ``{"pooled": ...}``
            plus one entry per attack; drawn in the given order, the first one thicker.
        path: PNG file to write.
        title: figure title.
        force: overwrite an existing file.

    Raises:
        DataError: a score array is empty or not finite.
        OutputExistsError: ``path`` exists and ``force`` is false.
    """
    from matplotlib import colormaps

    figure = _new_figure(6.0, 6.0)
    axes = figure.add_subplot(1, 1, 1)
    palette = colormaps["tab20"]
    for index, (label, (bonafide, spoof)) in enumerate(curves.items()):
        miss, false_alarm = _det_corners(*compute_det_curve(bonafide, spoof)[:2])
        eer, _ = compute_eer(bonafide, spoof)
        first = index == 0
        color = "black" if first else palette((index - 1) % 20)
        style = {"color": color, "linewidth": 2.0 if first else 0.8, "zorder": 3 if first else 2}
        axes.plot(_probit(false_alarm), _probit(miss), label=f"{label} (EER {eer:.2%})", **style)
        axes.plot(_probit(np.array([eer])), _probit(np.array([eer])), "o", markersize=4, **style)

    ticks = _probit(np.array(_DET_TICKS))
    labels = [f"{tick * 100:g}" for tick in _DET_TICKS]
    limits = (_probit(np.array([_MIN_RATE]))[0] - 0.1, _probit(np.array([0.6]))[0])
    axes.plot(limits, limits, color="0.6", linewidth=0.6, linestyle=":")
    axes.set_xticks(ticks, labels)
    axes.set_yticks(ticks, labels)
    axes.set_xlim(*limits)
    axes.set_ylim(*limits)
    axes.set_xlabel("False alarm rate, spoof accepted (%)")
    axes.set_ylabel("Miss rate, bona fide rejected (%)")
    axes.set_title(title)
    axes.grid(True, linewidth=0.3)
    axes.legend(fontsize=7, loc="upper right")
    _save(figure, path, force)


def plot_score_histograms(
    scores: Sequence[float] | np.ndarray,
    labels: Sequence[int] | np.ndarray,
    path: str | os.PathLike,
    *,
    attacks: Sequence[str] | None = None,
    bins: int = 100,
    force: bool = False,
) -> None:
    """Draw score histograms per class and, with ``attacks``, per spoof attack (density scale).

    Args:
        scores: scores, shape ``(n,)``, higher = bona fide.
        labels: 1 bona fide / 0 spoof per score.
        path: PNG file to write.
        attacks: attack id per score; adds a second panel with one outline per attack.
        bins: number of histogram bins over the whole score range.
        force: overwrite an existing file.

    Raises:
        DataError: the scores are empty or not finite.
        OutputExistsError: ``path`` exists and ``force`` is false.
    """
    values = check_scores(scores)
    label_array = np.asarray(labels)
    edges = np.histogram_bin_edges(values, bins=bins)
    panels = 2 if attacks is not None else 1
    figure = _new_figure(7.0, 3.2 * panels)

    axes = figure.add_subplot(panels, 1, 1)
    for label, name in ((1, "bona fide"), (0, "spoof")):
        subset = values[label_array == label]
        if subset.size:
            axes.hist(subset, bins=edges, density=True, alpha=0.5, label=f"{name} ({subset.size})")
    axes.set_xlabel("score (higher = bona fide)")
    axes.set_ylabel("density")
    axes.legend(fontsize=8)

    if attacks is not None:
        attack_array = np.asarray(attacks, dtype=object)
        axes = figure.add_subplot(panels, 1, 2)
        bonafide = values[label_array == 1]
        if bonafide.size:
            axes.hist(bonafide, bins=edges, density=True, histtype="stepfilled", color="0.8", label="bona fide")
        for attack in sorted(set(attack_array[label_array == 0])):
            subset = values[(label_array == 0) & (attack_array == attack)]
            axes.hist(subset, bins=edges, density=True, histtype="step", linewidth=0.9, label=str(attack))
        axes.set_xlabel("score (higher = bona fide)")
        axes.set_ylabel("density")
        axes.legend(fontsize=6, ncol=4)
    _save(figure, path, force)
