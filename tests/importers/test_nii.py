"""Tests of the NII LFCC-LCNN-LSTM import against the authors' own scores and features."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from lcnn.audio import load_audio
from lcnn.checkpoint import load_countermeasure
from lcnn.errors import CheckpointError
from lcnn.fileio import OutputExistsError
from lcnn.importers.nii import convert_nii_state_dict, import_nii, load_nii_countermeasure

STATE_DICT = "pretrained/nii_lfcc_lcnn_lstm_sig_asvspoof2019la.pt"
REFERENCE_SCORES = "pretrained/reference/scores_la.tsv"
REFERENCE_LFCC = "pretrained/reference/lfcc_LA_T_1272637.npy"


@pytest.fixture(scope="module")
def nii_path(data_dir):
    path = data_dir / STATE_DICT
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    return path


@pytest.fixture(scope="module")
def nii_state_dict(nii_path):
    return torch.load(nii_path, map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def reference(data_dir):
    path = data_dir / REFERENCE_SCORES
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [(data_dir / row["file"], float(row["score"])) for row in rows]


@pytest.fixture(scope="module")
def imported(nii_path):
    return load_nii_countermeasure(nii_path)


def test_imported_scores_match_authors(imported, reference):
    assert len(reference) == 3
    for audio_path, expected in reference:
        waveform = load_audio(audio_path, sample_rate=16000).unsqueeze(0)
        with torch.no_grad():
            score = imported(waveform).item()
        assert score == pytest.approx(expected, abs=1e-4), audio_path.name


def test_checkpoint_scores_match_authors(tmp_path, nii_path, reference):
    out = import_nii(nii_path, tmp_path / "nii.ckpt")
    model, meta = load_countermeasure(out)
    assert meta["spec"]["frontend"] == {"name": "lfcc", "preset": "asvspoof2019"}
    assert meta["spec"]["head"] == {"name": "sigmoid"}
    for audio_path, expected in reference:
        with torch.no_grad():
            score = model(load_audio(audio_path).unsqueeze(0)).item()
        assert score == pytest.approx(expected, abs=1e-4), audio_path.name


def test_imported_lfcc_matches_authors(imported, data_dir):
    path = data_dir / REFERENCE_LFCC
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    expected = np.load(path)
    waveform = load_audio(data_dir / "asvspoof/audio/LA_T_1272637.flac").unsqueeze(0)
    with torch.no_grad():
        features = imported.frontend(waveform)[0, 0].T.numpy()
    assert features.shape == expected.shape
    np.testing.assert_allclose(features, expected, atol=1e-4)


def test_matrices_and_kernels_taken_from_file(imported, nii_state_dict):
    assert torch.equal(imported.frontend.filterbank, nii_state_dict["m_frontend.0.lfcc_fb"])
    assert torch.equal(imported.frontend.dct, nii_state_dict["m_frontend.0.l_dct.weight"])
    first_conv = imported.backbone.stack.layers[0].conv.weight
    assert torch.equal(first_conv, nii_state_dict["m_transform.0.0.weight"].transpose(2, 3))
    assert torch.equal(imported.head.linear.weight, nii_state_dict["m_output_act.0.weight"])
    assert torch.equal(imported.backbone.lstm.weight_hh_l1_reverse, nii_state_dict["m_before_pooling.0.1.l_blstm.weight_hh_l0_reverse"])


def test_unexpected_and_missing_keys_listed(nii_state_dict):
    state_dict = dict(nii_state_dict)
    del state_dict["m_transform.0.19.bias"]
    state_dict["m_extra.0.weight"] = torch.zeros(3)
    with pytest.raises(CheckpointError, match=r"unexpected keys: m_extra\.0\.weight; missing lcnn keys: backbone\.stack\.layers\.13\.conv\.bias"):
        convert_nii_state_dict(state_dict)


def test_shape_mismatch_rejected(nii_state_dict):
    state_dict = dict(nii_state_dict)
    state_dict["m_output_act.0.weight"] = torch.zeros(2, 96)
    with pytest.raises(CheckpointError, match=r"head\.linear\.weight \(file \(2, 96\), model \(1, 96\)\)"):
        convert_nii_state_dict(state_dict)


def test_normalisation_statistics_checked(nii_state_dict):
    state_dict = dict(nii_state_dict)
    state_dict["input_std"] = torch.tensor([2.0])
    with pytest.raises(CheckpointError, match=r"input_std is \[2\.0\], expected 1\.0"):
        convert_nii_state_dict(state_dict)


def test_unknown_filterbank_rejected(nii_state_dict):
    state_dict = dict(nii_state_dict)
    state_dict["m_frontend.0.lfcc_fb"] = torch.zeros(129, 20)
    with pytest.raises(CheckpointError, match=r"shape \(129, 20\), matches no LFCC preset"):
        convert_nii_state_dict(state_dict)


def test_import_refuses_overwrite(tmp_path, nii_path):
    out = tmp_path / "nii.ckpt"
    out.write_bytes(b"keep")
    with pytest.raises(OutputExistsError, match="--force"):
        import_nii(nii_path, out)
    assert out.read_bytes() == b"keep"
    import_nii(nii_path, out, force=True)
    assert out.stat().st_size > 1000


def test_lcnn_checkpoint_rejected_as_source(tmp_path, nii_path):
    checkpoint = import_nii(nii_path, tmp_path / "nii.ckpt")
    with pytest.raises(CheckpointError, match="not a plain state dict of tensors"):
        load_nii_countermeasure(checkpoint)
