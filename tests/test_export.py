"""Tests of ONNX and TorchScript export: equality with PyTorch on real files, metadata, errors."""

from __future__ import annotations

import csv
import json
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from lcnn.audio import load_audio
from lcnn.countermeasure import Countermeasure, build_countermeasure
from lcnn.errors import ExportError
from lcnn.export import OnnxScorer, export_model, export_onnx, export_torchscript
from lcnn.fileio import OutputExistsError
from lcnn.frontends import create_frontend
from lcnn.heads import create_head
from lcnn.models import create_model

AUDIO = ("LA_T_1272637", "LA_D_1003356", "LA_E_6163791")
NII_STATE_DICT = "pretrained/nii_lfcc_lcnn_lstm_sig_asvspoof2019la.pt"
ATOL = 1e-4


@pytest.fixture(scope="module")
def waveforms(data_dir):
    paths = [data_dir / "asvspoof" / "audio" / f"{name}.flac" for name in AUDIO]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        pytest.skip(f"missing audio: {', '.join(missing)}")
    return [load_audio(path, sample_rate=16000) for path in paths]


def pytorch_scores(model, batch: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return model(batch).numpy()


def equal_length_pair(waveforms) -> torch.Tensor:
    length = min(len(w) for w in waveforms)
    return torch.stack([waveforms[0][:length], waveforms[-1][:length]])


def load_torchscript(path):
    extra = {"lcnn.json": ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    return module, json.loads(extra["lcnn.json"])


@pytest.mark.parametrize("backbone", ["lcnn9_cm", "lcnn_lstm"])
@pytest.mark.parametrize("frontend", ["lfcc", "spectrogram", "mel", "cqt"])
def test_exports_equal_pytorch_on_real_files(tmp_path, waveforms, frontend, backbone):
    torch.manual_seed(0)
    model = build_countermeasure(
        {"frontend": {"name": frontend}, "backbone": {"name": backbone}, "head": {"name": "softmax"}}
    ).eval()
    atol = ATOL
    onnx_path = export_onnx(model, tmp_path / "model.onnx", verify_waveforms=waveforms[:1], atol=atol)
    script_path = export_torchscript(model, tmp_path / "model.pt", verify_waveforms=waveforms[:1])
    scorer = OnnxScorer(onnx_path)
    scripted, _ = load_torchscript(script_path)

    batches = [w.unsqueeze(0) for w in waveforms] + [equal_length_pair(waveforms)]
    for batch in batches:
        expected = pytorch_scores(model, batch)
        np.testing.assert_allclose(scorer(batch.numpy()), expected, rtol=0, atol=atol)
        np.testing.assert_allclose(scripted(batch).detach().numpy(), expected, rtol=0, atol=ATOL)


def test_nii_exports_match_authors_scores(tmp_path, data_dir, waveforms):
    from lcnn.importers.nii import load_nii_countermeasure

    path = data_dir / NII_STATE_DICT
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    model = load_nii_countermeasure(path)
    with open(data_dir / "pretrained" / "reference" / "scores_la.tsv", newline="") as handle:
        reference = {row["file"].split("/")[-1][:-5]: float(row["score"]) for row in csv.DictReader(handle, delimiter="\t")}

    scorer = OnnxScorer(export_model(model, tmp_path / "nii.onnx", format="onnx", verify_waveforms=waveforms))
    scripted, metadata = load_torchscript(export_model(model, tmp_path / "nii.pt", format="torchscript"))
    for name, waveform in zip(AUDIO, waveforms):
        batch = waveform.unsqueeze(0)
        expected = pytorch_scores(model, batch)[0]
        assert scorer(batch.numpy())[0] == pytest.approx(expected, abs=ATOL), name
        assert scripted(batch)[0].item() == pytest.approx(expected, abs=ATOL), name
        assert scorer(batch.numpy())[0] == pytest.approx(reference[name], abs=ATOL), name
    assert scorer.sample_rate == 16000
    assert scorer.min_samples == 2400
    assert scorer.metadata["score_convention"] == "higher = bona fide"
    assert json.loads(scorer.metadata["spec"]) == model.spec
    assert metadata["sample_rate"] == "16000"


def test_onnx_scorer_scores_file(tmp_path, data_dir):
    torch.manual_seed(0)
    model = build_countermeasure({"frontend": {"name": "lfcc"}, "backbone": {"name": "lcnn_lstm"}, "head": {"name": "sigmoid"}}).eval()
    scorer = OnnxScorer(export_onnx(model, tmp_path / "m.onnx"))
    path = data_dir / "asvspoof" / "audio" / f"{AUDIO[0]}.flac"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    expected = pytorch_scores(model, load_audio(path).unsqueeze(0))[0]
    assert scorer.score_file(path) == pytest.approx(float(expected), abs=ATOL)


class RfftFrontend(nn.Module):
    """A log spectrum through torch.fft.rfft, which the ONNX exporter cannot convert."""

    sample_rate = 16000
    n_features = 32

    def num_frames(self, lengths: torch.Tensor) -> torch.Tensor:
        return lengths // 160

    def forward(self, waveform: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        frames = waveform[:, : waveform.shape[1] // 160 * 160].reshape(waveform.shape[0], -1, 160)
        spectrum = torch.fft.rfft(frames, n=62).abs()
        return torch.log(spectrum + 1e-6).transpose(1, 2).unsqueeze(1)


class LengthScaledFrontend(nn.Module):
    """LFCC scaled by a Python number computed from the input length, which tracing freezes."""

    sample_rate = 16000
    n_features = 60

    def __init__(self) -> None:
        super().__init__()
        self.lfcc = create_frontend("lfcc")

    def num_frames(self, lengths: torch.Tensor) -> torch.Tensor:
        return self.lfcc.num_frames(lengths)

    def forward(self, waveform: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.lfcc(waveform) * (16000.0 / float(waveform.shape[-1]))


def custom_countermeasure(frontend: nn.Module) -> Countermeasure:
    torch.manual_seed(0)
    backbone = create_model("lcnn_lstm", n_features=frontend.n_features)
    spec = {"frontend": {"name": "custom"}, "backbone": {"name": "lcnn_lstm"}, "head": {"name": "sigmoid"}}
    return Countermeasure(frontend, backbone, create_head("sigmoid", 96), spec=spec).eval()


def test_unsupported_operator_named(tmp_path):
    model = custom_countermeasure(RfftFrontend())
    with pytest.raises(ExportError, match="operator aten::fft_rfft has no ONNX conversion at opset 17"):
        export_onnx(model, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_length_frozen_by_trace_detected(tmp_path):
    model = custom_countermeasure(LengthScaledFrontend())
    with pytest.raises(ExportError, match="ONNX export differs from the PyTorch model"):
        export_onnx(model, tmp_path / "m.onnx")
    with pytest.raises(ExportError, match="TorchScript export differs from the PyTorch model"):
        export_torchscript(model, tmp_path / "m.pt")
    assert list(tmp_path.iterdir()) == []


def test_export_option_errors(tmp_path):
    model = custom_countermeasure(create_frontend("lfcc"))
    with pytest.raises(ExportError, match="opset 13 is too old"):
        export_onnx(model, tmp_path / "m.onnx", opset=13)
    with pytest.raises(ExportError, match="unknown export format 'tflite'; choose one of onnx, torchscript"):
        export_model(model, tmp_path / "m.tflite", format="tflite")
    model.spec = None
    with pytest.raises(ExportError, match="the model has no spec"):
        export_onnx(model, tmp_path / "m.onnx")


def test_export_refuses_overwrite(tmp_path):
    model = custom_countermeasure(create_frontend("lfcc"))
    (tmp_path / "m.onnx").write_bytes(b"keep")
    with pytest.raises(OutputExistsError, match="--force"):
        export_onnx(model, tmp_path / "m.onnx")
    assert (tmp_path / "m.onnx").read_bytes() == b"keep"


def test_onnx_scorer_input_checks(tmp_path):
    model = custom_countermeasure(create_frontend("lfcc"))
    scorer = OnnxScorer(export_onnx(model, tmp_path / "m.onnx"))
    with pytest.raises(ValueError, match=r"waveforms have 2399 samples; the model needs at least 2400"):
        scorer(np.zeros((1, 2399), dtype=np.float32))
    with pytest.raises(ValueError, match=r"shape \(batch, samples\), got shape \(8000,\)"):
        scorer(np.zeros(8000, dtype=np.float32))
    with pytest.raises(ValueError, match="NaN or infinite"):
        scorer(np.full((1, 8000), np.nan, dtype=np.float32))
    assert scorer(np.zeros((2, 2400), dtype=np.float32)).shape == (2,)


def test_onnx_scorer_needs_metadata(tmp_path):
    class Doubler(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return 2 * x.sum(dim=1)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(Doubler(), (torch.zeros(1, 4),), str(tmp_path / "plain.onnx"), dynamo=False, input_names=["waveform"])
    with pytest.raises(ExportError, match="has no 'sample_rate' metadata"):
        OnnxScorer(tmp_path / "plain.onnx")
