"""Tests of ``lcnn import`` and ``lcnn export`` through the command-line entry point."""

from __future__ import annotations

import csv

import pytest
import torch

from lcnn.checkpoint import load_countermeasure, save_checkpoint
from lcnn.cli.main import build_parser, main
from lcnn.countermeasure import build_countermeasure
from lcnn.export import OnnxScorer

STATE_DICT = "pretrained/nii_lfcc_lcnn_lstm_sig_asvspoof2019la.pt"


@pytest.fixture(scope="module")
def nii_path(data_dir):
    path = data_dir / STATE_DICT
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    return path


@pytest.fixture(scope="module")
def reference(data_dir):
    with open(data_dir / "pretrained" / "reference" / "scores_la.tsv", newline="") as handle:
        return {data_dir / row["file"]: float(row["score"]) for row in csv.DictReader(handle, delimiter="\t")}


@pytest.fixture(scope="module")
def imported(tmp_path_factory, nii_path):
    out = tmp_path_factory.mktemp("import") / "nii.ckpt"
    assert main(["import", "nii", str(nii_path), "--out", str(out)]) == 0
    return out


def test_import_writes_checkpoint(imported):
    model, meta = load_countermeasure(imported)
    assert meta["spec"]["backbone"]["name"] == "lcnn_lstm"
    assert model.sample_rate == 16000


def test_import_refuses_overwrite(imported, nii_path, capsys):
    before = imported.read_bytes()
    assert main(["import", "nii", str(nii_path), "--out", str(imported)]) == 2
    assert "lcnn import: error:" in capsys.readouterr().err
    assert imported.read_bytes() == before
    assert main(["import", "nii", str(nii_path), "--out", str(imported), "--force"]) == 0


def test_import_bad_state_dict_reported(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    torch.save({"m_frontend.0.lfcc_fb": torch.zeros(10, 20), "m_frontend.0.l_dct.weight": torch.zeros(20, 20)}, bad)
    assert main(["import", "nii", str(bad), "--out", str(tmp_path / "out.ckpt")]) == 2
    assert "matches no LFCC preset" in capsys.readouterr().err
    assert not (tmp_path / "out.ckpt").exists()


def test_export_onnx_scores_match_authors(tmp_path, imported, reference):
    out = tmp_path / "nii.onnx"
    audio = [str(path) for path in reference]
    assert main(["export", str(imported), "--format", "onnx", "--out", str(out), "--verify-audio", *audio]) == 0
    scorer = OnnxScorer(out)
    for path, expected in reference.items():
        assert scorer.score_file(path) == pytest.approx(expected, abs=1e-4), path.name


def test_export_torchscript(tmp_path, imported):
    out = tmp_path / "nii.pt"
    assert main(["export", str(imported), "--format", "torchscript", "--out", str(out)]) == 0
    assert out.stat().st_size > 100_000


def test_export_missing_checkpoint_reported(tmp_path, capsys):
    assert main(["export", str(tmp_path / "absent.ckpt"), "--format", "onnx", "--out", str(tmp_path / "m.onnx")]) == 2
    assert "lcnn export: error: checkpoint not found" in capsys.readouterr().err


def test_export_old_opset_reported(tmp_path, capsys):
    checkpoint = save_checkpoint(
        tmp_path / "m.ckpt",
        build_countermeasure({"frontend": {"name": "lfcc"}, "backbone": {"name": "lcnn9_cm"}, "head": {"name": "softmax"}}),
        None,
    )
    assert main(["export", str(checkpoint), "--format", "onnx", "--out", str(tmp_path / "m.onnx"), "--opset", "12"]) == 2
    assert "opset 12 is too old" in capsys.readouterr().err


def test_help_shows_defaults():
    subparsers = next(a for a in build_parser()._actions if a.dest == "command")
    export_help = subparsers.choices["export"].format_help()
    assert "(default: 17)" in export_help
    assert "(default: 0.0001)" in export_help
    assert "nii" in subparsers.choices["import"].format_help()


def test_cli_defaults_match_library():
    from lcnn import export
    from lcnn.cli import export as export_cli

    assert export_cli.DEFAULT_OPSET == export.DEFAULT_OPSET
    assert export_cli.FORMATS == export.FORMATS
