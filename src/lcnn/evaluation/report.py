"""Pooled, per-attack and per-condition EER and min t-DCF of a countermeasure's scores.

Per-attack results pair all bona fide trials with the spoofs of one attack. When the ASV score file
names the attack of each spoof (as the organisers' 2019 files do), the per-attack t-DCF takes the ASV
spoof false-accept rate of that attack alone, as the ASVspoof 2021 evaluation package does. The ASV
threshold and the target and nontarget rates stay pooled. Per-condition results take the bona fide
and spoof trials of one condition, with pooled ASV error rates because ASV score files give no
condition.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from lcnn.data.protocols import BONAFIDE, SPOOF, Trial
from lcnn.errors import DataError
from lcnn.evaluation.scorefile import AsvScores, ScoreFile, join_scores
from lcnn.metrics import ASVSPOOF_COST_MODEL, AsvErrorRates, CostModel, asv_error_rates, compute_eer
from lcnn.metrics import min_tdcf_2019, min_tdcf_2021
from lcnn.metrics.eer import check_scores

__all__ = ["AsvSummary", "EvaluationResult", "GroupResult", "evaluate_scores", "format_report"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class GroupResult:
    """Metrics of one group of trials (pooled, one attack or one condition).

    Attributes:
        n_bonafide: bona fide trials in the group.
        n_spoof: spoof trials in the group.
        eer: equal error rate as a fraction, None when the group lacks a class.
        eer_threshold: score threshold at the EER.
        min_tdcf_2019: minimum t-DCF, 2019 (legacy) form; None without ASV scores.
        min_tdcf_2021: minimum t-DCF, 2021 (revised) form; None without ASV scores.
        note: why a value is missing, if one is.
    """

    n_bonafide: int
    n_spoof: int
    eer: float | None
    eer_threshold: float | None
    min_tdcf_2019: float | None = None
    min_tdcf_2021: float | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-ready dict."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class AsvSummary:
    """The ASV operating point used for the t-DCF.

    Attributes:
        threshold: ASV threshold.
        threshold_source: where the threshold comes from, in words.
        eer: EER of the ASV target vs nontarget scores used for the t-DCF.
        p_miss: targets rejected at the threshold.
        p_fa: nontargets accepted.
        p_fa_spoof: spoofs accepted (pooled over attacks).
    """

    threshold: float
    threshold_source: str
    eer: float
    p_miss: float
    p_fa: float
    p_fa_spoof: float


@dataclass(frozen=True)
class EvaluationResult:
    """Everything :func:`evaluate_scores` computes.

    Attributes:
        pooled: metrics over all trials.
        per_attack: metrics per spoof attack id, sorted by id.
        per_condition: metrics per condition, sorted; empty when the trials carry none.
        asv: the ASV operating point, None without ASV scores.
        notes: caveats in plain sentences (missing trials, inverted scores, no ASV scores, ...).
    """

    pooled: GroupResult
    per_attack: dict[str, GroupResult]
    per_condition: dict[str, GroupResult]
    asv: AsvSummary | None
    notes: list[str] = field(default_factory=list)

    @property
    def eer(self) -> float:
        """Pooled EER as a fraction."""
        return float(self.pooled.eer)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict: pooled metrics at the top level, then the breakdowns."""
        result = self.pooled.to_dict()
        result.pop("note")
        result["per_attack"] = {key: value.to_dict() for key, value in self.per_attack.items()}
        result["per_condition"] = {key: value.to_dict() for key, value in self.per_condition.items()}
        result["asv"] = dataclasses.asdict(self.asv) if self.asv is not None else None
        result["notes"] = list(self.notes)
        return result


def _group_metrics(
    bonafide: np.ndarray, spoof: np.ndarray, rates: AsvErrorRates | None, cost_model: CostModel
) -> GroupResult:
    if bonafide.size == 0 or spoof.size == 0:
        return GroupResult(
            n_bonafide=int(bonafide.size),
            n_spoof=int(spoof.size),
            eer=None,
            eer_threshold=None,
            note="one class only: EER and t-DCF need bona fide and spoof trials",
        )
    eer, threshold = compute_eer(bonafide, spoof)
    tdcf_2019 = tdcf_2021 = None
    note = None
    if rates is not None:
        try:
            tdcf_2019 = min_tdcf_2019(bonafide, spoof, rates, cost_model=cost_model)[0]
            tdcf_2021 = min_tdcf_2021(bonafide, spoof, rates, cost_model=cost_model)[0]
        except DataError as error:
            note = f"t-DCF not computed: {error}"
    return GroupResult(
        n_bonafide=int(bonafide.size),
        n_spoof=int(spoof.size),
        eer=eer,
        eer_threshold=threshold,
        min_tdcf_2019=tdcf_2019,
        min_tdcf_2021=tdcf_2021,
        note=note,
    )


