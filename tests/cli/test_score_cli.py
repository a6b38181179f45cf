"""Tests of ``lcnn score`` on the three real ASVspoof 2019 LA files, and of what the command imports."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lcnn.checkpoint import save_checkpoint
from lcnn.cli.main import main
from lcnn.countermeasure import build_countermeasure

SPEC = {
    "frontend": {"name": "lfcc", "preset": "asvspoof2021"},
    "backbone": {"name": "lcnn_lstm"},
    "head": {"name": "sigmoid"},
}
# Trial id -> (attack, key) from the ASVspoof 2019 LA protocols.
EXPECTED = {
    "LA_D_1003356": ("A04", "spoof"),
    "LA_E_6163791": ("A09", "spoof"),
    "LA_T_1272637": ("-", "bonafide"),
}
SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(scope="module")
def audio_dir(data_dir) -> Path:
    folder = data_dir / "asvspoof" / "audio"
    if not all((folder / f"{trial_id}.flac").is_file() for trial_id in EXPECTED):
        pytest.skip(f"the three ASVspoof 2019 LA files are missing from {folder}")
    return folder


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = build_countermeasure(SPEC)
    return save_checkpoint(tmp_path_factory.mktemp("model") / "model.pt", model, None)


def run_python(code: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(SRC), OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)


def test_protocol_to_2019_score_file(tmp_path, audio_dir, checkpoint):
    out = tmp_path / "scores.txt"
    status = main([
        "score", str(checkpoint), "--protocol", str(audio_dir / "labels.txt"), "--audio-dir", str(audio_dir),
        "--out", str(out), "--workers", "1",
    ])
    assert status == 0
    lines = out.read_text().splitlines()
    assert [line.split()[0] for line in lines] == list(EXPECTED)
    for line in lines:
        trial_id, attack, key, score = line.split(" ")
        assert (attack, key) == EXPECTED[trial_id]
        assert -1e3 < float(score) < 1e3


def test_folder_input_to_stdout(audio_dir, checkpoint, capsys):
    assert main(["score", str(checkpoint), str(audio_dir), "--format", "2021", "--workers", "0"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert sorted(line.split()[0] for line in lines) == sorted(EXPECTED)
    assert all(len(line.split(" ")) == 2 for line in lines)


def test_file_inputs_with_protocol_labels(tmp_path, audio_dir, checkpoint):
    out = tmp_path / "scores.txt"
    files = [str(audio_dir / f"{trial_id}.flac") for trial_id in EXPECTED]
    status = main(["score", str(checkpoint), *files, "--protocol", str(audio_dir / "labels.txt"), "--out", str(out), "--workers", "0"])
    assert status == 0
    assert [line.split()[2] for line in out.read_text().splitlines()] == ["spoof", "spoof", "bonafide"]


def test_existing_output_needs_force(tmp_path, audio_dir, checkpoint, capsys):
    out = tmp_path / "scores.txt"
    out.write_text("old\n")
    assert main(["score", str(checkpoint), str(audio_dir), "--out", str(out), "--workers", "0"]) == 2
    assert "scores.txt already exists; pass --force" in capsys.readouterr().err
    assert out.read_text() == "old\n"
    assert main(["score", str(checkpoint), str(audio_dir), "--out", str(out), "--workers", "0", "--force"]) == 0
    assert len(out.read_text().splitlines()) == 3


def test_skip_bad_lists_broken_file(tmp_path, audio_dir, checkpoint):
    folder = tmp_path / "audio"
    folder.mkdir()
    for trial_id in EXPECTED:
        shutil.copy(audio_dir / f"{trial_id}.flac", folder)
    (folder / "broken.flac").write_bytes(b"fLaC but not really")
    out, skipped = tmp_path / "scores.txt", tmp_path / "skipped.tsv"
    assert main(["score", str(checkpoint), str(folder), "--out", str(out), "--workers", "0"]) == 2
    with pytest.warns(UserWarning, match="skipping 1 of 4"):
        status = main(["score", str(checkpoint), str(folder), "--out", str(out), "--workers", "0", "--skip-bad", str(skipped)])
    assert status == 0
    assert len(out.read_text().splitlines()) == 3
    assert [row.split("\t")[0] for row in skipped.read_text().splitlines()] == ["trial_id", "broken"]


def test_onnx_export_scores_like_checkpoint(tmp_path, audio_dir, checkpoint):
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    from lcnn.checkpoint import load_countermeasure
    from lcnn.export import export_onnx

    onnx_path = export_onnx(load_countermeasure(checkpoint)[0], tmp_path / "model.onnx")
    from_checkpoint, from_onnx = tmp_path / "checkpoint.txt", tmp_path / "onnx.txt"
    assert main(["score", str(checkpoint), str(audio_dir), "--out", str(from_checkpoint), "--workers", "0"]) == 0
    assert main(["score", str(onnx_path), str(audio_dir), "--out", str(from_onnx), "--workers", "0", "--threads", "1"]) == 0
    expected = [line.split() for line in from_checkpoint.read_text().splitlines()]
    found = [line.split() for line in from_onnx.read_text().splitlines()]
    assert [row[:3] for row in found] == [row[:3] for row in expected]
    for row_found, row_expected in zip(found, expected):
        assert float(row_found[3]) == pytest.approx(float(row_expected[3]), abs=1e-4)


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["missing_dir"], "input not found: missing_dir"),
        ([], "nothing to score"),
        (["--audio-dir", "."], "--audio-dir needs --protocol"),
    ],
)
def test_bad_inputs(tmp_path, checkpoint, capsys, arguments, message):
    assert main(["score", str(checkpoint), *arguments]) == 2
    assert message in capsys.readouterr().err


def test_help_imports_no_heavy_modules():
    result = run_python(
        "import json, sys\n"
        "from lcnn.cli.main import main\n"
        "try:\n"
        "    main(['score', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(json.dumps(sorted(m for m in ('torch', 'lightning', 'matplotlib', 'numpy') if m in sys.modules)))\n"
    )
    assert result.returncode == 0, result.stderr
    *help_lines, modules = result.stdout.strip().splitlines()
    assert any("--skip-bad FILE" in line for line in help_lines)
    assert json.loads(modules) == []


def test_scoring_imports_no_lightning_or_matplotlib(audio_dir, checkpoint, tmp_path):
    out = tmp_path / "scores.txt"
    result = run_python(
        "import json, sys\n"
        "from lcnn.cli.main import main\n"
        f"status = main(['score', {str(checkpoint)!r}, {str(audio_dir)!r}, '--out', {str(out)!r}, '--workers', '0'])\n"
        "heavy = ('lightning', 'pytorch_lightning', 'matplotlib')\n"
        "print(json.dumps([status, sorted(m for m in heavy if m in sys.modules)]))\n"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [0, []]
    assert len(out.read_text().splitlines()) == 3


def test_score_rejects_torchscript_and_bad_device(tmp_path, capsys):
    from lcnn.checkpoint import save_checkpoint
    from lcnn.cli.main import main
    from lcnn.countermeasure import build_countermeasure
    from lcnn.export import export_model

    model = build_countermeasure(
        {"frontend": {"name": "lfcc"}, "backbone": {"name": "lcnn9_cm"}, "head": {"name": "sigmoid"}}
    ).eval()
    save_checkpoint(tmp_path / "model.ckpt", model, model.spec)
    export_model(model, tmp_path / "model.pt", format="torchscript")
    audio = tmp_path / "clip.wav"
    import numpy as np
    import soundfile

    soundfile.write(audio, (0.1 * np.random.default_rng(0).standard_normal(16000)).astype("float32"), 16000)

    assert main(["score", str(tmp_path / "model.pt"), str(audio)]) == 2
    assert "is a TorchScript export" in capsys.readouterr().err
    assert main(["score", str(tmp_path / "model.ckpt"), str(audio), "--device", "gpu"]) == 2
    assert "'gpu' is not a device name" in capsys.readouterr().err
