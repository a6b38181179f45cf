"""Tests of Countermeasure and build_countermeasure."""

from __future__ import annotations

import pytest
import torch

from lcnn.countermeasure import Countermeasure, build_countermeasure
from lcnn.errors import ConfigError, UnknownModelError

SPEC = {
    "sample_rate": 16000,
    "frontend": {"name": "lfcc", "preset": "asvspoof2019"},
    "backbone": {"name": "lcnn_lstm"},
    "head": {"name": "sigmoid"},
}


def build(spec=SPEC) -> Countermeasure:
    torch.manual_seed(0)
    return build_countermeasure(spec).eval()


def noise(seconds: float, seed: int) -> torch.Tensor:
    return 0.1 * torch.randn(int(seconds * 16000), generator=torch.Generator().manual_seed(seed))


def test_spec_resolved_with_sizes():
    model = build()
    assert model.sample_rate == 16000
    assert model.spec["backbone"] == {"name": "lcnn_lstm", "n_features": 60}
    assert model.spec["head"] == {"name": "sigmoid"}
    assert model.head.in_features == model.backbone.embedding_dim == 96


def test_spec_not_modified():
    spec = {"frontend": {"name": "lfcc"}, "backbone": {"name": "lcnn9_cm"}, "head": {"name": "softmax"}}
    model = build_countermeasure(spec)
    assert spec == {"frontend": {"name": "lfcc"}, "backbone": {"name": "lcnn9_cm"}, "head": {"name": "softmax"}}
    assert model.spec["sample_rate"] == 16000


@pytest.mark.parametrize("backbone", ["lcnn9_cm", "lcnn_lstm"])
@pytest.mark.parametrize("frontend", ["lfcc", "spectrogram", "mel", "cqt"])
def test_scores_shape_each_frontend(frontend, backbone):
    model = build({"frontend": {"name": frontend}, "backbone": {"name": backbone}, "head": {"name": "softmax"}})
    with torch.no_grad():
        scores = model(torch.stack([noise(0.8, 1), noise(0.8, 2)]))
    assert scores.shape == (2,)
    assert torch.isfinite(scores).all()


@pytest.mark.parametrize("backbone", ["lcnn9_cm", "lcnn_lstm"])
@pytest.mark.parametrize("frontend", ["lfcc", "spectrogram", "mel", "cqt"])
def test_padded_batch_equals_whole_utterances(frontend, backbone):
    model = build({"frontend": {"name": frontend}, "backbone": {"name": backbone}, "head": {"name": "sigmoid"}})
    clips = [noise(1.3, 1), noise(0.41, 2), noise(0.9, 3)]
    lengths = torch.tensor([len(c) for c in clips])
    batch = torch.zeros(len(clips), int(lengths.max()))
    for row, clip in enumerate(clips):
        batch[row, : len(clip)] = clip
    with torch.no_grad():
        padded = model(batch, lengths)
        for row, clip in enumerate(clips):
            alone = model(clip.unsqueeze(0))[0]
            assert padded[row].item() == pytest.approx(alone.item(), abs=1e-4), f"row {row}"


def test_loss_and_scores_match_forward():
    model = build()
    waveform = torch.stack([noise(0.6, 1), noise(0.6, 2)])
    labels = torch.tensor([1, 0])
    with torch.no_grad():
        loss, scores = model.loss_and_scores(waveform, None, labels)
        expected = torch.nn.functional.binary_cross_entropy_with_logits(scores, labels.float())
        assert torch.equal(scores, model(waveform))
        assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
        assert torch.equal(model.loss(waveform, None, labels), loss)


def test_gradients_flow_from_waveform_loss():
    model = build().train()
    waveform = torch.stack([noise(0.7, 1), noise(0.7, 2), noise(0.7, 3)])
    loss = model.loss(waveform, torch.tensor([11200, 8000, 5000]), torch.tensor([1, 0, 0]))
    loss.backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_embed_shape():
    with torch.no_grad():
        assert build().embed(noise(0.5, 1).unsqueeze(0)).shape == (1, 96)


def test_waveform_shape_rejected():
    with pytest.raises(ValueError, match=r"shape \(batch, samples\), got shape \(8000,\)"):
        build()(noise(0.5, 1))


def test_bad_lengths_rejected():
    model = build()
    waveform = torch.zeros(2, 8000)
    with pytest.raises(ValueError, match=r"lengths must be in \[1, 8000\].*max 9000"):
        model(waveform, torch.tensor([8000, 9000]))
    with pytest.raises(ValueError, match=r"integers of shape \(2,\)"):
        model(waveform, torch.tensor([8000.0, 100.0]))


def test_spec_unknown_key_rejected():
    with pytest.raises(ConfigError, match=r"unknown spec keys \['optimizer'\]"):
        build_countermeasure({**SPEC, "optimizer": {}})


def test_spec_missing_section_rejected():
    spec = {key: value for key, value in SPEC.items() if key != "head"}
    with pytest.raises(ConfigError, match="spec section 'head' must be a mapping with a 'name' key"):
        build_countermeasure(spec)


def test_spec_bad_setting_rejected():
    with pytest.raises(ConfigError, match="backbone 'lcnn_lstm'.*hidden_units"):
        build_countermeasure({**SPEC, "backbone": {"name": "lcnn_lstm", "hidden_units": 48}})
    with pytest.raises(ConfigError, match="pooling must be one of"):
        build_countermeasure({**SPEC, "backbone": {"name": "lcnn9_cm", "pooling": "sum"}})


def test_spec_unknown_names_rejected():
    with pytest.raises(UnknownModelError, match="unknown model 'resnet'"):
        build_countermeasure({**SPEC, "backbone": {"name": "resnet"}})
    with pytest.raises(UnknownModelError, match="unknown head 'p2sgrad'"):
        build_countermeasure({**SPEC, "head": {"name": "p2sgrad"}})


def test_spec_sample_rate_mismatch_rejected():
    with pytest.raises(ConfigError, match="spec sample_rate 8000 differs .* 16000"):
        build_countermeasure({**SPEC, "sample_rate": 8000})


def test_spec_head_size_mismatch_rejected():
    with pytest.raises(ConfigError, match="head in_features=80 differs from the 'lcnn_lstm' embedding size 96"):
        build_countermeasure({**SPEC, "head": {"name": "sigmoid", "in_features": 80}})
