"""Tests of the output heads: losses against naive formulas and the shared score convention."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from lcnn.errors import UnknownModelError
from lcnn.heads import AMSoftmaxHead, OCSoftmaxHead, SigmoidHead, SoftmaxHead, create_head, list_heads

HEADS = ("sigmoid", "softmax", "ocsoftmax", "amsoftmax")


def toy_embeddings(bonafide_sign: float, *, seed: int = 0, n: int = 64, dim: int = 16):
    """Two separable clusters along a random direction; bona fide on the ``bonafide_sign`` side."""
    generator = torch.Generator().manual_seed(seed)
    direction = F.normalize(torch.randn(dim, generator=generator), dim=0)
    labels = torch.arange(n) % 2
    signs = torch.where(labels == 1, bonafide_sign, -bonafide_sign)
    embeddings = 3.0 * signs[:, None] * direction + 0.3 * torch.randn(n, dim, generator=generator)
    return embeddings, labels


def test_heads_listed():
    assert list_heads() == sorted(HEADS)


@pytest.mark.parametrize("name", HEADS)
@pytest.mark.parametrize("bonafide_sign", [1.0, -1.0])
def test_trained_head_scores_bonafide_higher(name, bonafide_sign):
    torch.manual_seed(1)
    embeddings, labels = toy_embeddings(bonafide_sign)
    head = create_head(name, embeddings.shape[1])
    optimizer = torch.optim.Adam(head.parameters(), lr=0.05)
    first_loss = None
    for _ in range(60):
        optimizer.zero_grad()
        loss = head.loss(embeddings, labels)
        first_loss = loss.item() if first_loss is None else first_loss
        loss.backward()
        optimizer.step()
    assert head.loss(embeddings, labels).item() < first_loss
    with torch.no_grad():
        scores = head(embeddings)
    assert scores.shape == (embeddings.shape[0],)
    assert scores[labels == 1].min() > scores[labels == 0].max()


@pytest.mark.parametrize("name", HEADS)
def test_score_and_loss_and_scores_agree(name):
    embeddings, labels = toy_embeddings(1.0)
    head = create_head(name, 16)
    loss, scores = head.loss_and_scores(embeddings, labels)
    assert torch.equal(scores, head.score(embeddings))
    assert torch.equal(loss, head.loss(embeddings, labels))


def test_sigmoid_loss_naive():
    head = SigmoidHead(4)
    embeddings, labels = torch.randn(5, 4), torch.tensor([1, 0, 0, 1, 1])
    logits = head.linear(embeddings)[:, 0]
    naive = [-math.log(torch.sigmoid(z).item()) if y == 1 else -math.log(1 - torch.sigmoid(z).item()) for z, y in zip(logits, labels)]
    assert head.loss(embeddings, labels).item() == pytest.approx(sum(naive) / len(naive), rel=1e-5)
    assert torch.equal(head(embeddings), logits)


def test_sigmoid_class_weights_naive():
    head = SigmoidHead(4, class_weights=(0.2, 0.8))
    embeddings, labels = torch.randn(5, 4), torch.tensor([1, 0, 0, 1, 1])
    logits = head.linear(embeddings)[:, 0]
    per_example = F.binary_cross_entropy_with_logits(logits, labels.float(), reduction="none")
    weights = torch.where(labels == 1, 0.8, 0.2)
    expected = (per_example * weights).sum() / weights.sum()
    assert head.loss(embeddings, labels).item() == pytest.approx(expected.item(), rel=1e-6)


def test_softmax_score_is_log_odds():
    head = SoftmaxHead(4)
    embeddings = torch.randn(6, 4)
    log_probs = torch.log_softmax(head.logits(embeddings), dim=1)
    assert torch.allclose(head(embeddings), log_probs[:, 1] - log_probs[:, 0], atol=1e-6)


def test_softmax_class_weights_match_cross_entropy():
    head = SoftmaxHead(4, class_weights=[0.1, 0.9])
    embeddings, labels = torch.randn(6, 4), torch.tensor([0, 0, 0, 0, 1, 1])
    logits = head.logits(embeddings)
    log_probs = torch.log_softmax(logits, dim=1)
    weights = torch.tensor([0.1, 0.9])[labels]
    naive = -(weights * log_probs[torch.arange(6), labels]).sum() / weights.sum()
    assert head.loss(embeddings, labels).item() == pytest.approx(naive.item(), rel=1e-6)


def test_ocsoftmax_loss_naive():
    head = OCSoftmaxHead(4)
    embeddings, labels = torch.randn(5, 4), torch.tensor([1, 0, 1, 0, 0])
    center = head.center.detach()
    total = 0.0
    for x, y in zip(embeddings, labels):
        cosine = float(x @ center / (x.norm() * center.norm()))
        margin = 0.9 - cosine if y == 1 else cosine - 0.2
        total += math.log1p(math.exp(20.0 * margin))
    assert head.loss(embeddings, labels).item() == pytest.approx(total / 5, rel=1e-5)
    cosines = F.cosine_similarity(embeddings, center[None, :], dim=1)
    assert torch.allclose(head(embeddings), cosines, atol=1e-6)


def test_amsoftmax_loss_naive():
    head = AMSoftmaxHead(4)
    embeddings, labels = torch.randn(5, 4), torch.tensor([1, 0, 1, 0, 0])
    weight = head.weight.detach()
    total = 0.0
    for x, y in zip(embeddings, labels):
        cosines = [float(x @ w / (x.norm() * w.norm())) for w in weight]
        logits = [20.0 * (c - (0.9 if k == int(y) else 0.0)) for k, c in enumerate(cosines)]
        total += -logits[int(y)] + math.log(sum(math.exp(v) for v in logits))
    assert head.loss(embeddings, labels).item() == pytest.approx(total / 5, rel=1e-5)
    cosines = F.cosine_similarity(embeddings[:, None, :], weight[None, :, :], dim=2)
    assert torch.allclose(head(embeddings), cosines[:, 1] - cosines[:, 0], atol=1e-6)


def test_head_defaults():
    ocsoftmax, amsoftmax = OCSoftmaxHead(8), AMSoftmaxHead(8)
    assert (ocsoftmax.m_real, ocsoftmax.m_fake, ocsoftmax.alpha) == (0.9, 0.2, 20.0)
    assert (amsoftmax.margin, amsoftmax.scale) == (0.9, 20.0)


@pytest.mark.parametrize("name", HEADS)
def test_invalid_labels_rejected(name):
    head = create_head(name, 4)
    with pytest.raises(ValueError, match=r"labels must be 1 \(bona fide\) or 0 \(spoof\), found \[2\]"):
        head.loss(torch.randn(3, 4), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match=r"labels must have shape \(3,\)"):
        head.loss(torch.randn(3, 4), torch.tensor([0, 1]))


def test_unknown_head_lists_names():
    with pytest.raises(UnknownModelError, match="unknown head 'p2sgrad'; available heads: amsoftmax, ocsoftmax, sigmoid, softmax"):
        create_head("p2sgrad", 4)


def test_invalid_head_settings_rejected():
    with pytest.raises(ValueError, match="class_weights must be two positive numbers"):
        SoftmaxHead(4, class_weights=(1.0,))
    with pytest.raises(ValueError, match="m_fake < m_real"):
        OCSoftmaxHead(4, m_real=0.2, m_fake=0.5)
    with pytest.raises(ValueError, match="margin must be in"):
        AMSoftmaxHead(4, margin=-0.1)
    with pytest.raises(ValueError, match="in_features must be a positive integer"):
        SigmoidHead(0)
