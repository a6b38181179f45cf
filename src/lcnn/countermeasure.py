"""A complete countermeasure: feature front end, back end and head, from waveform to score.

Score convention: a higher score means bona fide. Labels are 1 for bona fide and 0 for spoof.

A countermeasure is described by a plain ``spec`` dictionary, which checkpoints store so that a
model can be rebuilt without any other file::

    spec = {
        "sample_rate": 16000,
        "frontend": {"name": "lfcc", "preset": "asvspoof2019"},
        "backbone": {"name": "lcnn_lstm"},
        "head": {"name": "sigmoid"},
    }

Each section contains a registered ``name`` and the keyword arguments of its factory.
:func:`build_countermeasure` fills ``backbone.n_features`` from the front end and
``head.in_features`` from the back end, and ``sample_rate`` from the front end when it is missing.
"""

from __future__ import annotations

import copy
from typing import Any, Mapping

import torch
from torch import nn

from lcnn.errors import ConfigError, LcnnError
from lcnn.frontends import create_frontend
from lcnn.heads import Head, create_head
from lcnn.models import create_model

__all__ = ["Countermeasure", "build_countermeasure", "SPEC_SECTIONS"]

SPEC_SECTIONS = ("frontend", "backbone", "head")
SPEC_KEYS = ("sample_rate",) + SPEC_SECTIONS