def _attack_rates(pooled: AsvErrorRates, asv_scores: AsvScores, attack: str) -> AsvErrorRates | None:
    """Return the pooled ASV rates with the spoof rates of one attack, or None if it has no ASV spoof scores."""
    if asv_scores.spoof_attacks is None:
        return pooled
    spoof = asv_scores.spoof[asv_scores.spoof_attacks == attack]
    if spoof.size == 0:
        return None
    return dataclasses.replace(
        pooled,
        p_miss_spoof=int(np.sum(spoof < pooled.threshold)) / spoof.size,
        p_fa_spoof=int(np.sum(spoof >= pooled.threshold)) / spoof.size,
    )


def _inputs_from_trials(
    scores: Mapping[str, float] | Sequence[float] | np.ndarray, trials: Sequence[Trial], allow_missing: bool
) -> tuple[np.ndarray, list[Trial], list[str]]:
    if isinstance(scores, Mapping):
        score_file = ScoreFile(
            path="scores",
            scores=np.asarray(list(scores.values()), dtype=np.float64),
            trial_ids=[str(key) for key in scores],
            labels=None,
            attacks=None,
            columns=2,
        )
        check_scores(score_file.scores)
        selected, values, notes = join_scores(score_file, trials, allow_missing=allow_missing)
        return values, selected, notes
    values = check_scores(scores)
    if values.size != len(trials):
        raise DataError(f"inconsistent numbers of scores and trials: [{values.size}, {len(trials)}].")
    _, values, notes = join_scores(
        ScoreFile(path="scores", scores=values, trial_ids=None, labels=None, attacks=None, columns=0), trials
    )
    return values, list(trials), notes


def evaluate_scores(
    scores: Mapping[str, float] | Sequence[float] | np.ndarray,
    trials: Sequence[Trial] | None = None,
    *,
    labels: Sequence[int] | np.ndarray | None = None,
    attacks: Sequence[str] | None = None,
    conditions: Sequence[str | None] | None = None,
    asv_scores: AsvScores | None = None,
    asv_threshold: float | None = None,
    asv_threshold_source: str | None = None,
    allow_missing: bool = False,
    cost_model: CostModel = ASVSPOOF_COST_MODEL,
) -> EvaluationResult:
    """Compute pooled, per-attack and per-condition EER and min t-DCF (higher score = bona fide).

    Give either ``trials`` (labels, attacks and conditions come from them) or ``labels`` (with
    optional ``attacks`` and ``conditions`` of the same length).

    Args:
        scores: a mapping trial id -> score (joined to ``trials`` by id), or an array of shape
            ``(n,)`` in the order of ``trials`` or ``labels``.
        trials: labelled trials, for example from :func:`lcnn.data.protocols.read_protocol`.
        labels: 1 bona fide / 0 spoof per score, instead of ``trials``.
        attacks: attack id per score (``"-"`` for bona fide), with ``labels``.
        conditions: condition per score, with ``labels``.
        asv_scores: ASV scores for the t-DCF; without them only the EER is computed.
        asv_threshold: fixed ASV threshold (for example the EER threshold of development ASV
            scores); None takes the EER threshold of ``asv_scores``.
        asv_threshold_source: how ``asv_threshold`` was obtained, for the report.
        allow_missing: with a mapping, evaluate the trials present in both instead of raising.
        cost_model: t-DCF priors and costs.

    Returns:
        The metrics and notes.

    Raises:
        DataError: inconsistent lengths, non-finite scores, labels other than 0/1, only one class,
            or ids missing from or not in ``trials`` (see :func:`lcnn.evaluation.scorefile.join_scores`).
    """
    if (trials is None) == (labels is None):
        raise DataError("pass either trials or labels (exactly one of them) to evaluate_scores.")
    notes: list[str] = []
    if trials is not None:
        values, used, notes = _inputs_from_trials(scores, trials, allow_missing)
        label_array = np.asarray([trial.label for trial in used], dtype=np.int64)
        attack_array = np.asarray([trial.attack for trial in used], dtype=object)
        condition_array = np.asarray([trial.condition for trial in used], dtype=object)
    else:
        values = check_scores(scores)
        label_array = np.asarray(labels)
        lengths = [values.size, label_array.size] + [len(x) for x in (attacks, conditions) if x is not None]
        if len(set(lengths)) != 1:
            raise DataError(f"inconsistent numbers of scores, labels, attacks and conditions: {lengths}.")
        if not np.isin(label_array, (BONAFIDE, SPOOF)).all():
            raise DataError(f"labels must be 1 (bona fide) or 0 (spoof), got values {np.unique(label_array)[:10]}.")
        attack_array = np.asarray(attacks if attacks is not None else ["-"] * values.size, dtype=object)
        condition_array = np.asarray(conditions if conditions is not None else [None] * values.size, dtype=object)

    is_bonafide = label_array == BONAFIDE
    n_bonafide = int(is_bonafide.sum())
    if n_bonafide == 0 or n_bonafide == values.size:
        kind = "spoof" if n_bonafide == 0 else "bona fide"
        raise DataError(
            f"all {values.size} trials are {kind}: EER and t-DCF need both bona fide and spoof trials; "
            "check the protocol or the labels."
        )

    rates = None
    asv_summary = None
    if asv_scores is not None:
        asv_eer, asv_eer_threshold = compute_eer(asv_scores.target, asv_scores.nontarget)
        if asv_threshold is None:
            asv_threshold, asv_threshold_source = asv_eer_threshold, "EER threshold of the ASV target vs nontarget scores"
        rates = asv_error_rates(asv_scores.target, asv_scores.nontarget, asv_scores.spoof, threshold=asv_threshold)
        asv_summary = AsvSummary(
            threshold=rates.threshold,
            threshold_source=asv_threshold_source or "given",
            eer=asv_eer,
            p_miss=rates.p_miss,
            p_fa=rates.p_fa,
            p_fa_spoof=rates.p_fa_spoof,
        )
    else:
        notes.append("t-DCF not computed: no ASV scores were given (pass --asv-scores).")

    pooled = _group_metrics(values[is_bonafide], values[~is_bonafide], rates, cost_model)
    if pooled.note:
        notes.append(f"pooled: {pooled.note}")
    if pooled.eer is not None and pooled.eer > 0.5:
        message = (
            f"the pooled EER is {pooled.eer:.2%}, above 50%: the scores look inverted (higher must mean "
            "bona fide); negate them (lcnn evaluate --negate) and evaluate again."
        )
        logger.warning(message)
        notes.append(message)

    per_attack: dict[str, GroupResult] = {}
    is_spoof = ~is_bonafide
    for attack in sorted(set(attack_array[is_spoof])):
        attack_rates = rates
        if rates is not None and asv_scores is not None:
            attack_rates = _attack_rates(rates, asv_scores, attack)
            if attack_rates is None:
                notes.append(f"attack {attack}: the ASV scores have no spoof trial of it; its t-DCF uses pooled ASV rates.")
                attack_rates = rates
        spoof = values[is_spoof & (attack_array == attack)]
        per_attack[attack] = _group_metrics(values[is_bonafide], spoof, attack_rates, cost_model)

    per_condition: dict[str, GroupResult] = {}
    present = sorted({condition for condition in condition_array if condition is not None})
    for condition in present:
        in_condition = condition_array == condition
        per_condition[condition] = _group_metrics(
            values[is_bonafide & in_condition], values[is_spoof & in_condition], rates, cost_model
        )
    if present and rates is not None:
        notes.append("per-condition t-DCF uses pooled ASV error rates: the ASV scores give no condition.")
    return EvaluationResult(pooled=pooled, per_attack=per_attack, per_condition=per_condition, asv=asv_summary, notes=notes)


