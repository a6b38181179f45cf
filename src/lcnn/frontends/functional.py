"""Pure functions behind the feature front ends: framing, DFT, filterbanks, DCT, deltas, log scaling.

The short-time Fourier transform here is a real DFT written as a 1-D convolution with cosine and
sine kernels instead of ``torch.stft``, so that ONNX export reproduces it exactly. Frames follow
``torch.stft`` and librosa: with ``center=True`` the signal is padded by ``n_fft // 2`` on each side,
and a window shorter than ``n_fft`` sits in the middle of the FFT frame, zero-padded by
``(n_fft - win_length) // 2`` on the left.

Matrices are built in float64 and returned in the requested dtype (float32 by default).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = [
    "WINDOWS",
    "LOG_SCALES",
    "pre_emphasis",
    "window_function",
    "dft_matrices",
    "num_frames",
    "stft_power",
    "triangular_filterbank",
    "linear_filterbank",
    "hz_to_mel",
    "mel_to_hz",
    "mel_filterbank",
    "dct_matrix",
    "deltas",
    "log_scale",
]

WINDOWS = ("hann", "hamming", "blackman", "rectangular")
LOG_SCALES = ("log10", "db", "ln", "none")


def pre_emphasis(waveform: torch.Tensor, coefficient: float = 0.97) -> torch.Tensor:
    """Apply the first-order high-pass filter ``y[n] = x[n] - coefficient * x[n - 1]``.

    The first sample is kept unchanged (``y[0] = x[0]``), as in the ASVspoof baseline front ends.

    Args:
        waveform: ``(..., samples)``.
        coefficient: filter coefficient. With 0 the input is returned unchanged.

    Returns:
        Tensor of the input's shape; the input is not modified.
    """
    if coefficient == 0:
        return waveform
    return torch.cat([waveform[..., :1], waveform[..., 1:] - coefficient * waveform[..., :-1]], dim=-1)


def window_function(
    name: str, win_length: int, *, periodic: bool = True, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Return the analysis window ``name`` of ``win_length`` samples.

    Args:
        name: one of :data:`WINDOWS`.
        win_length: int > 0, number of samples.
        periodic: True gives the periodic (DFT-even) window of ``torch.hann_window`` and
            ``scipy.signal.get_window(..., fftbins=True)``; False the symmetric one.
        dtype: dtype of the result.

    Returns:
        ``(win_length,)`` tensor.

    Raises:
        ValueError: unknown window name.
    """
    makers = {
        "hann": torch.hann_window,
        "hamming": torch.hamming_window,
        "blackman": torch.blackman_window,
    }
    if name == "rectangular":
        return torch.ones(win_length, dtype=dtype)
    if name not in makers:
        raise ValueError(f"unknown window {name!r}; expected one of {', '.join(WINDOWS)}.")
    return makers[name](win_length, periodic=periodic, dtype=torch.float64).to(dtype)


