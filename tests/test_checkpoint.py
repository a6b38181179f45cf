"""Tests of countermeasure checkpoints: round trip, Lightning layout, mismatch errors."""

from __future__ import annotations

import pytest
import torch

from lcnn.checkpoint import FORMAT_VERSION, load_countermeasure, save_checkpoint
from lcnn.countermeasure import build_countermeasure
from lcnn.errors import CheckpointError
from lcnn.fileio import OutputExistsError

SPEC = {
    "frontend": {"name": "lfcc", "preset": "asvspoof2019"},
    "backbone": {"name": "lcnn9_cm"},
    "head": {"name": "ocsoftmax", "m_real": 0.8},
}


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    model = build_countermeasure(SPEC)
    # Move the batch-norm statistics away from their initial values so the round trip covers buffers.
    model.train()
    with torch.no_grad():
        model(0.1 * torch.randn(4, 12000))
    return model.eval()


@pytest.fixture(scope="module")
def waveform():
    return 0.1 * torch.randn(2, 9000, generator=torch.Generator().manual_seed(5))


def test_round_trip_same_scores(tmp_path, model, waveform):
    path = save_checkpoint(tmp_path / "model.ckpt", model, None, config={"seed": 3}, extra={"step": 12})
    loaded, meta = load_countermeasure(path)
    assert not loaded.training
    with torch.no_grad():
        assert torch.equal(loaded(waveform), model(waveform))
    assert meta["format_version"] == FORMAT_VERSION
    assert meta["kind"] == "countermeasure"
    assert meta["spec"] == model.spec
    assert meta["config"] == {"seed": 3}
    assert loaded.head.m_real == 0.8
    assert torch.load(path, weights_only=True)["step"] == 12


def test_overwrite_needs_force(tmp_path, model):
    path = save_checkpoint(tmp_path / "model.ckpt", model, None)
    with pytest.raises(OutputExistsError, match="--force"):
        save_checkpoint(path, model, None)
    save_checkpoint(path, model, None, force=True)


def test_lightning_prefixed_keys_load(tmp_path, model, waveform):
    state_dict = {f"model.{key}": value for key, value in model.state_dict().items()}
    checkpoint = {
        "epoch": 3,
        "global_step": 120,
        "pytorch-lightning_version": "2.5.0",
        "state_dict": state_dict,
        "optimizer_states": [],
        "hyper_parameters": {"config": {"seed": 1}},
        "lcnn": {"format_version": 1, "kind": "countermeasure", "spec": model.spec, "config": None},
    }
    torch.save(checkpoint, tmp_path / "last.ckpt")
    loaded, _ = load_countermeasure(tmp_path / "last.ckpt")
    with torch.no_grad():
        assert torch.equal(loaded(waveform), model(waveform))


def test_key_mismatch_lists_keys(tmp_path, model):
    state_dict = dict(model.state_dict())
    del state_dict["head.center"]
    state_dict["head.extra_weight"] = torch.zeros(3)
    checkpoint = {"lcnn": {"format_version": 1, "kind": "countermeasure", "spec": model.spec}, "state_dict": state_dict}
    torch.save(checkpoint, tmp_path / "bad.ckpt")
    with pytest.raises(CheckpointError, match=r"missing keys: head\.center; unexpected keys: head\.extra_weight"):
        load_countermeasure(tmp_path / "bad.ckpt")


def test_shape_mismatch_named(tmp_path, model):
    state_dict = dict(model.state_dict())
    state_dict["head.center"] = torch.zeros(7)
    checkpoint = {"lcnn": {"format_version": 1, "kind": "countermeasure", "spec": model.spec}, "state_dict": state_dict}
    torch.save(checkpoint, tmp_path / "bad.ckpt")
    with pytest.raises(CheckpointError, match=r"shape mismatches: head\.center \(file \(7,\), model \(80,\)\)"):
        load_countermeasure(tmp_path / "bad.ckpt")


def test_plain_state_dict_rejected(tmp_path, model):
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    with pytest.raises(CheckpointError, match="is not an lcnn checkpoint"):
        load_countermeasure(tmp_path / "weights.pt")


def test_nii_state_dict_hint(tmp_path):
    torch.save({"m_transform.0.0.weight": torch.zeros(64, 1, 5, 5)}, tmp_path / "nii.pt")
    with pytest.raises(CheckpointError, match="lcnn import nii"):
        load_countermeasure(tmp_path / "nii.pt")


def test_newer_format_rejected(tmp_path, model):
    checkpoint = {"lcnn": {"format_version": FORMAT_VERSION + 1, "kind": "countermeasure", "spec": model.spec}, "state_dict": {}}
    torch.save(checkpoint, tmp_path / "future.ckpt")
    with pytest.raises(CheckpointError, match="format version 2; this release reads versions up to 1"):
        load_countermeasure(tmp_path / "future.ckpt")


def test_invalid_spec_rejected(tmp_path, model):
    spec = {**model.spec, "backbone": {"name": "resnet"}}
    torch.save({"lcnn": {"format_version": 1, "kind": "countermeasure", "spec": spec}, "state_dict": {}}, tmp_path / "x.ckpt")
    with pytest.raises(CheckpointError, match="invalid spec: unknown model 'resnet'"):
        load_countermeasure(tmp_path / "x.ckpt")


def test_missing_file_rejected(tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        load_countermeasure(tmp_path / "absent.ckpt")


def test_unsafe_pickle_rejected(tmp_path, model):
    torch.save({"lcnn": {"spec": model.spec}, "state_dict": {}, "callback": object()}, tmp_path / "pickled.ckpt")
    with pytest.raises(CheckpointError, match="weights_only=False"):
        load_countermeasure(tmp_path / "pickled.ckpt")


def test_reserved_extra_key_rejected(tmp_path, model):
    with pytest.raises(CheckpointError, match="extra key 'state_dict' is reserved"):
        save_checkpoint(tmp_path / "x.ckpt", model, None, extra={"state_dict": {}})
