"""Tests of lcnn.evaluation.report: breakdowns, notes, published and pinned values on real score files."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from lcnn.data.protocols import BONAFIDE, SPOOF, Trial, read_protocol
from lcnn.errors import DataError
from lcnn.evaluation.report import evaluate_scores, format_report
from lcnn.evaluation.scorefile import AsvScores, join_scores, read_asv_scores, read_score_file
from lcnn.metrics import compute_eer, min_tdcf_2019, min_tdcf_2021

# Output of the organisers' tDCF_python v1 code on ocsoftmax_test_results_checkpoint_cm_score.txt, printed in
# models1028/ocsoftmax/test_results/Readme.txt of yzyouzhang/AIR-ASVspoof: per-attack EER and min t-DCF,
# A07..A19, with the spoof acceptance rate of the ASV taken per attack.
AIR_PER_ATTACK_EER = [
    0.0013920603655477892, 0.0017995034650371156, 0.0012223292984679798, 0.011408406785701142,
    0.0012223292984679798, 0.004651605161462402, 0.0022069465645264425, 0.006926532691318552,
    0.014022796449716912, 0.0032595447959146125, 0.09201415951925809, 0.008963748188765185,
    0.008726036156355668,
]  # fmt: skip
AIR_PER_ATTACK_TDCF = [
    0.00368042934276665, 0.004213527561415477, 0.009413529841999804, 0.02444090800063719,
    0.00252755857420723, 0.010671671681910126, 0.006050743763236448, 0.018664248410511064,
    0.037571774711576654, 0.007375005822600716, 0.6157704885614934, 0.03779138388863025,
    0.031665916386706655,
]  # fmt: skip

# Values computed by this implementation, cross-checked against the rounded figures in the data
# folder's SOURCES.md: (file, protocol split, negate, EER, min t-DCF 2019, min t-DCF 2021), ASV
# threshold at the EER point of the same split's ASV scores.
PINNED = [
    ("asvspoof2019_official_baselines/B01_LA_primary_eval.txt.gz", "eval", False, 0.09572028206918129, 0.2359360695652375, 0.2838679998321301),
    ("asvspoof2019_official_baselines/B02_LA_primary_eval.txt.gz", "eval", False, 0.08089825328229344, 0.2110527337205856, 0.26054566728969514),
    ("AIR-ASVspoof/ocsoftmax_test_results_checkpoint_cm_score.txt.gz", "eval", False, 0.02186350402895924, 0.05581600618861608, 0.1150473866370189),
    ("AIR-ASVspoof/ocsoftmax_checkpoint_cm_score.txt.gz", "eval", True, 0.021779869201821823, 0.05581600618861608, 0.1150473866370189),
    ("AIR-ASVspoof/amsoftmax_checkpoint_cm_score.txt.gz", "eval", False, 0.03164996534760693, 0.077145275990985, 0.13503860993295327),
    ("AIR-ASVspoof/softmax_checkpoint_cm_score.txt.gz", "eval", False, 0.050577732853003474, 0.1208368184179654, 0.17598925610577945),
    ("rawnet2_LFCC_high_resolution/scores_ASVspoof2019.LA.cm.eval.trl.mat", "eval", False, 0.03505576041788979, 0.09344222495667551, 0.1503132043674698),
    ("rawnet2_LFCC_high_resolution/scores_ASVspoof2019.LA.cm.dev.trl.mat", "dev", False, 4.485109436670255e-05, 8.970218873340511e-05, 0.0621106056372512),
]  # fmt: skip


def make_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.array([BONAFIDE] * 300 + [SPOOF] * 600)
    attacks = np.array(["-"] * 300 + ["A01"] * 200 + ["A02"] * 200 + ["A03"] * 200)
    conditions = np.array(["c1", "c2", "c3"] * 300)
    shift = {"-": 1.0, "A01": -1.0, "A02": 0.0, "A03": -2.0}
    scores = np.array([rng.normal(shift[attack]) for attack in attacks])
    return scores, labels, attacks, conditions


def make_asv(seed: int = 0) -> AsvScores:
    rng = np.random.default_rng(seed)
    return AsvScores(
        target=rng.normal(3.0, 1.0, 300),
        nontarget=rng.normal(-2.0, 1.0, 900),
        spoof=np.concatenate([rng.normal(2.0, 1.0, 100), rng.normal(0.0, 1.0, 100), rng.normal(1.0, 1.0, 100)]),
        spoof_attacks=np.array(["A01"] * 100 + ["A02"] * 100 + ["A03"] * 100),
    )


def test_pooled_and_breakdowns_match_metrics() -> None:
    scores, labels, attacks, conditions = make_data()
    asv = make_asv()
    result = evaluate_scores(scores, labels=labels, attacks=attacks, conditions=conditions, asv_scores=asv)
    bonafide, spoof = scores[labels == 1], scores[labels == 0]
    pooled_asv = (asv.target, asv.nontarget, asv.spoof)
    assert (result.pooled.eer, result.pooled.eer_threshold) == compute_eer(bonafide, spoof)
    assert result.pooled.min_tdcf_2019 == min_tdcf_2019(bonafide, spoof, pooled_asv)[0]
    assert result.pooled.min_tdcf_2021 == min_tdcf_2021(bonafide, spoof, pooled_asv)[0]
    assert list(result.per_attack) == ["A01", "A02", "A03"]

    attack_spoof = scores[attacks == "A02"]
    threshold = compute_eer(asv.target, asv.nontarget)[1]
    attack_asv = (asv.target, asv.nontarget, asv.spoof[asv.spoof_attacks == "A02"])
    group = result.per_attack["A02"]
    assert (group.n_bonafide, group.n_spoof) == (300, 200)
    assert group.eer == compute_eer(bonafide, attack_spoof)[0]
    assert group.min_tdcf_2019 == min_tdcf_2019(bonafide, attack_spoof, attack_asv, asv_threshold=threshold)[0]
    assert group.min_tdcf_2021 == min_tdcf_2021(bonafide, attack_spoof, attack_asv, asv_threshold=threshold)[0]

    in_c2 = conditions == "c2"
    condition = result.per_condition["c2"]
    assert (condition.n_bonafide, condition.n_spoof) == (100, 200)
    assert condition.eer == compute_eer(scores[in_c2 & (labels == 1)], scores[in_c2 & (labels == 0)])[0]
    assert condition.min_tdcf_2019 == min_tdcf_2019(scores[in_c2 & (labels == 1)], scores[in_c2 & (labels == 0)], pooled_asv)[0]
    assert any("per-condition t-DCF uses pooled ASV error rates" in note for note in result.notes)


def test_fixed_asv_threshold() -> None:
    scores, labels, attacks, _ = make_data(1)
    asv = make_asv(1)
    result = evaluate_scores(scores, labels=labels, attacks=attacks, asv_scores=asv, asv_threshold=0.5, asv_threshold_source="dev")
    assert result.asv.threshold == 0.5
    assert result.asv.threshold_source == "dev"
    expected = min_tdcf_2019(scores[labels == 1], scores[labels == 0], (asv.target, asv.nontarget, asv.spoof), asv_threshold=0.5)
    assert result.pooled.min_tdcf_2019 == expected[0]


def test_trials_and_mapping_inputs_agree() -> None:
    scores, labels, attacks, conditions = make_data(2)
    trials = [Trial(f"T{i}", int(label), attack, condition=condition) for i, (label, attack, condition) in enumerate(zip(labels, attacks, conditions))]
    by_array = evaluate_scores(scores, trials)
    by_mapping = evaluate_scores({f"T{i}": score for i, score in reversed(list(enumerate(scores)))}, trials)
    by_labels = evaluate_scores(scores, labels=labels, attacks=attacks, conditions=conditions)
    assert by_array.to_dict() == by_mapping.to_dict() == by_labels.to_dict()


def test_mapping_missing_ids() -> None:
    trials = [Trial("T1", 1), Trial("T2", 0, "A01"), Trial("T3", 0, "A01"), Trial("T4", 1)]
    scores = {"T1": 1.0, "T2": -1.0, "T3": 0.5}
    with pytest.raises(DataError, match=r"1 of 4 protocol trials have no score \(first: T4\)"):
        evaluate_scores(scores, trials)
    result = evaluate_scores(scores, trials, allow_missing=True)
    assert (result.pooled.n_bonafide, result.pooled.n_spoof) == (1, 2)
    assert "evaluated the 3 trials in both" in result.notes[0]


def test_one_class_rejected() -> None:
    with pytest.raises(DataError, match="all 3 trials are bona fide: EER and t-DCF need both"):
        evaluate_scores([0.1, 0.2, 0.3], labels=[1, 1, 1])
    with pytest.raises(DataError, match="all 2 trials are spoof"):
        evaluate_scores({"a": 0.1, "b": 0.2}, [Trial("a", 0, "A01"), Trial("b", 0, "A01")])


def test_bad_inputs_rejected() -> None:
    with pytest.raises(DataError, match=r"inconsistent numbers of scores, labels, attacks and conditions: \[3, 2\]"):
        evaluate_scores([0.1, 0.2, 0.3], labels=[1, 0])
    with pytest.raises(DataError, match="labels must be 1 .* or 0"):
        evaluate_scores([0.1, 0.2], labels=[1, 2])
    with pytest.raises(DataError, match="pass either trials or labels"):
        evaluate_scores([0.1, 0.2])
    with pytest.raises(DataError, match=r"scores contain 1 non-finite value\(s\)"):
        evaluate_scores([0.1, np.inf], labels=[1, 0])
    with pytest.raises(DataError, match=r"inconsistent numbers of scores and trials: \[1, 2\]"):
        evaluate_scores([0.1], [Trial("a", 1), Trial("b", 0)])


def test_inverted_scores_warn(caplog: pytest.LogCaptureFixture) -> None:
    scores, labels, attacks, _ = make_data(3)
    with caplog.at_level(logging.WARNING, logger="lcnn.evaluation.report"):
        result = evaluate_scores(-scores, labels=labels, attacks=attacks)
    assert result.pooled.eer > 0.5
    assert "scores look inverted" in caplog.text
    assert any("negate them" in note for note in result.notes)


def test_no_asv_reports_eer_only() -> None:
    scores, labels, attacks, _ = make_data(4)
    result = evaluate_scores(scores, labels=labels, attacks=attacks)
    assert result.pooled.min_tdcf_2019 is None
    assert result.per_attack["A01"].min_tdcf_2021 is None
    assert result.asv is None
    assert "t-DCF not computed: no ASV scores were given" in result.notes[0]
    assert result.per_condition == {}


def test_hard_decisions_note_instead_of_tdcf() -> None:
    result = evaluate_scores([1.0, 1.0, 0.0, 0.0], labels=[1, 1, 0, 0], attacks=["-", "-", "A01", "A01"], asv_scores=make_asv())
    assert result.pooled.eer == 0.0
    assert result.pooled.min_tdcf_2019 is None
    assert any("soft scores" in note for note in result.notes)


def test_condition_with_one_class() -> None:
    result = evaluate_scores([1.0, 0.5, 0.0, -1.0], labels=[1, 1, 0, 0], conditions=["x", "x", "x", "y"])
    assert result.per_condition["y"].eer is None
    assert "one class only" in result.per_condition["y"].note
    assert "condition y: one class only" in format_report(result)


def test_json_and_text_output() -> None:
    scores, labels, attacks, conditions = make_data(5)
    result = evaluate_scores(scores, labels=labels, attacks=attacks, conditions=conditions, asv_scores=make_asv(5))
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    for key in ("eer", "eer_threshold", "min_tdcf_2019", "min_tdcf_2021", "n_bonafide", "n_spoof", "per_attack", "per_condition", "asv", "notes"):
        assert key in data
    assert set(data["per_attack"]["A01"]) >= {"eer", "min_tdcf_2019", "min_tdcf_2021", "n_bonafide", "n_spoof"}
    text = format_report(result)
    assert f"Pooled EER: {result.pooled.eer * 100:.5f} %" in text
    assert "A03" in text
    assert "c3" in text


@pytest.fixture(scope="module")
def asvspoof(data_dir: Path) -> dict:
    folder = data_dir / "asvspoof"
    if not (folder / "scores").is_dir():
        pytest.skip(f"ASVspoof score files not found in {folder}")
    protocols = folder / "protocols" / "LA"
    return {
        "folder": folder,
        "eval": read_protocol(protocols / "ASVspoof2019.LA.cm.eval.trl.txt"),
        "dev": read_protocol(protocols / "ASVspoof2019.LA.cm.dev.trl.txt"),
        "asv_eval": read_asv_scores(protocols / "ASVspoof2019.LA.asv.eval.gi.trl.scores.txt"),
        "asv_dev": read_asv_scores(protocols / "ASVspoof2019.LA.asv.dev.gi.trl.scores.txt"),
    }


def evaluate_file(asvspoof: dict, name: str, split: str = "eval", *, negate: bool = False, **kwargs):
    trials, scores, _ = join_scores(read_score_file(asvspoof["folder"] / "scores" / name), asvspoof[split])
    return evaluate_scores(-scores if negate else scores, trials, asv_scores=asvspoof[f"asv_{split}"], **kwargs)


def test_air_ocsoftmax_published_values(asvspoof: dict) -> None:
    result = evaluate_file(asvspoof, "AIR-ASVspoof/ocsoftmax_test_results_checkpoint_cm_score.txt.gz")
    assert round(result.pooled.eer * 100, 5) == 2.18635
    assert round(result.pooled.min_tdcf_2019, 5) == 0.05582
    assert list(result.per_attack) == [f"A{number:02d}" for number in range(7, 20)]
    assert [group.eer for group in result.per_attack.values()] == AIR_PER_ATTACK_EER
    assert [group.min_tdcf_2019 for group in result.per_attack.values()] == AIR_PER_ATTACK_TDCF


@pytest.mark.parametrize(
    ("name", "eer_percent", "tdcf", "tdcf_computed"),
    [
        ("asvspoof2019_official_baselines/B02_LA_primary_eval.txt.gz", 8.09, 0.2116, 0.21171095608031865),
        ("asvspoof2019_official_baselines/B01_LA_primary_eval.txt.gz", 9.57, 0.2366, 0.23672206450068345),
    ],
)
def test_baselines_with_dev_asv_threshold(asvspoof: dict, name: str, eer_percent: float, tdcf: float, tdcf_computed: float) -> None:
    dev = asvspoof["asv_dev"]
    threshold = compute_eer(dev.target, dev.nontarget)[1]
    result = evaluate_file(asvspoof, name, asv_threshold=threshold)
    assert round(result.pooled.eer * 100, 2) == eer_percent
    assert result.pooled.min_tdcf_2019 == pytest.approx(tdcf_computed, abs=1e-15)
    # NOTE: the published challenge figure is 0.0001 lower than any reading of the organisers' code
    # reproduces (dev ASV threshold: 0.2117 / 0.2367; eval threshold: 0.2111 / 0.2359).
    assert abs(result.pooled.min_tdcf_2019 - tdcf) < 1.5e-4


@pytest.mark.parametrize(("name", "split", "negate", "eer", "tdcf_2019", "tdcf_2021"), PINNED, ids=[row[0].split("/")[-1] for row in PINNED])
def test_pinned_values(asvspoof: dict, name: str, split: str, negate: bool, eer: float, tdcf_2019: float, tdcf_2021: float) -> None:
    result = evaluate_file(asvspoof, name, split, negate=negate)
    assert result.pooled.eer == pytest.approx(eer, abs=1e-15)
    assert result.pooled.min_tdcf_2019 == pytest.approx(tdcf_2019, abs=1e-15)
    assert result.pooled.min_tdcf_2021 == pytest.approx(tdcf_2021, abs=1e-15)


def test_inverted_real_file_warns(asvspoof: dict, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="lcnn.evaluation.report"):
        result = evaluate_file(asvspoof, "AIR-ASVspoof/ocsoftmax_checkpoint_cm_score.txt.gz")
    assert round(result.pooled.eer * 100, 2) == 97.82
    assert "scores look inverted" in caplog.text
