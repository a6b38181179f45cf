"""Log mel filterbank energies (log mel spectrogram)."""

from __future__ import annotations

import torch

from lcnn.errors import ConfigError
from lcnn.frontends import functional
from lcnn.frontends.base import Frontend, check_band, check_choice, check_positive_int, warn_empty_filters
from lcnn.frontends.stft import PowerSTFT

__all__ = ["LogMelSpectrogram"]


class LogMelSpectrogram(Frontend):
    """Log mel spectrogram: waveform ``(batch, samples)`` -> ``(batch, 1, n_mels, frames)``.

    The filterbank follows ``torchaudio.functional.melscale_fbanks`` and ``librosa.filters.mel``
    (triangles between mel-spaced corner frequencies, bins at ``k * sample_rate / n_fft``). The
    defaults (HTK scale, no normalisation) are torchaudio's; ``mel_scale="slaney", norm="slaney"``
    gives librosa's.

    Args:
        sample_rate: Hz of the input waveform.
        n_fft: FFT size.
        win_length: int <= n_fft, centred in the FFT frame; None means ``n_fft``.
        hop_length: samples between frames.
        f_min, f_max: filterbank band in Hz; ``f_max=None`` is Nyquist. An f_max above Nyquist
            warns (filters above Nyquist have no bins).
        n_mels: number of mel filters.
        window: ``"hann"``, ``"hamming"``, ``"blackman"`` or ``"rectangular"`` (periodic).
        pre_emphasis: coefficient of ``x[n] - a x[n-1]``; 0 disables it.
        power: 2 for power, 1 for magnitude before the filterbank.
        mel_scale: ``"htk"`` or ``"slaney"``.
        norm: None or ``"slaney"`` (divide each filter by half its bandwidth in Hz).
        log_scale: ``"db"``, ``"log10"``, ``"ln"`` or ``"none"``; see ``functional.log_scale``.
        log_eps: floor (``"db"``) or offset (``"log10"``, ``"ln"``) of the logarithm.
        center: centre frames on ``t * hop_length`` with ``n_fft // 2`` samples of padding.
        pad_mode: ``"constant"`` or ``"reflect"``.

    Buffers:
        ``filterbank`` ``(n_fft // 2 + 1, n_mels)``; ``stft.window``, ``stft.dft_real``, ``stft.dft_imag``.

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
        f_min: float = 0.0,
        f_max: float | None = None,
        n_mels: int = 80,
        window: str = "hann",
        pre_emphasis: float = 0.0,
        power: float = 2.0,
        mel_scale: str = "htk",
        norm: str | None = None,
        log_scale: str = "db",
        log_eps: float = 1e-10,
        center: bool = True,
        pad_mode: str = "constant",
    ) -> None:
        super().__init__()
        self.stft = PowerSTFT(
            n_fft=n_fft, hop_length=hop_length, win_length=win_length, window=window,
            center=center, pad_mode=pad_mode, power=power, sample_rate=sample_rate,
        )
        check_positive_int("n_mels", n_mels)
        check_choice("mel_scale", mel_scale, ("htk", "slaney"))
        check_choice("norm", norm, (None, "slaney"))
        check_choice("log_scale", log_scale, functional.LOG_SCALES)
        if not 0.0 <= pre_emphasis < 1.0:
            raise ConfigError(f"pre_emphasis must be in [0, 1); got {pre_emphasis}.")
        if log_eps <= 0:
            raise ConfigError(f"log_eps must be > 0; got {log_eps}.")
        f_max = check_band(f_min=f_min, f_max=f_max, sample_rate=sample_rate, clamp=False)
        filterbank = functional.mel_filterbank(
            sample_rate=sample_rate, n_fft=n_fft, n_mels=n_mels, f_min=f_min, f_max=f_max,
            mel_scale=mel_scale, norm=norm,
        )
        warn_empty_filters(filterbank, what="mel")
        self.sample_rate = sample_rate
        self.f_min = float(f_min)
        self.f_max = f_max
        self.n_mels = n_mels
        self.n_features = n_mels
        self.pre_emphasis = float(pre_emphasis)
        self.power = float(power)
        self.log_scale = log_scale
        self.log_eps = float(log_eps)
        self.register_buffer("filterbank", filterbank)

    def num_frames(self, lengths: torch.Tensor) -> torch.Tensor:
        """Return the frames of each utterance of ``lengths`` samples, ``(batch,)`` int64."""
        return self.stft.num_frames(lengths)

    def forward(self, waveform: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Compute the log mel spectrogram.

        Args:
            waveform: ``(batch, samples)``.
            lengths: optional ``(batch,)`` valid samples of a zero-padded batch. Samples past each
                length are zeroed after pre-emphasis. With ``pad_mode="constant"`` the valid frames
                then equal those of each utterance alone.

        Returns:
            ``(batch, 1, n_mels, frames)``.
        """
        emphasised = self._emphasise(waveform, lengths)
        spectrum = self.stft(emphasised)
        mel = torch.matmul(self.filterbank.T, spectrum)
        # The mel energies are a power (or magnitude) sum, so dB uses the spectrum's exponent.
        return functional.log_scale(mel, self.log_scale, eps=self.log_eps, power=self.power).unsqueeze(1)

    def extra_repr(self) -> str:
        return (
            f"sample_rate={self.sample_rate}, n_mels={self.n_mels}, band=({self.f_min}, {self.f_max}), "
            f"log_scale={self.log_scale!r}"
        )
