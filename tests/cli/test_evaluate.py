"""Tests of the ``lcnn evaluate`` subcommand, run through its own parser."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
import pytest

from lcnn.cli import evaluate
from lcnn.errors import ConfigError, DataError
from lcnn.fileio import OutputExistsError


def run_evaluate(*argv: str | Path) -> int:
    parser = argparse.ArgumentParser(prog="lcnn")
    evaluate.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["evaluate", *map(str, argv)])
    return args.func(args)


@pytest.fixture()
def small_set(tmp_path: Path) -> tuple[Path, Path]:
    """A 2019-format protocol of 40 trials and a two-column score file that separates them partly."""
    rng = np.random.default_rng(0)
    protocol_lines, score_lines = [], []
    for index in range(40):
        if index < 15:
            attack = "-"
        elif index % 2:
            attack = "A01"
        else:
            attack = "A02"
        key = "bonafide" if attack == "-" else "spoof"
        score = rng.normal(1.0 if key == "bonafide" else -1.0)
        protocol_lines.append(f"LA_0001 LA_E_{index:04d} - {attack} {key}")
        score_lines.append(f"LA_E_{index:04d} {score:.6f}")
    protocol = tmp_path / "protocol.txt"
    protocol.write_text("\n".join(protocol_lines) + "\n")
    scores = tmp_path / "scores.txt"
    scores.write_text("\n".join(score_lines) + "\n")
    return protocol, scores


def test_help_lists_options() -> None:
    parser = argparse.ArgumentParser(prog="lcnn")
    evaluate.register(parser.add_subparsers(dest="command"))
    text = parser._subparsers._group_actions[0].choices["evaluate"].format_help()
    for option in ("--protocol", "--asv-scores", "--asv-threshold-scores", "--json", "--plot", "--allow-missing", "--force", "--negate"):
        assert option in text


def test_small_set_text(small_set: tuple[Path, Path], capsys: pytest.CaptureFixture) -> None:
    protocol, scores = small_set
    assert run_evaluate(scores, "--protocol", protocol) == 0
    output = capsys.readouterr().out
    assert "Trials: 15 bona fide, 25 spoof" in output
    assert "Pooled min t-DCF 2019 (legacy): -" in output
    assert "no ASV scores were given" in output
    assert "A01" in output
    assert "A02" in output


def test_small_set_json_without_asv(small_set: tuple[Path, Path], capsys: pytest.CaptureFixture) -> None:
    protocol, scores = small_set
    run_evaluate(scores, "--protocol", protocol, "--json")
    data = json.loads(capsys.readouterr().out)
    assert data["min_tdcf_2019"] is None
    assert data["min_tdcf_2021"] is None
    assert set(data["per_attack"]) == {"A01", "A02"}
    assert data["per_attack"]["A01"]["n_bonafide"] == 15
    assert 0.0 <= data["eer"] <= 0.5


def test_missing_ids(small_set: tuple[Path, Path], capsys: pytest.CaptureFixture) -> None:
    protocol, scores = small_set
    lines = scores.read_text().splitlines()
    scores.write_text("\n".join(lines[:-3] + ["LA_E_9999 0.5"]) + "\n")
    with pytest.raises(DataError, match=r"3 of 40 protocol trials have no score .* 1 of 38 scored trials are not in the protocol"):
        run_evaluate(scores, "--protocol", protocol)
    assert run_evaluate(scores, "--protocol", protocol, "--allow-missing", "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["n_bonafide"] + data["n_spoof"] == 37
    assert "evaluated the 37 trials in both" in data["notes"][0]


def test_duplicate_ids(small_set: tuple[Path, Path]) -> None:
    protocol, scores = small_set
    scores.write_text(scores.read_text() + "LA_E_0003 0.1\n")
    with pytest.raises(DataError, match=r"1 trial id\(s\) are scored more than once: LA_E_0003 \(lines 4 and 41\)"):
        run_evaluate(scores, "--protocol", protocol)


def test_nan_score(small_set: tuple[Path, Path]) -> None:
    protocol, scores = small_set
    lines = scores.read_text().splitlines()
    lines[5] = "LA_E_0005 nan"
    scores.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"1 score\(s\) are NaN or infinite, at line 6 \(nan\)"):
        run_evaluate(scores, "--protocol", protocol)


def test_one_class(small_set: tuple[Path, Path]) -> None:
    protocol, scores = small_set
    protocol.write_text("".join(line.replace("spoof", "bonafide").replace(" A01 ", " - ").replace(" A02 ", " - ") + "\n" for line in protocol.read_text().splitlines()))
    with pytest.raises(DataError, match="all 40 trials are bona fide"):
        run_evaluate(scores, "--protocol", protocol)


def test_unreadable_line(small_set: tuple[Path, Path]) -> None:
    protocol, scores = small_set
    original = scores.read_text()
    scores.write_text(original + "LA_E_0050 0.1 0.2\n")
    with pytest.raises(DataError, match=r"scores\.txt:41: expected 2 columns as on the first line, got 3"):
        run_evaluate(scores, "--protocol", protocol)
    scores.write_text(original)
    protocol.write_text(protocol.read_text() + "LA_0001 LA_E_0050 - A01\n")
    with pytest.raises(DataError, match=r"protocol\.txt:41: expected 5 fields"):
        run_evaluate(scores, "--protocol", protocol)


def test_inverted_scores_warn_and_negate(small_set: tuple[Path, Path], capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture) -> None:
    protocol, scores = small_set
    inverted = scores.with_name("inverted.txt")
    inverted.write_text("".join(f"{trial} {-float(value)}\n" for trial, value in (line.split() for line in scores.read_text().splitlines())))
    with caplog.at_level(logging.WARNING, logger="lcnn.evaluation.report"):
        run_evaluate(inverted, "--protocol", protocol, "--json")
    inverted_data = json.loads(capsys.readouterr().out)
    assert inverted_data["eer"] > 0.5
    assert "scores look inverted" in caplog.text
    run_evaluate(inverted, "--protocol", protocol, "--json", "--negate")
    negated = json.loads(capsys.readouterr().out)
    run_evaluate(scores, "--protocol", protocol, "--json")
    original = json.loads(capsys.readouterr().out)
    assert negated["eer"] == original["eer"]


def test_option_errors(small_set: tuple[Path, Path]) -> None:
    protocol, scores = small_set
    with pytest.raises(ConfigError, match="--asv-threshold-scores needs --asv-scores"):
        run_evaluate(scores, "--protocol", protocol, "--asv-threshold-scores", scores)
    with pytest.raises(ConfigError, match="--subset selects trials of an ASVspoof 2021 key file"):
        run_evaluate(scores, "--subset", "eval")
    with pytest.raises(DataError, match="no key column, so labels must come from a protocol"):
        run_evaluate(scores)


@pytest.fixture(scope="module")
def la_dir(data_dir: Path) -> Path:
    folder = data_dir / "asvspoof"
    if not (folder / "scores").is_dir():
        pytest.skip(f"ASVspoof score files not found in {folder}")
    return folder


AIR_FILE = "scores/AIR-ASVspoof/ocsoftmax_test_results_checkpoint_cm_score.txt.gz"
EVAL_PROTOCOL = "protocols/LA/ASVspoof2019.LA.cm.eval.trl.txt"
EVAL_ASV = "protocols/LA/ASVspoof2019.LA.asv.eval.gi.trl.scores.txt"
DEV_ASV = "protocols/LA/ASVspoof2019.LA.asv.dev.gi.trl.scores.txt"


def test_real_file_text(la_dir: Path, capsys: pytest.CaptureFixture) -> None:
    code = run_evaluate(la_dir / AIR_FILE, "--protocol", la_dir / EVAL_PROTOCOL, "--asv-scores", la_dir / EVAL_ASV)
    output = capsys.readouterr().out
    assert code == 0
    assert "Trials: 7355 bona fide, 63882 spoof" in output
    assert "Pooled EER: 2.18635 %" in output
    assert "Pooled min t-DCF 2019 (legacy): 0.05582" in output
    assert "Pooled min t-DCF 2021 (revised): 0.11505" in output
    assert any(line.startswith("A17") and "9.20142" in line and "0.61577" in line for line in output.splitlines())


def test_real_file_json_and_plots(la_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    plots = tmp_path / "plots"
    argv = [la_dir / AIR_FILE, "--protocol", la_dir / EVAL_PROTOCOL, "--asv-scores", la_dir / EVAL_ASV, "--json", "--plot", plots]
    assert run_evaluate(*argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert round(data["eer"] * 100, 5) == 2.18635
    assert round(data["min_tdcf_2019"], 5) == 0.05582
    assert data["min_tdcf_2021"] == pytest.approx(0.1150473866370189, abs=1e-15)
    assert data["eer_threshold"] == pytest.approx(0.990638792514801)
    assert sorted(data["per_attack"]) == [f"A{number:02d}" for number in range(7, 20)]
    assert data["per_attack"]["A17"]["n_spoof"] == 4914
    assert data["asv"]["threshold"] == pytest.approx(-5.680051)
    for name in (evaluate.DET_PLOT, evaluate.HISTOGRAM_PLOT):
        content = (plots / name).read_bytes()
        assert content[:8] == b"\x89PNG\r\n\x1a\n"
        assert len(content) > 10_000
    with pytest.raises(OutputExistsError, match="pass --force"):
        run_evaluate(*argv)
    assert run_evaluate(*argv, "--force") == 0


def test_real_baseline_dev_threshold(la_dir: Path, capsys: pytest.CaptureFixture) -> None:
    argv = [la_dir / "scores/asvspoof2019_official_baselines/B02_LA_primary_eval.txt.gz", "--asv-scores", la_dir / EVAL_ASV]
    run_evaluate(*argv, "--asv-threshold-scores", la_dir / DEV_ASV, "--json")
    data = json.loads(capsys.readouterr().out)
    assert data["protocol"] is None
    assert round(data["eer"] * 100, 2) == 8.09
    assert data["min_tdcf_2019"] == pytest.approx(0.21171095608031865, abs=1e-15)
    assert "ASVspoof2019.LA.asv.dev.gi.trl.scores.txt" in data["asv"]["threshold_source"]


def test_real_mat_file(la_dir: Path, capsys: pytest.CaptureFixture) -> None:
    mat = la_dir / "scores/rawnet2_LFCC_high_resolution/scores_ASVspoof2019.LA.cm.eval.trl.mat"
    run_evaluate(mat, "--protocol", la_dir / EVAL_PROTOCOL, "--asv-scores", la_dir / EVAL_ASV, "--json")
    data = json.loads(capsys.readouterr().out)
    assert data["eer"] == pytest.approx(0.03505576041788979, abs=1e-15)
    assert data["min_tdcf_2021"] == pytest.approx(0.1503132043674698, abs=1e-15)
