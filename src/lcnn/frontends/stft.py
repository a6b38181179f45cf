"""Power spectrogram through a DFT written as a convolution (exportable to ONNX)."""

from __future__ import annotations

import torch
from torch import nn

from lcnn.errors import ConfigError
from lcnn.frontends import functional
from lcnn.frontends.base import check_choice, check_frame_settings

__all__ = ["PowerSTFT"]


class PowerSTFT(nn.Module):
    """``|STFT(x)| ** power`` with window and DFT matrices stored as buffers.

    Matches ``torch.stft(..., center=center, pad_mode=pad_mode).abs() ** power`` with the same
    window, a window shorter than ``n_fft`` being centred in the FFT frame.

    Args:
        n_fft: int > 0, FFT size; the output has ``n_fft // 2 + 1`` bins.
        hop_length: int > 0, samples between frames.
        win_length: int in [1, n_fft]; None means ``n_fft``.
        window: one of ``functional.WINDOWS``.
        periodic_window: periodic (True, the ``torch.stft`` and librosa convention) or symmetric window.
        center: pad ``n_fft // 2`` samples on each side.
        pad_mode: ``"constant"`` (zeros, the ASVspoof baselines) or ``"reflect"``.
        power: 2 for power, 1 for magnitude.

    Buffers:
        ``window`` ``(win_length,)``; ``dft_real`` and ``dft_imag`` ``(n_fft // 2 + 1, win_length)``.
    """

    def __init__(
        self,
        *,
        n_fft: int,
        hop_length: int,
        win_length: int | None = None,
        window: str = "hann",
        periodic_window: bool = True,
        center: bool = True,
        pad_mode: str = "constant",
        power: float = 2.0,
        sample_rate: int = 16000,
    ) -> None:
        super().__init__()
        win_length = n_fft if win_length is None else win_length
        check_frame_settings(sample_rate=sample_rate, n_fft=n_fft, win_length=win_length, hop_length=hop_length)
        check_choice("window", window, functional.WINDOWS)
        check_choice("pad_mode", pad_mode, ("constant", "reflect"))
        if power <= 0:
            raise ConfigError(f"power must be > 0; got {power}.")
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.win_length = win_length
        self.center = center
        self.pad_mode = pad_mode
        self.power = float(power)
        self.n_bins = n_fft // 2 + 1
        self.register_buffer("window", functional.window_function(window, win_length, periodic=periodic_window))
        dft_real, dft_imag = functional.dft_matrices(n_fft, win_length)
        self.register_buffer("dft_real", dft_real)
        self.register_buffer("dft_imag", dft_imag)

    def num_frames(self, lengths: torch.Tensor) -> torch.Tensor:
        """Return the frames of each signal of ``lengths`` samples, ``(batch,)`` int64."""
        return functional.num_frames(lengths, n_fft=self.n_fft, hop_length=self.hop_length, center=self.center)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        """Compute the spectrum.

        Args:
            waveform: ``(batch, samples)``.

        Returns:
            ``(batch, n_fft // 2 + 1, frames)``.
        """
        if self.center and self.pad_mode == "reflect" and waveform.shape[-1] <= self.n_fft // 2:
            raise ValueError(
                f"reflect padding needs more than n_fft // 2 = {self.n_fft // 2} samples; got "
                f"{waveform.shape[-1]}. Use pad_mode='constant' or longer audio."
            )
        if not self.center and waveform.shape[-1] < self.n_fft:
            raise ValueError(
                f"center=False needs at least n_fft = {self.n_fft} samples for one frame; "
                f"got {waveform.shape[-1]}."
            )
        return functional.stft_power(
            waveform,
            self.window,
            self.dft_real,
            self.dft_imag,
            n_fft=self.n_fft,
            hop_length=self.hop_length,
            win_length=self.win_length,
            center=self.center,
            pad_mode=self.pad_mode,
            power=self.power,
        )

    def extra_repr(self) -> str:
        return (
            f"n_fft={self.n_fft}, win_length={self.win_length}, hop_length={self.hop_length}, "
            f"center={self.center}, pad_mode={self.pad_mode!r}, power={self.power}"
        )
