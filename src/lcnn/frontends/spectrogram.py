"""Log power spectrogram, the STFT input of the original LCNN anti-spoofing experiments.

The LCNN repository this project grew from fed LCNN-9 an STFT magnitude in dB computed with
pre-emphasis 0.97, a Blackman window and only the lowest 800 bins. Each of those choices is a setting
here (``pre_emphasis``, ``window``, ``log_scale``, ``max_bins``). The hop is a fixed number of
samples, whereas that repository derived it from the file length.
"""

from __future__ import annotations

import torch

from lcnn.errors import ConfigError
from lcnn.frontends import functional
from lcnn.frontends.base import Frontend, check_choice
from lcnn.frontends.stft import PowerSTFT

__all__ = ["LogSpectrogram"]


class LogSpectrogram(Frontend):
    """Log-compressed STFT: waveform ``(batch, samples)`` -> ``(batch, 1, n_features, frames)``.

    ``n_features`` is ``max_bins`` or ``n_fft // 2 + 1``; row ``k`` is the bin at
    ``k * sample_rate / n_fft`` Hz.

    Args:
        sample_rate: Hz of the input waveform (recorded for the data pipeline; the transform itself
            does not depend on it).
        n_fft: FFT size.
        win_length: int <= n_fft, centred in the FFT frame; None means ``n_fft``.
        hop_length: samples between frames.
        window: ``"hann"``, ``"hamming"``, ``"blackman"`` or ``"rectangular"`` (periodic).
        pre_emphasis: coefficient of ``x[n] - a x[n-1]``; 0 disables it.
        power: 2 for the power spectrum, 1 for the magnitude.
        log_scale: ``"db"``, ``"log10"``, ``"ln"`` or ``"none"``; see ``functional.log_scale``.
        log_eps: floor (``"db"``) or offset (``"log10"``, ``"ln"``) of the logarithm.
        max_bins: keep only the lowest ``max_bins`` bins; None keeps all.
        center: centre frames on ``t * hop_length`` with ``n_fft // 2`` samples of padding.
        pad_mode: ``"constant"`` or ``"reflect"``.

    Raises:
        ConfigError: an invalid setting; the message names the value.
    """

    def __init__(
        self,
        *,
        sample_rate: int = 16000,
        n_fft: int = 512,
        win_length: int | None = None,
        hop_length: int = 160,
        window: str = "hann",
        pre_emphasis: float = 0.0,
        power: float = 2.0,
        log_scale: str = "db",
        log_eps: float = 1e-10,
        max_bins: int | None = None,
        center: bool = True,
        pad_mode: str = "constant",
    ) -> None:
        super().__init__()
        self.stft = PowerSTFT(
            n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window,
            center=center, pad_mode=pad_mode, power=power, sample_rate=sample_rate,
        )
        check_choice("log_scale", log_scale, functional.LOG_SCALES)
        if not 0.0 <= pre_emphasis < 1.0:
            raise ConfigError(f"pre_emphasis must be in [0, 1); got {pre_emphasis}.")
        if log_eps <= 0:
            raise ConfigError(f"log_eps must be > 0; got {log_eps}.")
        n_bins = n_fft // 2 + 1
        if max_bins is not None and not 0 < max_bins <= n_bins:
            raise ConfigError(
                f"max_bins must be in [1, n_fft // 2 + 1 = {n_bins}]; got {max_bins}. "
                "Raise n_fft or lower max_bins."
            )
        self.sample_rate = sample_rate
        self.pre_emphasis = float(pre_emphasis)
        self.power = float(power)
        self.log_scale = log_scale
        self.log_eps = float(log_eps)
        self.n_features = n_bins if max_bins is None else max_bins

    def num_frames(self, lengths: torch.Tensor) -> torch.Tensor:
        """Return the frames of each utterance of ``lengths`` samples, ``(batch,)`` int64."""
        return self.stft.num_frames(lengths)

    def forward(self, waveform: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Compute the log spectrogram.

        Args:
            waveform: ``(batch, samples)``.
            lengths: optional ``(batch,)`` valid samples of a zero-padded batch. Samples past each
                length are zeroed after pre-emphasis. With ``pad_mode="constant"`` the valid frames
                then equal those of each utterance alone.

        Returns:
            ``(batch, 1, n_features, frames)``.
        """
        emphasised = self._emphasise(waveform, lengths)
        spectrum = self.stft(emphasised)
        spectrum = spectrum[:, : self.n_features]
        return functional.log_scale(spectrum, self.log_scale, eps=self.log_eps, power=self.power).unsqueeze(1)

    def extra_repr(self) -> str:
        return f"sample_rate={self.sample_rate}, n_features={self.n_features}, log_scale={self.log_scale!r}"