def dft_matrices(
    n_fft: int, win_length: int | None = None, *, dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the real and imaginary parts of the one-sided DFT restricted to the window's span.

    Row ``k`` contains ``cos(2 pi k n / n_fft)`` and ``-sin(2 pi k n / n_fft)`` for the
    ``win_length`` positions ``n`` the centred window covers inside the FFT frame, so
    ``frame @ real.T + 1j * frame @ imag.T`` equals ``torch.fft.rfft`` of the zero-padded frame.

    Args:
        n_fft: int > 0, FFT size.
        win_length: int in [1, n_fft]; None means ``n_fft``.
        dtype: dtype of the result.

    Returns:
        ``(real, imag)``, each ``(n_fft // 2 + 1, win_length)``.
    """
    win_length = n_fft if win_length is None else win_length
    offset = (n_fft - win_length) // 2
    bins = torch.arange(n_fft // 2 + 1, dtype=torch.float64)[:, None]
    positions = torch.arange(offset, offset + win_length, dtype=torch.float64)[None, :]
    # Reducing k * n modulo n_fft keeps the angles small, so float64 cos/sin stay exact to ~1e-16.
    angle = 2.0 * math.pi * torch.remainder(bins * positions, n_fft) / n_fft
    return torch.cos(angle).to(dtype), (-torch.sin(angle)).to(dtype)


def num_frames(lengths: torch.Tensor, *, n_fft: int, hop_length: int, center: bool = True) -> torch.Tensor:
    """Return the number of STFT frames for signals of ``lengths`` samples.

    With ``center=True`` this is ``1 + (lengths + 2 * (n_fft // 2) - n_fft) // hop_length``, which is
    ``1 + lengths // hop_length`` for an even ``n_fft``. Without centring, signals shorter than
    ``n_fft`` give 0 frames.

    Args:
        lengths: ``(batch,)`` integer tensor of valid samples.

    Returns:
        ``(batch,)`` int64 tensor.
    """
    lengths = torch.as_tensor(lengths, dtype=torch.long)
    padded = lengths + 2 * (n_fft // 2) if center else lengths
    return torch.clamp(torch.div(padded - n_fft, hop_length, rounding_mode="floor") + 1, min=0)


def stft_power(
    waveform: torch.Tensor,
    window: torch.Tensor,
    dft_real: torch.Tensor,
    dft_imag: torch.Tensor,
    *,
    n_fft: int,
    hop_length: int,
    win_length: int | None = None,
    center: bool = True,
    pad_mode: str = "constant",
    power: float = 2.0,
) -> torch.Tensor:
    """Compute ``|STFT|**power`` as a strided convolution with windowed DFT kernels.

    Equal to ``torch.stft(waveform, n_fft, hop_length, win_length, window, center=center,
    pad_mode=pad_mode, return_complex=True).abs() ** power`` up to float rounding, for any
    ``win_length <= n_fft``.

    Args:
        waveform: ``(batch, samples)``.
        window: ``(win_length,)``.
        dft_real, dft_imag: ``(n_fft // 2 + 1, win_length)`` from :func:`dft_matrices`.
        n_fft: FFT size the DFT matrices were built for.
        hop_length: int > 0, samples between frames.
        win_length: length of ``window`` as a Python int; pass it when tracing for export, so
            the slicing below stays static. None reads it from ``window``.
        center: pad ``n_fft // 2`` samples on both sides so frame ``t`` is centred on sample
            ``t * hop_length``.
        pad_mode: ``"constant"`` (zeros) or ``"reflect"``.
        power: exponent of the magnitude, 2 for power, 1 for magnitude.

    Returns:
        ``(batch, n_fft // 2 + 1, frames)``, frames given by :func:`num_frames`.
    """
    win_length = int(window.shape[-1]) if win_length is None else win_length
    offset = (n_fft - win_length) // 2
    signal = waveform.unsqueeze(1)
    if center:
        signal = F.pad(signal, (n_fft // 2, n_fft // 2), mode=pad_mode)
    # Only the span under the window contributes: drop `offset` samples before the first frame's
    # window and the FFT-frame tail after the last, so the frame count matches torch.stft.
    tail = n_fft - win_length - offset
    signal = signal[..., offset:-tail] if tail > 0 else signal[..., offset:]
    kernels = torch.cat([dft_real * window, dft_imag * window], dim=0).unsqueeze(1)
    spectrum = F.conv1d(signal, kernels, stride=hop_length)
    real, imag = spectrum.chunk(2, dim=1)
    squared = real * real + imag * imag
    if power == 2.0:
        return squared
    return squared.pow(power / 2.0)


def triangular_filterbank(bin_frequencies: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """Return triangular filters with corners ``edges[i], edges[i + 1], edges[i + 2]``.

    Filter ``i`` rises linearly from 0 at ``edges[i]`` to 1 at ``edges[i + 1]`` and falls back to
    0 at ``edges[i + 2]`` (the ``trimf`` shape). The peak height is 1, without area normalisation.

    Args:
        bin_frequencies: ``(n_bins,)`` frequency of each spectrum bin, Hz.
        edges: ``(n_filter + 2,)`` increasing corner frequencies, Hz.

    Returns:
        ``(n_bins, n_filter)`` float64 tensor.
    """
    freqs = bin_frequencies.to(torch.float64)[:, None]
    edges = edges.to(torch.float64)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (freqs - lower) / (centre - lower)
    falling = (upper - freqs) / (upper - centre)
    return torch.clamp(torch.minimum(rising, falling), min=0.0)


def linear_filterbank(
    *,
    sample_rate: int,
    n_fft: int,
    n_filter: int,
    f_min: float = 0.0,
    f_max: float | None = None,
    layout: str = "asvspoof",
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, int]:
    """Build ``n_filter`` linearly spaced triangular filters over ``[f_min, f_max]``.

    Two bin layouts exist:

    - ``"asvspoof"``: the layout of the ASVspoof LFCC baselines (NII ``LFCC`` with ``min_freq`` and
      ``max_freq`` fractions). Only bins ``first = int(f_min / nyquist * n_bins)`` up to
      ``int(f_max / nyquist * n_bins)`` (exclusive) are kept, and those bins are assigned the
      frequencies ``linspace(f_min, f_max, kept)``. Over the full band this equals the true bin
      frequencies. For a part of the band it stretches the filters slightly (0-4 kHz with
      ``n_fft=1024`` maps bin 255, truly 3984 Hz, to 4000 Hz).
    - ``"fft"``: every bin ``k`` at its true frequency ``k * sample_rate / n_fft``; all
      ``n_fft // 2 + 1`` bins are kept.

    Args:
        sample_rate: Hz.
        n_fft: FFT size; the spectrum has ``n_bins = n_fft // 2 + 1`` bins.
        n_filter: int > 0, number of filters.
        f_min, f_max: band edges in Hz; ``f_max=None`` means ``sample_rate / 2``.
        layout: ``"asvspoof"`` or ``"fft"``.
        dtype: dtype of the result.

    Returns:
        ``(filterbank, first_bin)``: filterbank ``(kept_bins, n_filter)`` to apply to spectrum bins
        ``first_bin : first_bin + kept_bins``.

    Raises:
        ValueError: unknown layout or an empty band.
    """
    nyquist = sample_rate / 2.0
    f_max = nyquist if f_max is None else float(f_max)
    n_bins = n_fft // 2 + 1
    if layout == "asvspoof":
        first_bin = int(f_min * n_bins / nyquist)
        end_bin = int(f_max * n_bins / nyquist)
        if end_bin - first_bin < 2:
            raise ValueError(
                f"band {f_min}-{f_max} Hz keeps {end_bin - first_bin} FFT bins with n_fft={n_fft}; "
                "widen the band or increase n_fft."
            )
        bin_frequencies = torch.linspace(f_min, f_max, end_bin - first_bin, dtype=torch.float64)
    elif layout == "fft":
        first_bin = 0
        bin_frequencies = torch.arange(n_bins, dtype=torch.float64) * sample_rate / n_fft
    else:
        raise ValueError(f"unknown filterbank layout {layout!r}; expected 'asvspoof' or 'fft'.")
    edges = torch.linspace(f_min, f_max, n_filter + 2, dtype=torch.float64)
    return triangular_filterbank(bin_frequencies, edges).to(dtype), first_bin


def hz_to_mel(frequency: torch.Tensor | float, *, mel_scale: str = "htk") -> torch.Tensor:
    """Convert Hz to mels on the ``"htk"`` (``2595 log10(1 + f / 700)``) or ``"slaney"`` scale.

    The Slaney scale (Auditory Toolbox, librosa's default) is linear below 1 kHz
    (``f / (200 / 3)``) and logarithmic above it, with step ``log(6.4) / 27`` per mel.
    """
    frequency = torch.as_tensor(frequency, dtype=torch.float64)
    if mel_scale == "htk":
        return 2595.0 * torch.log10(1.0 + frequency / 700.0)
    if mel_scale != "slaney":
        raise ValueError(f"unknown mel_scale {mel_scale!r}; expected 'htk' or 'slaney'.")
    linear_step = 200.0 / 3.0
    break_hz, break_mel = 1000.0, 1000.0 / linear_step
    log_step = math.log(6.4) / 27.0
    safe = torch.clamp(frequency, min=break_hz)
    return torch.where(
        frequency >= break_hz, break_mel + torch.log(safe / break_hz) / log_step, frequency / linear_step
    )


def mel_to_hz(mel: torch.Tensor | float, *, mel_scale: str = "htk") -> torch.Tensor:
    """Convert mels back to Hz; the inverse of :func:`hz_to_mel`."""
    mel = torch.as_tensor(mel, dtype=torch.float64)
    if mel_scale == "htk":
        return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)
    if mel_scale != "slaney":
        raise ValueError(f"unknown mel_scale {mel_scale!r}; expected 'htk' or 'slaney'.")
    linear_step = 200.0 / 3.0
    break_hz, break_mel = 1000.0, 1000.0 / linear_step
    log_step = math.log(6.4) / 27.0
    return torch.where(mel >= break_mel, break_hz * torch.exp(log_step * (mel - break_mel)), mel * linear_step)


def mel_filterbank(
    *,
    sample_rate: int,
    n_fft: int,
    n_mels: int,
    f_min: float = 0.0,
    f_max: float | None = None,
    mel_scale: str = "htk",
    norm: str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Build ``n_mels`` triangular filters equally spaced on the mel scale.

    Bin ``k`` is at ``k * sample_rate / n_fft``. With ``norm="slaney"`` each filter is multiplied
    by ``2 / (f[i + 2] - f[i])``, so every filter has the same area, as in librosa's default.
    ``norm=None`` keeps peak height 1, as torchaudio's default does.

    Returns:
        ``(n_fft // 2 + 1, n_mels)``.
    """
    f_max = sample_rate / 2.0 if f_max is None else float(f_max)
    bin_frequencies = torch.arange(n_fft // 2 + 1, dtype=torch.float64) * sample_rate / n_fft
    mel_edges = torch.linspace(
        float(hz_to_mel(f_min, mel_scale=mel_scale)), float(hz_to_mel(f_max, mel_scale=mel_scale)), n_mels + 2,
        dtype=torch.float64,
    )
    edges = mel_to_hz(mel_edges, mel_scale=mel_scale)
    filterbank = triangular_filterbank(bin_frequencies, edges)
    if norm == "slaney":
        filterbank = filterbank * (2.0 / (edges[2:] - edges[:-2]))[None, :]
    elif norm is not None:
        raise ValueError(f"unknown mel filter norm {norm!r}; expected None or 'slaney'.")
    return filterbank.to(dtype)


def dct_matrix(n_coefficients: int, n_inputs: int, *, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Return the orthonormal DCT-II matrix, coefficients by inputs.

    ``C[k, n] = s_k cos(pi k (2 n + 1) / (2 N))`` with ``s_0 = sqrt(1 / N)`` and
    ``s_k = sqrt(2 / N)`` otherwise, so ``C @ x`` equals ``scipy.fft.dct(x, norm="ortho")[:K]``.
    The orientation is that of an ``nn.Linear`` weight (out, in).

    Returns:
        ``(n_coefficients, n_inputs)``.
    """
    k = torch.arange(n_coefficients, dtype=torch.float64)[:, None]
    n = torch.arange(n_inputs, dtype=torch.float64)[None, :]
    matrix = torch.cos(math.pi * k * (2.0 * n + 1.0) / (2.0 * n_inputs)) * math.sqrt(2.0 / n_inputs)
    matrix[0] /= math.sqrt(2.0)
    return matrix.to(dtype)


def deltas(
    features: torch.Tensor, *, width: int = 1, normalize: bool = False, lengths: torch.Tensor | None = None
) -> torch.Tensor:
    """Compute delta features along the last (frame) axis.

    ``d[t] = sum_{n=1..width} n * (c[t + n] - c[t - n])``, divided by ``2 * sum n**2`` when
    ``normalize`` is true (the HTK regression formula). Frames outside the utterance repeat its first
    or last frame. The ASVspoof baselines use ``width=1`` without normalisation:
    ``d[t] = c[t + 1] - c[t - 1]``.

    Args:
        features: ``(batch, n_features, frames)``.
        width: int >= 1, frames on each side.
        normalize: divide by ``2 * sum n**2``.
        lengths: ``(batch,)`` valid frames per utterance of a padded batch; the last valid frame is
            repeated instead of reading padding. None means all frames are valid.

    Returns:
        Tensor of the input's shape.
    """
    frames = features.shape[-1]
    result = torch.zeros_like(features)
    if lengths is None:
        padded = F.pad(features, (width, width), mode="replicate")
        for n in range(1, width + 1):
            ahead = padded[..., width + n : width + n + frames]
            behind = padded[..., width - n : width - n + frames]
            result = result + n * (ahead - behind)
    else:
        positions = torch.arange(frames, device=features.device)[None, :]
        last = (lengths.to(features.device).long() - 1).clamp(min=0)[:, None]
        for n in range(1, width + 1):
            ahead = torch.minimum(positions + n, last).clamp(min=0)
            behind = torch.minimum((positions - n).clamp(min=0), last)
            index_ahead = ahead[:, None, :].expand_as(features)
            index_behind = behind[:, None, :].expand_as(features)
            result = result + n * (features.gather(-1, index_ahead) - features.gather(-1, index_behind))
    if normalize:
        result = result / (2.0 * sum(n * n for n in range(1, width + 1)))
    return result


def log_scale(spectrum: torch.Tensor, scale: str, *, eps: float, power: float = 2.0) -> torch.Tensor:
    """Compress a non-negative spectrum ``S = |X| ** power`` to a log scale.

    Args:
        spectrum: any shape, non-negative.
        scale: ``"log10"`` gives ``log10(S + eps)``; ``"ln"`` gives ``log(S + eps)``;
            ``"db"`` gives ``(20 / power) * log10(max(S, eps))``, which is ``20 log10 |X|`` for any
            ``power`` (librosa's ``power_to_db``/``amplitude_to_db`` with ``amin=eps`` and no
            ``top_db``); ``"none"`` returns ``S``.
        eps: floor or offset that keeps the logarithm finite.
        power: the exponent ``S`` was computed with; only ``"db"`` uses it.

    Returns:
        Tensor of the input's shape.
    """
    if scale == "log10":
        return torch.log10(spectrum + eps)
    if scale == "ln":
        return torch.log(spectrum + eps)
    if scale == "db":
        return (20.0 / power) * torch.log10(torch.clamp(spectrum, min=eps))
    if scale == "none":
        return spectrum
    raise ValueError(f"unknown log scale {scale!r}; expected one of {', '.join(LOG_SCALES)}.")
