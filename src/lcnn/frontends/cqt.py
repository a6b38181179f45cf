"""Constant-Q transform (CQT) computed with precomputed complex kernels as strided convolutions.

Bin ``k`` has centre frequency ``f_k = f_min * 2 ** (k / bins_per_octave)`` and a windowed (Hann by
default) complex exponential kernel of ``N_k = Q * sample_rate / f_k`` samples, centred on the frame centre,
with ``Q = filter_scale / alpha`` and relative bandwidth ``alpha = (r**2 - 1) / (r**2 + 1)``,
``r = 2 ** (1 / bins_per_octave)``. These are the filter lengths of ``librosa.filters.wavelet_lengths``
(librosa 0.11). Kernels are divided by their window sum, so a sinusoid of amplitude ``A`` at ``f_k``
gives magnitude ``A / 2``. With ``scale=True`` the response is also multiplied by ``sqrt(N_k)``, as
``librosa.cqt(..., scale=True)`` does.

Unlike librosa, which filters octave by octave on a downsampled signal, every bin is computed on the
full-rate signal. Bins are grouped by octave and each group is one ``conv1d`` whose kernel is only as
long as that octave's longest filter.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from lcnn.errors import ConfigError
from lcnn.frontends import functional
from lcnn.frontends.base import Frontend, check_choice, check_positive_int, warn_setting

__all__ = ["CQT", "cqt_frequencies", "cqt_lengths", "cqt_kernels"]

_C1_HZ = 32.70319566257483
_HANN_BANDWIDTH = 1.50018310546875  # equivalent noise bandwidth of the Hann window, in bins


def cqt_frequencies(*, f_min: float, n_bins: int, bins_per_octave: int) -> torch.Tensor:
    """Return the ``(n_bins,)`` float64 centre frequencies ``f_min * 2 ** (k / bins_per_octave)``."""
    return f_min * 2.0 ** (torch.arange(n_bins, dtype=torch.float64) / bins_per_octave)


def cqt_lengths(
    *, sample_rate: int, f_min: float, n_bins: int, bins_per_octave: int, filter_scale: float = 1.0
) -> torch.Tensor:
    """Return the ``(n_bins,)`` float64 filter lengths ``N_k = Q * sample_rate / f_k`` in samples."""
    ratio = 2.0 ** (2.0 / bins_per_octave)
    alpha = (ratio - 1.0) / (ratio + 1.0)
    frequencies = cqt_frequencies(f_min=f_min, n_bins=n_bins, bins_per_octave=bins_per_octave)
    return (filter_scale / alpha) * sample_rate / frequencies


def cqt_kernels(
    *,
    sample_rate: int,
    f_min: float,
    n_bins: int,
    bins_per_octave: int,
    filter_scale: float = 1.0,
    window: str = "hann",
    scale: bool = True,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Build the complex CQT kernels, centred in a common even length.

    Kernel ``k`` has ``M_k = ceil(N_k)`` taps at offsets ``n = -(M_k // 2) .. M_k - M_k // 2 - 1``
    from the frame centre: ``w[n] exp(2j pi f_k n / sample_rate) / sum(w)`` (times ``sqrt(N_k)``
    when ``scale``), where ``w`` is the periodic window of ``M_k`` samples. Offset ``n`` is column
    ``K // 2 + n`` of the result.

    Returns:
        ``(real, imag)``, each ``(n_bins, K)`` with ``K`` even; the response of bin ``k`` at a
        frame centred on sample ``c`` is ``sum_j kernel[k, j] * x[c - K // 2 + j]``.
    """
    frequencies = cqt_frequencies(f_min=f_min, n_bins=n_bins, bins_per_octave=bins_per_octave)
    lengths = cqt_lengths(
        sample_rate=sample_rate, f_min=f_min, n_bins=n_bins, bins_per_octave=bins_per_octave,
        filter_scale=filter_scale,
    )
    taps = [math.ceil(length) for length in lengths.tolist()]
    half = max(taps) // 2 + 1
    real = torch.zeros(n_bins, 2 * half, dtype=torch.float64)
    imag = torch.zeros(n_bins, 2 * half, dtype=torch.float64)
    for k, (frequency, count) in enumerate(zip(frequencies.tolist(), taps)):
        offsets = torch.arange(-(count // 2), count - count // 2, dtype=torch.float64)
        weights = functional.window_function(window, count, dtype=torch.float64)
        weights = weights / weights.sum()
        if scale:
            weights = weights * math.sqrt(lengths[k])
        phase = 2.0 * math.pi * frequency * offsets / sample_rate
        columns = slice(half - count // 2, half - count // 2 + count)
        real[k, columns] = weights * torch.cos(phase)
        imag[k, columns] = weights * torch.sin(phase)
    return real.to(dtype), imag.to(dtype)


class CQT(Frontend):
    """Log-magnitude constant-Q transform: waveform ``(batch, samples)`` -> ``(batch, 1, n_bins, frames)``.

    Frame ``t`` is centred on sample ``t * hop_length`` (the signal is padded with zeros or by
    reflection), so an utterance of ``L`` samples gives ``1 + L // hop_length`` frames.

    Args:
        sample_rate: Hz of the input waveform.
        hop_length: samples between frames.
        f_min: centre frequency of the lowest bin, Hz (default C1, 32.70 Hz).
        n_bins: number of bins.
        bins_per_octave: bins per octave.
        filter_scale: filter length factor; larger values give longer, narrower filters.
        window: kernel window, one of ``functional.WINDOWS``.
        scale: multiply bin ``k`` by ``sqrt(N_k)`` as ``librosa.cqt`` does by default.
        pre_emphasis: coefficient of ``x[n] - a x[n-1]``; 0 disables it.
        power: 1 for magnitude, 2 for power.
        log_scale: ``"db"``, ``"log10"``, ``"ln"`` or ``"none"``; see ``functional.log_scale``.
        log_eps: floor (``"db"``) or offset (``"log10"``, ``"ln"``) of the logarithm. The default
            1e-5 (-100 dB for magnitudes) keeps near-silent bins from amplifying float32 rounding,
            which made ONNX Runtime and PyTorch scores differ by 2e-4 with a 1e-10 floor.
        pad_mode: ``"constant"`` or ``"reflect"``.

    Buffers:
        ``kernel_real``, ``kernel_imag``: ``(n_bins, K)`` from :func:`cqt_kernels`.

    Raises:
        ConfigError: an invalid setting, or a top bin at or above Nyquist.
    """

    def __init__(
        self,
        *,
        sample_rate: int = 16000,
        hop_length: int = 160,
        f_min: float = _C1_HZ,
        n_bins: int = 84,
        bins_per_octave: int = 12,
        filter_scale: float = 1.0,
        window: str = "hann",
        scale: bool = True,
        pre_emphasis: float = 0.0,
        power: float = 1.0,
        log_scale: str = "db",
        log_eps: float = 1e-5,
        pad_mode: str = "constant",
    ) -> None:
        super().__init__()
        for name, value in (("sample_rate", sample_rate), ("hop_length", hop_length), ("n_bins", n_bins),
                            ("bins_per_octave", bins_per_octave)):
            check_positive_int(name, value)
        check_choice("window", window, functional.WINDOWS)
        check_choice("log_scale", log_scale, functional.LOG_SCALES)
        check_choice("pad_mode", pad_mode, ("constant", "reflect"))
        if f_min <= 0:
            raise ConfigError(f"f_min must be > 0 Hz for a CQT; got {f_min}.")
        if filter_scale <= 0 or power <= 0 or log_eps <= 0:
            raise ConfigError(
                f"filter_scale, power and log_eps must be > 0; got {filter_scale}, {power}, {log_eps}."
            )
        if not 0.0 <= pre_emphasis < 1.0:
            raise ConfigError(f"pre_emphasis must be in [0, 1); got {pre_emphasis}.")
        self._check_band(sample_rate, f_min, n_bins, bins_per_octave, filter_scale)

        kernel_real, kernel_imag = cqt_kernels(
            sample_rate=sample_rate, f_min=f_min, n_bins=n_bins, bins_per_octave=bins_per_octave,
            filter_scale=filter_scale, window=window, scale=scale,
        )
        self._half = kernel_real.shape[1] // 2
        self.register_buffer("kernel_real", kernel_real)
        self.register_buffer("kernel_imag", kernel_imag)
        # One convolution per octave, each cut to the columns its longest filter uses.
        lengths = cqt_lengths(sample_rate=sample_rate, f_min=f_min, n_bins=n_bins,
                              bins_per_octave=bins_per_octave, filter_scale=filter_scale)
        self._groups: list[tuple[int, int, int]] = []
        for start in range(0, n_bins, bins_per_octave):
            stop = min(start + bins_per_octave, n_bins)
            self._groups.append((start, stop, math.ceil(lengths[start].item()) // 2 + 1))

        self.sample_rate = sample_rate
        self.hop_length = hop_length
        self.f_min = float(f_min)
        self.n_bins = n_bins
        self.bins_per_octave = bins_per_octave
        self.n_features = n_bins
        self.pre_emphasis = float(pre_emphasis)
        self.power = float(power)
        self.log_scale = log_scale
        self.log_eps = float(log_eps)
        self.pad_mode = pad_mode

    @staticmethod
    def _check_band(
        sample_rate: int, f_min: float, n_bins: int, bins_per_octave: int, filter_scale: float
    ) -> None:
        nyquist = sample_rate / 2.0
        ratio = 2.0 ** (2.0 / bins_per_octave)
        q_factor = filter_scale * (ratio + 1.0) / (ratio - 1.0)
        # The main lobe reaches this factor above the centre frequency (librosa's f_cutoff). The Hann
        # bandwidth is used for every window.
        reach = 1.0 + 0.5 * _HANN_BANDWIDTH / q_factor
        fitting = math.floor(bins_per_octave * math.log2(nyquist / (f_min * reach))) + 1
        top = f_min * 2.0 ** ((n_bins - 1) / bins_per_octave)
        if top >= nyquist:
            raise ConfigError(
                f"the top CQT bin ({top:.1f} Hz) is at or above Nyquist ({nyquist} Hz) for n_bins={n_bins}, "
                f"f_min={f_min}; use at most n_bins={fitting} or a lower f_min."
            )
        if top * reach > nyquist:
            warn_setting(
                f"the top CQT filter reaches {top * reach:.1f} Hz, above Nyquist ({nyquist} Hz); its response "
                f"aliases. Use at most n_bins={fitting} or a lower f_min."
            )

    def num_frames(self, lengths: torch.Tensor) -> torch.Tensor:
        """Return ``1 + lengths // hop_length``, the frames of each utterance, ``(batch,)`` int64."""
        return torch.div(torch.as_tensor(lengths, dtype=torch.long), self.hop_length, rounding_mode="floor") + 1

    def forward(self, waveform: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Compute the log CQT.

        Args:
            waveform: ``(batch, samples)``.
            lengths: optional ``(batch,)`` valid samples of a zero-padded batch. Samples past each
                length are zeroed after pre-emphasis. With ``pad_mode="constant"`` the valid frames
                then equal those of each utterance alone.

        Returns:
            ``(batch, 1, n_bins, frames)``.
        """
        self._check_waveform(waveform)
        half = self._half
        if self.pad_mode == "reflect" and waveform.shape[-1] <= half:
            raise ValueError(
                f"reflect padding needs more than {half} samples (half the longest CQT kernel); got "
                f"{waveform.shape[-1]}. Use pad_mode='constant'."
            )
        emphasised = self._zero_padding(functional.pre_emphasis(waveform, self.pre_emphasis), lengths)
        signal = F.pad(emphasised.unsqueeze(1), (half, half), mode=self.pad_mode)
        responses = []
        for start, stop, group_half in self._groups:
            trim = half - group_half
            segment = signal[..., trim:-trim] if trim > 0 else signal
            columns = slice(half - group_half, half + group_half)
            kernels = torch.cat([self.kernel_real[start:stop, columns], self.kernel_imag[start:stop, columns]])
            response = F.conv1d(segment, kernels.unsqueeze(1), stride=self.hop_length)
            real, imag = response.chunk(2, dim=1)
            responses.append(real * real + imag * imag)
        spectrum = torch.cat(responses, dim=1)
        if self.power != 2.0:
            spectrum = spectrum.pow(self.power / 2.0)
        return functional.log_scale(spectrum, self.log_scale, eps=self.log_eps, power=self.power).unsqueeze(1)

    def extra_repr(self) -> str:
        return (
            f"sample_rate={self.sample_rate}, f_min={self.f_min:.2f}, n_bins={self.n_bins}, "
            f"bins_per_octave={self.bins_per_octave}, hop_length={self.hop_length}"
        )
