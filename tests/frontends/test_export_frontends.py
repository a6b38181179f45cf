"""ONNX export of the front ends: dynamic batch and length, outputs equal to PyTorch's."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from lcnn.frontends import create_frontend

onnx = pytest.importorskip("onnx")
onnxruntime = pytest.importorskip("onnxruntime")

SHAPES = [(1, 8000), (3, 23457)]


def export_legacy(frontend: torch.nn.Module, path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter announces its deprecation
        torch.onnx.export(
            frontend,
            (torch.randn(2, 16000),),
            str(path),
            dynamo=False,
            input_names=["waveform"],
            output_names=["features"],
            dynamic_axes={"waveform": {0: "batch", 1: "samples"}, "features": {0: "batch", 3: "frames"}},
            opset_version=17,
        )


def max_difference(path, frontend: torch.nn.Module, shape: tuple[int, int]) -> float:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    waveform = 0.1 * torch.randn(*shape)
    with torch.no_grad():
        expected = frontend(waveform).numpy()
    (features,) = session.run(None, {"waveform": waveform.numpy()})
    assert features.shape == expected.shape
    return float(np.abs(features - expected).max())


@pytest.mark.parametrize("preset", ["asvspoof2019", "asvspoof2021"])
def test_lfcc_legacy_export_matches(tmp_path, preset):
    torch.manual_seed(0)
    frontend = create_frontend("lfcc", preset=preset).eval()
    path = tmp_path / "lfcc.onnx"
    export_legacy(frontend, path)
    operators = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert not operators & {"STFT", "DFT"}
    for shape in SHAPES:
        assert max_difference(path, frontend, shape) < 1e-4


def test_lfcc_dynamo_export_matches(tmp_path):
    torch.manual_seed(0)
    frontend = create_frontend("lfcc", preset="asvspoof2019").eval()
    batch = torch.export.Dim("batch", min=1)
    samples = torch.export.Dim("samples", min=400)
    program = torch.onnx.export(
        frontend,
        (torch.randn(2, 16000),),
        dynamo=True,
        input_names=["waveform"],
        output_names=["features"],
        dynamic_shapes={"waveform": {0: batch, 1: samples}},
        verbose=False,
    )
    path = tmp_path / "lfcc_dynamo.onnx"
    program.save(str(path))
    for shape in SHAPES:
        assert max_difference(path, frontend, shape) < 1e-4


@pytest.mark.parametrize(("name", "settings"), [
    ("spectrogram", dict(window="blackman", pre_emphasis=0.97, max_bins=200)),
    ("mel", dict(n_mels=64)),
    ("cqt", dict()),
])
def test_other_frontends_export_match(tmp_path, name, settings):
    torch.manual_seed(0)
    frontend = create_frontend(name, **settings).eval()
    path = tmp_path / f"{name}.onnx"
    export_legacy(frontend, path)
    for shape in SHAPES:
        # Outputs are in dB; float32 rounding in the quietest bins stays far below 0.05 dB.
        assert max_difference(path, frontend, shape) < 0.05


def test_lfcc_export_with_lengths_input(tmp_path):
    torch.manual_seed(0)
    frontend = create_frontend("lfcc", preset="asvspoof2019").eval()
    path = tmp_path / "lfcc_lengths.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            frontend,
            (torch.randn(2, 16000), torch.tensor([16000, 9000])),
            str(path),
            dynamo=False,
            input_names=["waveform", "lengths"],
            output_names=["features"],
            dynamic_axes={"waveform": {0: "batch", 1: "samples"}, "lengths": {0: "batch"},
                          "features": {0: "batch", 3: "frames"}},
            opset_version=17,
        )
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    waveform = 0.1 * torch.randn(3, 23457)
    lengths = torch.tensor([23457, 12000, 5000])
    with torch.no_grad():
        expected = frontend(waveform, lengths).numpy()
    (features,) = session.run(None, {"waveform": waveform.numpy(), "lengths": lengths.numpy()})
    assert np.abs(features - expected).max() < 1e-4
