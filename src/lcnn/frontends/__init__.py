"""Feature front ends: waveform ``(batch, samples)`` -> features ``(batch, 1, n_features, frames)``.

Every front end is an ``nn.Module`` that keeps its window, DFT, filterbank and DCT matrices in
buffers, exposes ``sample_rate``, ``n_features`` and ``num_frames(lengths)``, and accepts an optional
``lengths`` tensor in ``forward`` for zero-padded batches. Build them by name:

    >>> from lcnn.frontends import create_frontend
    >>> frontend = create_frontend("lfcc", preset="asvspoof2019")
"""

from __future__ import annotations

import inspect
from typing import Callable

from lcnn.errors import ConfigError, UnknownFrontendError
from lcnn.frontends.base import Frontend
from lcnn.frontends.cqt import CQT
from lcnn.frontends.lfcc import LFCC, LFCC_PRESETS
from lcnn.frontends.mel import LogMelSpectrogram
from lcnn.frontends.spectrogram import LogSpectrogram
from lcnn.frontends.stft import PowerSTFT

__all__ = [
    "Frontend",
    "LFCC",
    "LFCC_PRESETS",
    "LogSpectrogram",
    "LogMelSpectrogram",
    "CQT",
    "PowerSTFT",
    "create_frontend",
    "list_frontends",
    "register_frontend",
]

_REGISTRY: dict[str, Callable[..., Frontend]] = {}
_SETTINGS: dict[str, tuple[str, ...]] = {}


def register_frontend(name: str, factory: Callable[..., Frontend], *, settings: type | None = None) -> None:
    """Register ``factory`` (a Frontend class or function) under ``name``.

    Args:
        name: registry name.
        factory: callable taking keyword settings and returning a Frontend.
        settings: class whose ``__init__`` keywords (besides the factory's own) are valid settings;
            :func:`create_frontend` rejects other keywords with a ConfigError listing them.

    Raises:
        ValueError: ``name`` is already registered.
    """
    if name in _REGISTRY:
        raise ValueError(f"front-end name {name!r} is already registered to {_REGISTRY[name]!r}.")
    accepted = _keyword_names(factory)
    if settings is not None:
        accepted |= _keyword_names(settings)
    _REGISTRY[name] = factory
    _SETTINGS[name] = tuple(sorted(accepted))


def _keyword_names(factory: Callable) -> set[str]:
    target = factory.__init__ if inspect.isclass(factory) else factory
    parameters = inspect.signature(target).parameters.values()
    return {p.name for p in parameters if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "self"}


def list_frontends() -> list[str]:
    """Return the registered front-end names, sorted."""
    return sorted(_REGISTRY)


def create_frontend(name: str, **kwargs) -> Frontend:
    """Build the front end registered as ``name`` with settings ``kwargs``.

    ``"lfcc"`` also takes ``preset="asvspoof2019"`` or ``preset="asvspoof2021"``; other keywords
    override the preset's settings.

    Raises:
        UnknownFrontendError: ``name`` is not registered; the message lists the known names.
        ConfigError: invalid settings.
    """
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise UnknownFrontendError(
            f"unknown front end {name!r}; registered front ends: {', '.join(list_frontends())}."
        ) from None
    unknown = sorted(set(kwargs) - set(_SETTINGS[name]))
    if unknown:
        raise ConfigError(
            f"unknown setting(s) {', '.join(unknown)} for front end {name!r}; valid settings: "
            f"{', '.join(_SETTINGS[name])}."
        )
    return factory(**kwargs)


def _create_lfcc(*, preset: str | None = None, **kwargs) -> LFCC:
    if preset is None:
        return LFCC(**kwargs)
    return LFCC.from_preset(preset, **kwargs)


register_frontend("lfcc", _create_lfcc, settings=LFCC)
register_frontend("spectrogram", LogSpectrogram)
register_frontend("mel", LogMelSpectrogram)
register_frontend("cqt", CQT)
