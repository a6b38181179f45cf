"""Common interface of the feature front ends and their setting checks."""

from __future__ import annotations

import inspect
import os
import warnings

import torch
from torch import nn

from lcnn.errors import ConfigError
from lcnn.frontends import functional

__all__ = ["Frontend"]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def warn_setting(message: str) -> None:
    """Issue a UserWarning attributed to the first caller outside ``lcnn.frontends``."""
    frame = inspect.currentframe()
    level = 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR):
        frame = frame.f_back
        level += 1
    warnings.warn(message, UserWarning, stacklevel=level)


class Frontend(nn.Module):
    """Base class of front ends: waveform ``(batch, samples)`` -> features ``(batch, 1, n_features, frames)``.

    Subclasses set :attr:`sample_rate` and :attr:`n_features`, keep every matrix they use in a
    buffer (so it is saved in the state dict and follows ``.to(device)``), and implement
    :meth:`num_frames` and ``forward(waveform, lengths=None)``.
    """

    sample_rate: int
    n_features: int

    def num_frames(self, lengths: torch.Tensor) -> torch.Tensor:
        """Return the valid frames of each utterance of ``lengths`` samples, ``(batch,)`` int64."""
        raise NotImplementedError

    @staticmethod
    def _zero_padding(signal: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        """Zero the samples of ``signal`` ``(batch, samples)`` at and after each utterance's length.

        Pre-emphasis turns the first padding sample into ``-a * x[L - 1]``; zeroing it again makes
        the frames of a padded batch equal to those of the utterance alone.
        """
        if lengths is None:
            return signal
        positions = torch.arange(signal.shape[-1], device=signal.device)[None, :]
        return signal * (positions < lengths.to(signal.device)[:, None]).to(signal.dtype)

    def _emphasise(self, waveform: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        """Check ``waveform`` ``(batch, samples)``, apply pre-emphasis and zero the padding after ``lengths``."""
        self._check_waveform(waveform)
        return self._zero_padding(functional.pre_emphasis(waveform, self.pre_emphasis), lengths)

    def _check_waveform(self, waveform: torch.Tensor) -> None:
        if waveform.dim() != 2:
            raise ValueError(
                f"{type(self).__name__} expects a waveform of shape (batch, samples); got shape "
                f"{tuple(waveform.shape)}. Use waveform.unsqueeze(0) for a single utterance."
            )
        if not waveform.is_floating_point():
            raise ValueError(
                f"{type(self).__name__} expects a floating-point waveform in [-1, 1]; got dtype "
                f"{waveform.dtype}. Divide int16 samples by 32768."
            )


def check_positive_int(name: str, value: object) -> int:
    """Return ``value`` if it is an int > 0; raise ConfigError naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{name} must be a positive integer; got {value!r}.")
    return value


def check_choice(name: str, value: object, choices: tuple) -> None:
    """Raise ConfigError unless ``value`` is one of ``choices``."""
    if value not in choices:
        listed = ", ".join(repr(choice) for choice in choices)
        raise ConfigError(f"{name} must be one of {listed}; got {value!r}.")


def check_frame_settings(
    *, sample_rate: object, n_fft: object, win_length: object, hop_length: object
) -> None:
    """Validate STFT sizes and warn when hops skip samples."""
    check_positive_int("sample_rate", sample_rate)
    check_positive_int("n_fft", n_fft)
    check_positive_int("win_length", win_length)
    check_positive_int("hop_length", hop_length)
    if win_length > n_fft:
        raise ConfigError(
            f"win_length ({win_length}) must not exceed n_fft ({n_fft}); raise n_fft to at least "
            f"{win_length} or shorten the window."
        )
    if hop_length > win_length:
        warn_setting(
            f"hop_length ({hop_length}) exceeds win_length ({win_length}): "
            f"{hop_length - win_length} samples between frames are never analysed."
        )


def check_band(*, f_min: float, f_max: float | None, sample_rate: int, clamp: bool) -> float:
    """Validate ``0 <= f_min < f_max`` and return ``f_max`` (Nyquist when None).

    An ``f_max`` above Nyquist warns, and is lowered to Nyquist when ``clamp`` is true.
    """
    nyquist = sample_rate / 2.0
    f_max = nyquist if f_max is None else float(f_max)
    if f_min < 0:
        raise ConfigError(f"f_min must be >= 0 Hz; got {f_min}.")
    if f_max <= f_min:
        raise ConfigError(f"f_max ({f_max} Hz) must be above f_min ({f_min} Hz).")
    if f_max > nyquist:
        action = f"using {nyquist} Hz" if clamp else "filters above Nyquist stay empty"
        warn_setting(
            f"f_max ({f_max} Hz) is above the Nyquist frequency ({nyquist} Hz) of sample_rate "
            f"{sample_rate}; {action}. Set f_max <= {nyquist}."
        )
        if clamp:
            f_max = nyquist
    return f_max


def warn_empty_filters(filterbank: torch.Tensor, *, what: str) -> None:
    """Warn when some columns of a ``(bins, filters)`` filterbank are all zero."""
    empty = torch.nonzero(filterbank.sum(dim=0) == 0).flatten().tolist()
    if empty:
        warn_setting(
            f"{len(empty)} of {filterbank.shape[1]} {what} filters cover no FFT bin (indices {empty}); "
            "their outputs are constant. Use fewer filters or a larger n_fft."
        )