class Countermeasure(nn.Module):
    """Front end, back end and head scoring waveforms, higher = bona fide.

    Args:
        frontend: module mapping waveforms ``(B, samples)`` to features ``(B, 1, freq, frames)``,
            with ``sample_rate``, ``n_features`` and ``num_frames(lengths)``.
        backbone: module mapping features and optional frame lengths to embeddings ``(B, D)``.
        head: a :class:`lcnn.heads.Head` for embeddings of size ``D``.
        spec: the resolved spec the model was built from, stored for checkpoints.

    With ``lengths``, the front end and the back end ignore the padding of each row, so every
    utterance of a zero-padded batch gets its whole-utterance score (up to float rounding).
    """

    def __init__(
        self,
        frontend: nn.Module,
        backbone: nn.Module,
        head: Head,
        *,
        spec: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.frontend = frontend
        self.backbone = backbone
        self.head = head
        self.sample_rate = int(frontend.sample_rate)
        self.spec = copy.deepcopy(dict(spec)) if spec is not None else None

    def features(
        self, waveform: torch.Tensor, lengths: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Compute features ``(B, 1, freq, frames)`` and the valid frames per utterance ``(B,)``.

        Args:
            waveform: ``(batch, samples)`` at ``sample_rate``, zero-padded when lengths differ.
            lengths: ``(batch,)`` valid samples per row, or ``None`` when every row is whole.

        Raises:
            ValueError: if the waveform is not 2-D or a length is outside ``[1, samples]``.
        """
        lengths = check_sample_lengths(waveform, lengths)
        features = self.frontend(waveform, lengths)
        if lengths is None:
            return features, None
        return features, self.frontend.num_frames(lengths).to(features.device)

    def embed(self, waveform: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Map waveforms ``(B, samples)`` to embeddings ``(B, D)``."""
        features, frame_lengths = self.features(waveform, lengths)
        return self.backbone(features, frame_lengths)

    def forward(self, waveform: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Score waveforms ``(B, samples)``, giving ``(B,)``; higher = bona fide.

        Args:
            waveform: ``(batch, samples)`` at ``sample_rate``, in [-1, 1].
            lengths: ``(batch,)`` valid samples per row of a zero-padded batch, or ``None``.
        """
        return self.head(self.embed(waveform, lengths))

    def loss(
        self, waveform: torch.Tensor, lengths: torch.Tensor | None, labels: torch.Tensor
    ) -> torch.Tensor:
        """Return the head's mean loss for waveforms ``(B, samples)`` and labels ``(B,)`` (1 = bona fide)."""
        return self.loss_and_scores(waveform, lengths, labels)[0]

    def loss_and_scores(
        self, waveform: torch.Tensor, lengths: torch.Tensor | None, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the mean loss and the scores ``(B,)`` from a single forward pass."""
        return self.head.loss_and_scores(self.embed(waveform, lengths), labels)


def check_sample_lengths(waveform: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor | None:
    """Validate a waveform batch and its lengths; return ``None`` when no row is padded.

    Raises:
        ValueError: if ``waveform`` is not ``(batch, samples)`` or ``lengths`` is not ``(batch,)``
            integers in ``[1, samples]``.
    """
    if waveform.dim() != 2:
        raise ValueError(
            f"expected a waveform batch of shape (batch, samples), got shape {tuple(waveform.shape)}; "
            "add a batch dimension with waveform.unsqueeze(0)."
        )
    if lengths is None:
        return None
    batch, samples = waveform.shape
    if lengths.dim() != 1 or lengths.shape[0] != batch or lengths.is_floating_point():
        raise ValueError(
            f"lengths must be integers of shape ({batch},), got shape {tuple(lengths.shape)} "
            f"and dtype {lengths.dtype}."
        )
    shortest, longest = int(lengths.min()), int(lengths.max())
    if shortest < 1 or longest > samples:
        raise ValueError(
            f"lengths must be in [1, {samples}] (the padded length), got min {shortest} and max {longest}."
        )
    if shortest == samples:
        return None
    return lengths.long()


def _section(spec: Mapping[str, Any], name: str) -> tuple[str, dict[str, Any]]:
    section = spec.get(name)
    if not isinstance(section, Mapping) or not isinstance(section.get("name"), str):
        raise ConfigError(
            f"spec section {name!r} must be a mapping with a 'name' key, got {section!r}; "
            f"e.g. {name}: {{name: ...}}."
        )
    kwargs = {key: value for key, value in section.items() if key != "name"}
    return section["name"], kwargs


def _call_factory(section: str, name: str, factory, *args, **kwargs):
    try:
        return factory(*args, **kwargs)
    except TypeError as error:
        raise ConfigError(
            f"invalid settings {sorted(kwargs)} for {section} {name!r}: {error}; "
            f"check the spelling of the keys in the {section!r} section."
        ) from error
    except LcnnError:
        raise
    except ValueError as error:
        raise ConfigError(f"invalid {section} {name!r} settings: {error}") from error


def build_countermeasure(spec: Mapping[str, Any]) -> Countermeasure:
    """Build a :class:`Countermeasure` from a spec (see the module docstring).

    Args:
        spec: mapping with ``frontend``, ``backbone`` and ``head`` sections and an optional
            ``sample_rate``.

    Returns:
        The model in training mode; ``model.spec`` is the resolved spec with the filled-in sizes.

    Raises:
        ConfigError: on a missing or unknown section, invalid settings, or a ``sample_rate`` that
            differs from the front end's.
        UnknownModelError: on an unknown front end, back end or head name.
    """
    if not isinstance(spec, Mapping):
        raise ConfigError(f"a countermeasure spec must be a mapping, got {type(spec).__name__}.")
    unknown = sorted(set(spec) - set(SPEC_KEYS))
    if unknown:
        raise ConfigError(f"unknown spec keys {unknown}; valid keys: {', '.join(SPEC_KEYS)}.")
    resolved: dict[str, Any] = copy.deepcopy(dict(spec))

    frontend_name, frontend_kwargs = _section(resolved, "frontend")
    frontend = _call_factory("frontend", frontend_name, create_frontend, frontend_name, **frontend_kwargs)
    sample_rate = resolved.get("sample_rate", frontend.sample_rate)
    if int(sample_rate) != int(frontend.sample_rate):
        raise ConfigError(
            f"spec sample_rate {sample_rate} differs from the {frontend_name!r} front end's sample rate "
            f"{frontend.sample_rate}; set the front end's sample_rate or remove sample_rate from the spec."
        )
    resolved["sample_rate"] = int(sample_rate)

    backbone_name, backbone_kwargs = _section(resolved, "backbone")
    backbone_kwargs.setdefault("n_features", int(frontend.n_features))
    backbone = _call_factory("backbone", backbone_name, create_model, backbone_name, **backbone_kwargs)
    resolved["backbone"] = {"name": backbone_name, **backbone_kwargs}

    head_name, head_kwargs = _section(resolved, "head")
    embedding_dim = int(backbone.embedding_dim)
    if head_kwargs.setdefault("in_features", embedding_dim) != embedding_dim:
        raise ConfigError(
            f"head in_features={head_kwargs['in_features']} differs from the {backbone_name!r} embedding "
            f"size {embedding_dim}; remove in_features from the head section."
        )
    head_args = {key: value for key, value in head_kwargs.items() if key != "in_features"}
    head = _call_factory("head", head_name, create_head, head_name, embedding_dim, **head_args)
    resolved["head"] = {"name": head_name, **head_args}

    return Countermeasure(frontend, backbone, head, spec=resolved)
