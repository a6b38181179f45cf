"""Output heads: map an embedding to a countermeasure score and define the training loss.

Score convention, shared by every head: a higher score means bona fide. Labels are 1 for bona fide
and 0 for spoof; in two-output heads, output index 1 is bona fide and index 0 is spoof.

=============  ===============================  =====================================================
head           loss                             score
=============  ===============================  =====================================================
``sigmoid``    binary cross-entropy on logits   the logit of bona fide (no sigmoid)
``softmax``    cross-entropy over 2 outputs     ``logit[:, 1] - logit[:, 0]``, the log-odds of bona fide
``ocsoftmax``  one-class softmax                cosine similarity to the bona fide centre
``amsoftmax``  additive-margin softmax          ``cos[:, 1] - cos[:, 0]`` (cosines to the class weights)
=============  ===============================  =====================================================

Every head takes an embedding ``(B, in_features)``: ``forward`` and ``score`` return scores
``(B,)``, ``logits`` the raw outputs ``(B, K)``, and ``loss`` a scalar.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from lcnn.errors import UnknownModelError

__all__ = [
    "Head",
    "SigmoidHead",
    "SoftmaxHead",
    "OCSoftmaxHead",
    "AMSoftmaxHead",
    "create_head",
    "list_heads",
]


class Head(nn.Module):
    """Base class of the heads; subclasses define ``logits``, ``scores_from_logits`` and ``loss_from_logits``.

    Args:
        in_features: int > 0, embedding size.
    """

    def __init__(self, in_features: int) -> None:
        super().__init__()
        if in_features <= 0:
            raise ValueError(f"in_features must be a positive integer, got {in_features}.")
        self.in_features = in_features

    def logits(self, embedding: torch.Tensor) -> torch.Tensor:
        """Map ``(B, in_features)`` to the raw outputs ``(B, K)``."""
        raise NotImplementedError

    def scores_from_logits(self, logits: torch.Tensor) -> torch.Tensor:
        """Map raw outputs ``(B, K)`` to scores ``(B,)``, higher = bona fide."""
        raise NotImplementedError

    def loss_from_logits(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Return the mean training loss of raw outputs ``(B, K)`` and labels ``(B,)``."""
        raise NotImplementedError

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        """Map embeddings ``(B, in_features)`` to scores ``(B,)``, higher = bona fide."""
        return self.scores_from_logits(self.logits(embedding))

    def score(self, embedding: torch.Tensor) -> torch.Tensor:
        """Map embeddings ``(B, in_features)`` to scores ``(B,)``, higher = bona fide."""
        return self(embedding)

    def loss(self, embedding: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Return the mean loss of embeddings ``(B, in_features)`` with labels ``(B,)`` (1 = bona fide).

        Raises:
            ValueError: if ``labels`` is not ``(B,)`` or contains values other than 0 and 1.
        """
        return self.loss_and_scores(embedding, labels)[0]

    def loss_and_scores(
        self, embedding: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the mean loss and the scores ``(B,)`` from one pass over the embeddings."""
        labels = check_labels(labels, embedding.shape[0])
        logits = self.logits(embedding)
        return self.loss_from_logits(logits, labels), self.scores_from_logits(logits)


def check_labels(labels: torch.Tensor, batch: int) -> torch.Tensor:
    """Return ``labels`` as a long tensor after checking it is ``(batch,)`` with values 0 or 1.

    Raises:
        ValueError: on a wrong shape or a label other than 0 (spoof) and 1 (bona fide).
    """
    if labels.dim() != 1 or labels.shape[0] != batch:
        raise ValueError(f"labels must have shape ({batch},), got {tuple(labels.shape)}.")
    labels = labels.long()
    invalid = (labels != 0) & (labels != 1)
    if bool(invalid.any()):
        found = sorted({int(v) for v in labels[invalid].tolist()})
        raise ValueError(f"labels must be 1 (bona fide) or 0 (spoof), found {found}.")
    return labels


def _class_weight_tensor(class_weights: Sequence[float] | None) -> torch.Tensor | None:
    if class_weights is None:
        return None
    weights = [float(w) for w in class_weights]
    if len(weights) != 2 or min(weights) <= 0:
        raise ValueError(
            f"class_weights must be two positive numbers (spoof, bona fide), got {list(class_weights)}."
        )
    return torch.tensor(weights)


class SigmoidHead(Head):
    """One logit with binary cross-entropy; the score is the logit.

    Args:
        in_features: embedding size.
        class_weights: optional ``(spoof, bona fide)`` weights of each example's loss; the mean is
            taken over the weights, as PyTorch's weighted cross-entropy does.
    """

    def __init__(self, in_features: int, *, class_weights: Sequence[float] | None = None) -> None:
        super().__init__(in_features)
        self.linear = nn.Linear(in_features, 1)
        self.register_buffer("class_weights", _class_weight_tensor(class_weights), persistent=False)

    def logits(self, embedding: torch.Tensor) -> torch.Tensor:
        return self.linear(embedding)

    def scores_from_logits(self, logits: torch.Tensor) -> torch.Tensor:
        return logits[:, 0]

    def loss_from_logits(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        losses = F.binary_cross_entropy_with_logits(logits[:, 0], labels.to(logits.dtype), reduction="none")
        if self.class_weights is None:
            return losses.mean()
        weights = self.class_weights.to(logits.dtype)[labels]
        return (losses * weights).sum() / weights.sum()


class SoftmaxHead(Head):
    """Two logits (index 0 spoof, 1 bona fide) with cross-entropy; the score is their difference.

    ``logit[:, 1] - logit[:, 0]`` equals ``log p(bona fide) - log p(spoof)`` under the softmax, so it
    ranks trials exactly as the softmax probability of bona fide does, without saturating.

    Args:
        in_features: embedding size.
        class_weights: optional ``(spoof, bona fide)`` weights passed to the cross-entropy, e.g.
            ``(0.1, 0.9)`` against the 1:9 bona fide to spoof ratio of ASVspoof 2019 LA training.
    """

    def __init__(self, in_features: int, *, class_weights: Sequence[float] | None = None) -> None:
        super().__init__(in_features)
        self.linear = nn.Linear(in_features, 2)
        self.register_buffer("class_weights", _class_weight_tensor(class_weights), persistent=False)

    def logits(self, embedding: torch.Tensor) -> torch.Tensor:
        return self.linear(embedding)

    def scores_from_logits(self, logits: torch.Tensor) -> torch.Tensor:
        return logits[:, 1] - logits[:, 0]

    def loss_from_logits(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        weight = None if self.class_weights is None else self.class_weights.to(logits.dtype)
        return F.cross_entropy(logits, labels, weight=weight)


class OCSoftmaxHead(Head):
    """One-class softmax of Zhang, Jiang and Duan, "One-class Learning Towards Synthetic Voice
    Spoofing Detection" (IEEE Signal Processing Letters 28, 2021).

    A learned centre ``w`` represents bona fide speech. With ``cos`` the cosine similarity between
    the embedding and ``w``, the loss is ``softplus(alpha * (m_real - cos))`` for bona fide and
    ``softplus(alpha * (cos - m_fake))`` for spoof, averaged over the batch. It pulls bona fide
    embeddings within the angle ``arccos(m_real)`` of the centre and pushes spoofs beyond
    ``arccos(m_fake)``. The score is ``cos``.

    Args:
        in_features: embedding size.
        m_real: float in (-1, 1], cosine margin of bona fide speech.
        m_fake: float in [-1, m_real), cosine margin of spoofs.
        alpha: float > 0, scale of the softplus argument.

    The defaults (0.9, 0.2, 20) are those of ``train.py`` in the authors' AIR-ASVspoof repository.
    """

    def __init__(
        self, in_features: int, *, m_real: float = 0.9, m_fake: float = 0.2, alpha: float = 20.0
    ) -> None:
        super().__init__(in_features)
        if not -1.0 <= m_fake < m_real <= 1.0:
            raise ValueError(
                f"margins must satisfy -1 <= m_fake < m_real <= 1, got m_fake={m_fake}, m_real={m_real}."
            )
        if alpha <= 0:
            raise ValueError(f"alpha must be positive, got {alpha}.")
        self.m_real = m_real
        self.m_fake = m_fake
        self.alpha = alpha
        self.center = nn.Parameter(torch.randn(in_features) / in_features**0.5)

    def logits(self, embedding: torch.Tensor) -> torch.Tensor:
        center = F.normalize(self.center, dim=0)
        return (F.normalize(embedding, dim=1) @ center).unsqueeze(1)

    def scores_from_logits(self, logits: torch.Tensor) -> torch.Tensor:
        return logits[:, 0]

    def loss_from_logits(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        cosine = logits[:, 0]
        margins = torch.where(labels == 1, self.m_real - cosine, cosine - self.m_fake)
        return F.softplus(self.alpha * margins).mean()

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, m_real={self.m_real}, m_fake={self.m_fake}, "
            f"alpha={self.alpha}"
        )


class AMSoftmaxHead(Head):
    """Additive-margin softmax (Wang et al., "Additive Margin Softmax for Face Verification",
    arXiv 1801.05599) with two classes.

    ``cos[:, k]`` is the cosine similarity between the embedding and the weight vector of class
    ``k`` (0 spoof, 1 bona fide). Training uses cross-entropy on ``scale * (cos - margin * onehot)``,
    so the true class must win by ``margin`` in cosine. The score is ``cos[:, 1] - cos[:, 0]``.

    Args:
        in_features: embedding size.
        margin: float in [0, 2), additive cosine margin.
        scale: float > 0.
        class_weights: optional ``(spoof, bona fide)`` weights passed to the cross-entropy.

    The defaults (scale 20, margin 0.9) are those with which the AIR-ASVspoof ``train.py`` builds its
    AM-softmax baseline for the one-class softmax.
    """

    def __init__(
        self,
        in_features: int,
        *,
        margin: float = 0.9,
        scale: float = 20.0,
        class_weights: Sequence[float] | None = None,
    ) -> None:
        super().__init__(in_features)
        if not 0.0 <= margin < 2.0:
            raise ValueError(f"margin must be in [0, 2), got {margin}.")
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}.")
        self.margin = margin
        self.scale = scale
        self.weight = nn.Parameter(torch.randn(2, in_features) / in_features**0.5)
        self.register_buffer("class_weights", _class_weight_tensor(class_weights), persistent=False)

    def logits(self, embedding: torch.Tensor) -> torch.Tensor:
        return F.normalize(embedding, dim=1) @ F.normalize(self.weight, dim=1).t()

    def scores_from_logits(self, logits: torch.Tensor) -> torch.Tensor:
        return logits[:, 1] - logits[:, 0]

    def loss_from_logits(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        margins = F.one_hot(labels, 2).to(logits.dtype) * self.margin
        weight = None if self.class_weights is None else self.class_weights.to(logits.dtype)
        return F.cross_entropy(self.scale * (logits - margins), labels, weight=weight)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, margin={self.margin}, scale={self.scale}"


_HEADS: dict[str, Callable[..., Head]] = {
    "sigmoid": SigmoidHead,
    "softmax": SoftmaxHead,
    "ocsoftmax": OCSoftmaxHead,
    "amsoftmax": AMSoftmaxHead,
}


def list_heads() -> list[str]:
    """Return the head names, sorted."""
    return sorted(_HEADS)


def create_head(name: str, in_features: int, **kwargs) -> Head:
    """Build the head called ``name`` for embeddings of size ``in_features``.

    Example:
        >>> head = create_head("ocsoftmax", 96, m_real=0.9)

    Raises:
        UnknownModelError: if ``name`` is not a head; the message lists the known names.
    """
    try:
        factory = _HEADS[name]
    except KeyError:
        raise UnknownModelError(
            f"unknown head {name!r}; available heads: {', '.join(list_heads())}."
        ) from None
    return factory(in_features, **kwargs)
