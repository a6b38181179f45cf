"""Tests of lcnn.evaluation.scorefile: score-file formats, joining to a protocol, bad input."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from lcnn.data.protocols import BONAFIDE, SPOOF, Trial, read_protocol
from lcnn.errors import DataError
from lcnn.evaluation.scorefile import join_scores, read_asv_scores, read_score_file, trials_from_score_file

TRIALS = [
    Trial("T1", BONAFIDE),
    Trial("T2", SPOOF, "A01"),
    Trial("T3", SPOOF, "A02"),
    Trial("T4", BONAFIDE),
    Trial("T5", SPOOF, "A01"),
]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def asvspoof_dir(data_dir: Path) -> Path:
    folder = data_dir / "asvspoof"
    if not (folder / "scores").is_dir():
        pytest.skip(f"ASVspoof score files not found in {folder}")
    return folder


def test_two_column_file(tmp_path: Path) -> None:
    score_file = read_score_file(write(tmp_path / "s.txt", "T1 0.5\nT2 -1.25\n"))
    assert score_file.trial_ids == ["T1", "T2"]
    np.testing.assert_array_equal(score_file.scores, [0.5, -1.25])
    assert score_file.labels is None
    assert score_file.attacks is None
    assert score_file.columns == 2


def test_four_column_file(tmp_path: Path) -> None:
    score_file = read_score_file(write(tmp_path / "s.txt", "T1 - bonafide 0.5\nT2 A01 spoof -1\n"))
    np.testing.assert_array_equal(score_file.labels, [BONAFIDE, SPOOF])
    assert score_file.attacks == ["-", "A01"]
    assert trials_from_score_file(score_file) == [Trial("T1", BONAFIDE), Trial("T2", SPOOF, "A01")]


def test_six_column_gzip_file(tmp_path: Path) -> None:
    path = tmp_path / "s.txt.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("LA_0039 T1 - A11 spoof -0.5\nLA_0040 T2 - - bonafide 2.0\n")
    score_file = read_score_file(path)
    assert score_file.trial_ids == ["T1", "T2"]
    assert score_file.attacks == ["A11", "-"]
    np.testing.assert_array_equal(score_file.scores, [-0.5, 2.0])


def test_mat_file(tmp_path: Path) -> None:
    path = tmp_path / "s.mat"
    scipy.io.savemat(path, {"scores_eval": np.arange(5, dtype=float).reshape(5, 1)})
    score_file = read_score_file(path)
    assert score_file.trial_ids is None
    trials, scores, notes = join_scores(score_file, TRIALS)
    assert trials == TRIALS
    np.testing.assert_array_equal(scores, [0, 1, 2, 3, 4])
    assert notes == []


def test_mat_file_errors(tmp_path: Path) -> None:
    path = tmp_path / "two.mat"
    scipy.io.savemat(path, {"a": np.zeros(3), "b": np.ones(3)})
    with pytest.raises(DataError, match=r"expected exactly one numeric variable .* found \['a', 'b'\]"):
        read_score_file(path)
    path = tmp_path / "short.mat"
    scipy.io.savemat(path, {"scores": np.zeros((3, 1))})
    with pytest.raises(DataError, match="3 scores without trial ids, .* but the protocol has 5 trials"):
        join_scores(read_score_file(path), TRIALS)
    path = tmp_path / "nan.mat"
    scipy.io.savemat(path, {"scores": np.array([0.0, np.nan, 1.0])})
    with pytest.raises(DataError, match=r"1 score\(s\) are NaN or infinite, at index 1 \(nan\)"):
        read_score_file(path)


def test_unreadable_lines_report_location(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"s\.txt:3: expected 2 columns as on the first line, got 3: 'T3 0.1 extra'"):
        read_score_file(write(tmp_path / "s.txt", "T1 0.5\n\nT3 0.1 extra\n"))
    with pytest.raises(DataError, match=r"t\.txt:2: the score 'abc' is not a number"):
        read_score_file(write(tmp_path / "t.txt", "T1 0.5\nT2 abc\n"))
    with pytest.raises(DataError, match=r"u\.txt:1: a score line has 3 columns"):
        read_score_file(write(tmp_path / "u.txt", "T1 spoof 0.5\n"))
    with pytest.raises(DataError, match=r"v\.txt:2: the key must be 'bonafide' or 'spoof', got 'genuine'"):
        read_score_file(write(tmp_path / "v.txt", "T1 - bonafide 1\nT2 - genuine 0.5\n"))


def test_non_finite_scores_report_lines(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"2 score\(s\) are NaN or infinite, at line 2 \(nan\), line 4 \(inf\)"):
        read_score_file(write(tmp_path / "s.txt", "T1 0.5\nT2 nan\nT3 1\nT4 inf\n"))


def test_duplicate_scores_rejected(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"1 trial id\(s\) are scored more than once: T1 \(lines 1 and 3\)"):
        read_score_file(write(tmp_path / "s.txt", "T1 0.5\nT2 0.1\nT1 0.7\n"))


def test_empty_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="contains no score"):
        read_score_file(write(tmp_path / "s.txt", "\n# comment\n"))
    with pytest.raises(DataError, match="score file not found"):
        read_score_file(tmp_path / "absent.txt")
    with pytest.raises(DataError, match="no key column"):
        trials_from_score_file(read_score_file(write(tmp_path / "t.txt", "T1 0.5\n")))


def test_join_in_protocol_order(tmp_path: Path) -> None:
    score_file = read_score_file(write(tmp_path / "s.txt", "T5 5\nT4 4\nT3 3\nT2 2\nT1 1\n"))
    trials, scores, notes = join_scores(score_file, TRIALS)
    assert trials == TRIALS
    np.testing.assert_array_equal(scores, [1, 2, 3, 4, 5])
    assert notes == []


def test_join_missing_and_extra_ids(tmp_path: Path) -> None:
    score_file = read_score_file(write(tmp_path / "s.txt", "T1 1\nT2 2\nT3 3\nX9 9\n"))
    with pytest.raises(DataError, match=r"2 of 5 protocol trials have no score \(first: T4, T5\); 1 of 4 scored trials .* \(first: X9\); pass --allow-missing"):
        join_scores(score_file, TRIALS)


def test_join_allow_missing_evaluates_intersection(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    score_file = read_score_file(write(tmp_path / "s.txt", "T1 1\nT2 2\nT3 3\nX9 9\n"))
    with caplog.at_level(logging.WARNING, logger="lcnn.evaluation.scorefile"):
        trials, scores, notes = join_scores(score_file, TRIALS, allow_missing=True)
    assert [trial.trial_id for trial in trials] == ["T1", "T2", "T3"]
    np.testing.assert_array_equal(scores, [1, 2, 3])
    assert "evaluating the 3 trials in both" in caplog.text
    assert len(notes) == 1


def test_join_without_overlap_fails_even_when_allowed(tmp_path: Path) -> None:
    score_file = read_score_file(write(tmp_path / "s.txt", "X1 1\nX2 2\n"))
    with pytest.raises(DataError, match="no trial is in both"):
        join_scores(score_file, TRIALS, allow_missing=True)


def test_join_label_conflict(tmp_path: Path) -> None:
    score_file = read_score_file(write(tmp_path / "s.txt", "T1 - spoof 1\nT2 A01 spoof 2\n"))
    with pytest.raises(DataError, match=r"key column contradicts the protocol for 1 trials \(first: T1\)"):
        join_scores(score_file, TRIALS[:2])


def test_join_unlabelled_protocol(tmp_path: Path) -> None:
    score_file = read_score_file(write(tmp_path / "s.txt", "U1 1\nU2 2\n"))
    with pytest.raises(DataError, match="2 trials have no bonafide/spoof label"):
        join_scores(score_file, [Trial("U1", None), Trial("U2", None)])


def test_asv_score_file(tmp_path: Path) -> None:
    text = "bonafide target 3.0\nbonafide nontarget -1.0\nA07 spoof 2.0\nA08 spoof 0.5\n"
    asv = read_asv_scores(write(tmp_path / "asv.txt", text))
    np.testing.assert_array_equal(asv.target, [3.0])
    np.testing.assert_array_equal(asv.nontarget, [-1.0])
    np.testing.assert_array_equal(asv.spoof, [2.0, 0.5])
    np.testing.assert_array_equal(asv.spoof_attacks, ["A07", "A08"])


def test_asv_score_file_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"asv\.txt:2: the key must be target, nontarget or spoof, got 'impostor'"):
        read_asv_scores(write(tmp_path / "asv.txt", "bonafide target 3\nbonafide impostor 1\n"))
    with pytest.raises(DataError, match="no nontarget / spoof ASV scores"):
        read_asv_scores(write(tmp_path / "b.txt", "bonafide target 3\n"))
    with pytest.raises(DataError, match=r"c\.txt:1: expected 3 columns SOURCE KEY SCORE, got 2"):
        read_asv_scores(write(tmp_path / "c.txt", "target 3\n"))
    with pytest.raises(DataError, match=r"d\.txt:1: the ASV score is not finite"):
        read_asv_scores(write(tmp_path / "d.txt", "bonafide target nan\n"))


@pytest.mark.parametrize(
    ("name", "columns"),
    [
        ("asvspoof2019_official_baselines/B01_LA_primary_eval.txt.gz", 6),
        ("AIR-ASVspoof/softmax_checkpoint_cm_score.txt.gz", 4),
        ("rawnet2_LFCC_high_resolution/scores_ASVspoof2019.LA.cm.eval.trl.mat", 0),
    ],
)
def test_real_score_files_join_eval_protocol(asvspoof_dir: Path, name: str, columns: int) -> None:
    score_file = read_score_file(asvspoof_dir / "scores" / name)
    assert score_file.columns == columns
    assert score_file.scores.shape == (71_237,)
    protocol = read_protocol(asvspoof_dir / "protocols/LA/ASVspoof2019.LA.cm.eval.trl.txt")
    trials, scores, notes = join_scores(score_file, protocol)
    assert len(trials) == 71_237
    assert sum(trial.label for trial in trials) == 7_355
    assert notes == []


def test_real_asv_scores(asvspoof_dir: Path) -> None:
    asv = read_asv_scores(asvspoof_dir / "protocols/LA/ASVspoof2019.LA.asv.eval.gi.trl.scores.txt")
    assert (asv.target.size, asv.nontarget.size, asv.spoof.size) == (5_370, 33_327, 63_882)
    assert sorted(set(asv.spoof_attacks)) == [f"A{number:02d}" for number in range(7, 20)]