def _format_value(value: float | None, scale: float = 1.0) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value * scale:.5f}"


def _format_table(title: str, groups: Mapping[str, GroupResult]) -> list[str]:
    header = f"{title:<16} {'n_bonafide':>10} {'n_spoof':>8} {'EER (%)':>10} {'t-DCF 2019':>11} {'t-DCF 2021':>11}"
    lines = [header, "-" * len(header)]
    for name, group in groups.items():
        lines.append(
            f"{name:<16} {group.n_bonafide:>10} {group.n_spoof:>8} {_format_value(group.eer, 100):>10} "
            f"{_format_value(group.min_tdcf_2019):>11} {_format_value(group.min_tdcf_2021):>11}"
        )
    return lines


def format_report(result: EvaluationResult) -> str:
    """Format a result as text tables: pooled line, per-attack and per-condition tables, notes."""
    pooled = result.pooled
    lines = [f"Trials: {pooled.n_bonafide} bona fide, {pooled.n_spoof} spoof"]
    if result.asv is not None:
        asv = result.asv
        lines.append(
            f"ASV: threshold {asv.threshold:.6g} ({asv.threshold_source}); ASV EER {asv.eer:.3%}, "
            f"Pmiss {asv.p_miss:.4f}, Pfa {asv.p_fa:.4f}, Pfa_spoof {asv.p_fa_spoof:.4f}"
        )
    lines.append(
        f"Pooled EER: {_format_value(pooled.eer, 100)} % (threshold {pooled.eer_threshold:.6g})"
    )
    lines.append(f"Pooled min t-DCF 2019 (legacy): {_format_value(pooled.min_tdcf_2019)}")
    lines.append(f"Pooled min t-DCF 2021 (revised): {_format_value(pooled.min_tdcf_2021)}")
    if result.per_attack:
        lines += ["", *_format_table("attack", result.per_attack)]
    if result.per_condition:
        lines += ["", *_format_table("condition", result.per_condition)]
    group_notes = [
        f"{kind} {name}: {group.note}"
        for kind, groups in (("attack", result.per_attack), ("condition", result.per_condition))
        for name, group in groups.items()
        if group.note
    ]
    if result.notes or group_notes:
        lines += ["", "Notes:"] + [f"- {note}" for note in [*result.notes, *group_notes]]
    return "\n".join(lines)
