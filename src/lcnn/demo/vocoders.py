"""Classic vocoders that re-synthesise bona fide speech into spoofed speech for the demo corpus.

Each vocoder analyses a waveform into parameters (spectral envelope, pitch, magnitude spectrogram)
and synthesises a new waveform from them, as the copy-synthesis spoofs of ASVspoof 2019 LA do.
Every function has the signature ``vocode_<name>(waveform, sample_rate, rng) -> waveform`` with a
float64 waveform in [-1, 1] of at least 50 ms, returns the same number of samples, and scales the output so that its
peak equals the peak of the input. For a given input and generator state the output is
deterministic.

Vocoders:
    ``world``: WORLD analysis and synthesis (DIO + StoneMask pitch, CheapTrick envelope, D4C
        aperiodicity), M. Morise et al., IEICE Trans. Inf. Syst. 2016. Needs ``pyworld``. Runs
        at 16 kHz when the input rate is lower.
    ``griffin_lim``: phase reconstruction from the STFT magnitude, D. Griffin and J. Lim, IEEE
        Trans. ASSP 1984.
    ``lpc``: frame-wise all-pole (LPC) filter excited by a pulse train or white noise, the
        classic LPC-10 style source-filter vocoder.
    ``mlsa``: mel-cepstrum and pitch with a Mel Log Spectrum Approximation filter, S. Imai,
        ICASSP 1983, through ``pysptk``.
"""

from __future__ import annotations

import functools
import warnings
from typing import Callable

import numpy as np
import scipy.linalg
import scipy.signal
import soxr

from lcnn.errors import ConfigError

__all__ = [
    "VOCODERS",
    "vocode",
    "vocode_world",
    "vocode_griffin_lim",
    "vocode_lpc",
    "vocode_mlsa",
]

# Pitch search range in Hz: the FSDD speakers are adult men, and the range also covers most women.
F0_MIN = 60.0
F0_MAX = 400.0


def _import_optional(name: str):
    """Import ``pyworld`` or ``pysptk``, naming the extra that installs it when it is missing."""
    try:
        with warnings.catch_warnings():
            # pyworld 0.3.x imports pkg_resources, and setuptools 80 warns that it is deprecated.
            warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
            return __import__(name)
    except ImportError as error:
        raise ImportError(
            f"the demo vocoders need {name}, which is not installed; install it with: pip install 'lcnn[demo]'"
        ) from error


def _check_waveform(waveform: np.ndarray, sample_rate: int) -> np.ndarray:
    waveform = np.asarray(waveform)
    if waveform.ndim != 1:
        raise ValueError(f"waveform must be one-dimensional (samples,), got shape {waveform.shape}")
    if not np.all(np.isfinite(waveform)):
        raise ValueError("waveform contains NaN or Inf values")
    if sample_rate < 4000:
        raise ValueError(f"sample_rate must be at least 4000 Hz, got {sample_rate}")
    # 50 ms gives every vocoder at least one full analysis frame and the pitch median filter 5 frames.
    min_samples = int(np.ceil(0.05 * sample_rate))
    if len(waveform) < min_samples:
        raise ValueError(
            f"waveform must be at least 50 ms long ({min_samples} samples at {sample_rate} Hz), "
            f"got {len(waveform)} samples"
        )
    return np.ascontiguousarray(waveform, dtype=np.float64)


def _match_peak(output: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Cut or zero-pad ``output`` to the length of ``reference`` and scale it to the same peak."""
    output = np.nan_to_num(output[: len(reference)], nan=0.0, posinf=0.0, neginf=0.0)
    output = np.pad(output, (0, len(reference) - len(output)))
    peak = np.max(np.abs(output), initial=0.0)
    target = np.max(np.abs(reference), initial=0.0)
    if peak == 0.0:
        return output
    return np.clip(output * (target / peak), -1.0, 1.0)


def _frame(waveform: np.ndarray, frame_length: int, hop_length: int) -> np.ndarray:
    """Cut a zero-padded waveform into frames centred at ``t * hop_length``, shape ``(frames, frame_length)``."""
    n_frames = len(waveform) // hop_length + 1
    half = frame_length // 2
    padded = np.pad(waveform, (half, half + frame_length))
    starts = np.arange(n_frames) * hop_length
    return padded[starts[:, None] + np.arange(frame_length)]


def _autocorrelation_pitch(waveform: np.ndarray, sample_rate: int, hop_length: int) -> np.ndarray:
    """Estimate F0 per frame (0 for unvoiced) by normalised autocorrelation, P. Boersma, 1993.

    The autocorrelation of each Hann-windowed 40 ms frame is divided by that of the window, so
    the peak at the pitch lag is not damped by the window taper. A frame is voiced when this peak
    exceeds 0.45 and its energy is within 30 dB of the loudest frame. Returns shape ``(frames,)``.
    """
    frame_length = int(round(0.04 * sample_rate))
    frames = _frame(waveform, frame_length, hop_length)
    frames = frames - frames.mean(axis=1, keepdims=True)
    window = np.hanning(frame_length)
    n_fft = 2 ** int(np.ceil(np.log2(2 * frame_length)))
    frame_acf = np.fft.irfft(np.abs(np.fft.rfft(frames * window, n_fft)) ** 2, n_fft)[:, :frame_length]
    window_acf = np.fft.irfft(np.abs(np.fft.rfft(window, n_fft)) ** 2, n_fft)[:frame_length]
    window_acf = window_acf / window_acf[0]

    energy = frame_acf[:, 0]
    normalised = frame_acf / np.maximum(energy[:, None], 1e-20) / window_acf
    min_lag = int(sample_rate / F0_MAX)
    max_lag = min(int(sample_rate / F0_MIN), frame_length // 2)
    candidates = normalised[:, min_lag:max_lag]
    is_peak = (candidates > normalised[:, min_lag - 1 : max_lag - 1]) & (
        candidates >= normalised[:, min_lag + 1 : max_lag + 1]
    )
    candidates = np.where(is_peak, candidates, -np.inf)
    # An octave cost (Praat's device, here 0.05 per octave below F0_MAX) favours the true period
    # over its multiples, which would halve F0.
    octave_cost = 0.05 * np.log2(np.arange(min_lag, max_lag) / min_lag)
    lags = min_lag + np.argmax(candidates - octave_cost, axis=1)
    peaks = normalised[np.arange(len(frames)), lags]

    loud = energy > 1e-3 * np.max(energy, initial=0.0)
    has_peak = np.isfinite(candidates).any(axis=1)
    voiced = has_peak & (peaks > 0.45) & loud & (energy > 0.0)
    f0 = np.where(voiced, sample_rate / lags, 0.0)
    # A 5-frame median removes isolated octave errors and voicing flips.
    return scipy.signal.medfilt(f0, 5)


def _pulse_noise_excitation(
    f0_frames: np.ndarray, hop_length: int, n_samples: int, sample_rate: int, rng: np.random.Generator
) -> np.ndarray:
    """Build a unit-power excitation: a pulse train at F0 where voiced and white noise elsewhere.

    Sample ``n`` takes the F0 of the frame centred nearest to it, frame ``t`` being centred on
    sample ``t * hop_length``.
    """
    nearest = np.minimum(np.round(np.arange(n_samples) / hop_length).astype(int), len(f0_frames) - 1)
    f0 = f0_frames[nearest]
    voiced = f0 > 0
    phase = np.cumsum(np.where(voiced, f0 / sample_rate, 0.0))
    pulse_at = np.diff(np.floor(phase), prepend=0.0) > 0
    excitation = rng.standard_normal(n_samples) * ~voiced
    # A pulse of height sqrt(period) per period has unit mean power, like the noise.
    excitation[pulse_at & voiced] = np.sqrt(sample_rate / f0[pulse_at & voiced])
    return excitation


def vocode_world(waveform: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Re-synthesise speech with the WORLD vocoder, 5 ms frames.

    Args:
        waveform: float64 array ``(samples,)`` in [-1, 1].
        sample_rate: sampling rate in Hz, at least 4000.
        rng: unused, because WORLD synthesis is deterministic; kept for the common signature.

    Returns:
        float64 array ``(samples,)`` with the peak of ``waveform``.

    Raises:
        ValueError: the waveform is not one-dimensional or not finite.
        ImportError: ``pyworld`` is not installed.
    """
    del rng
    pyworld = _import_optional("pyworld")
    x = _check_waveform(waveform, sample_rate)
    # D4C measures aperiodicity in bands centred at 3, 6, 9 ... kHz and finds no band below
    # 3 kHz + 3 kHz, so at 8 kHz it returns aperiodicity 1 (pure noise) everywhere. Below 16 kHz
    # the analysis and synthesis therefore run on a copy resampled to 16 kHz.
    world_rate = max(sample_rate, 16000)
    analysed = soxr.resample(x, sample_rate, world_rate) if world_rate != sample_rate else x
    f0, times = pyworld.dio(analysed, world_rate, f0_floor=F0_MIN, f0_ceil=F0_MAX, frame_period=5.0)
    f0 = pyworld.stonemask(analysed, f0, times, world_rate)
    envelope = pyworld.cheaptrick(analysed, f0, times, world_rate, f0_floor=F0_MIN)
    aperiodicity = pyworld.d4c(analysed, f0, times, world_rate)
    y = pyworld.synthesize(f0, envelope, aperiodicity, world_rate, frame_period=5.0)
    if world_rate != sample_rate:
        y = soxr.resample(y, world_rate, sample_rate)
    return _match_peak(y, x)


def vocode_griffin_lim(
    waveform: np.ndarray, sample_rate: int, rng: np.random.Generator, *, n_iter: int = 32
) -> np.ndarray:
    """Re-synthesise speech from its STFT magnitude with Griffin-Lim phase reconstruction.

    The STFT uses a 32 ms Hann window with 75 % overlap. The phase starts from uniform random
    values drawn from ``rng``.

    Args:
        waveform: float64 array ``(samples,)`` in [-1, 1].
        sample_rate: sampling rate in Hz, at least 4000.
        rng: generator of the initial phase.
        n_iter: number of Griffin-Lim iterations, int >= 1.

    Returns:
        float64 array ``(samples,)`` with the peak of ``waveform``.

    Raises:
        ValueError: the waveform is not one-dimensional or not finite, or ``n_iter`` < 1.
    """
    if n_iter < 1:
        raise ValueError(f"n_iter must be >= 1, got {n_iter}")
    x = _check_waveform(waveform, sample_rate)
    n_fft = 2 ** int(np.round(np.log2(0.032 * sample_rate)))
    settings = {"fs": sample_rate, "window": "hann", "nperseg": n_fft, "noverlap": 3 * n_fft // 4}

    _, _, spectrum = scipy.signal.stft(x, **settings)
    magnitude = np.abs(spectrum)
    estimate = magnitude * np.exp(2j * np.pi * rng.random(magnitude.shape))
    for _ in range(n_iter):
        _, y = scipy.signal.istft(estimate, **settings)
        y = np.pad(y[: len(x)], (0, max(0, len(x) - len(y))))
        _, _, rebuilt = scipy.signal.stft(y, **settings)
        estimate = magnitude * np.exp(1j * np.angle(rebuilt))
    _, y = scipy.signal.istft(estimate, **settings)
    return _match_peak(y, x)


def vocode_lpc(
    waveform: np.ndarray, sample_rate: int, rng: np.random.Generator, *, order: int = 12
) -> np.ndarray:
    """Re-synthesise speech with a frame-wise LPC source-filter vocoder.

    Each 20 ms frame (10 ms hop) gets an all-pole filter from the autocorrelation method. The
    excitation is a pulse train at the autocorrelation pitch in voiced frames and white noise from
    ``rng`` elsewhere. Filtered frames are Hann-windowed and overlap-added, so no residual of the
    original signal reaches the output.

    Args:
        waveform: float64 array ``(samples,)`` in [-1, 1].
        sample_rate: sampling rate in Hz, at least 4000.
        rng: generator of the noise excitation.
        order: LPC order, int >= 2 (12 suits 8 kHz speech, about 20 suits 16 kHz).

    Returns:
        float64 array ``(samples,)`` with the peak of ``waveform``.

    Raises:
        ValueError: the waveform is not one-dimensional or not finite, or ``order`` < 2.
    """
    if order < 2:
        raise ValueError(f"order must be >= 2, got {order}")
    x = _check_waveform(waveform, sample_rate)
    frame_length = 2 * int(round(0.01 * sample_rate))
    hop_length = frame_length // 2
    frames = _frame(x, frame_length, hop_length)
    n_frames = len(frames)

    f0 = _autocorrelation_pitch(x, sample_rate, hop_length)
    padded_length = (n_frames + 1) * hop_length
    excitation = _pulse_noise_excitation(f0, hop_length, padded_length, sample_rate, rng)
    # Frames start half a frame before their centre, so shift the excitation to frame coordinates.
    excitation = np.concatenate((np.zeros(frame_length // 2), excitation))

    analysis_window = np.hamming(frame_length)
    synthesis_window = scipy.signal.get_window("hann", frame_length)  # periodic: sums to 1 at 50 % overlap
    output = np.zeros(padded_length + frame_length)
    for t in range(n_frames):
        segment = frames[t] * analysis_window
        acf = np.correlate(segment, segment, mode="full")[frame_length - 1 : frame_length + order]
        if acf[0] <= 1e-12:
            continue
        acf[0] *= 1.0 + 1e-4  # white-noise correction keeps the normal equations well conditioned
        predictor = scipy.linalg.solve_toeplitz(acf[:order], acf[1 : order + 1])
        error = max(acf[0] - predictor @ acf[1 : order + 1], 0.0)
        gain = np.sqrt(error / np.sum(analysis_window**2))
        start = t * hop_length
        source = excitation[start : start + frame_length]
        source = np.pad(source, (0, frame_length - len(source)))
        filtered = scipy.signal.lfilter([gain], np.concatenate(([1.0], -predictor)), source)
        output[start : start + frame_length] += filtered * synthesis_window
    return _match_peak(output[frame_length // 2 :], x)


@functools.lru_cache(maxsize=8)
def _mcep_alpha(sample_rate: int) -> float:
    """Return the all-pass constant that approximates the mel scale; pysptk searches for it in about 35 ms."""
    return _import_optional("pysptk").util.mcepalpha(sample_rate)


def vocode_mlsa(
    waveform: np.ndarray, sample_rate: int, rng: np.random.Generator, *, order: int = 20
) -> np.ndarray:
    """Re-synthesise speech with mel-cepstral analysis and an MLSA filter (pysptk).

    Mel-cepstra of ``order`` come from Blackman-windowed 32 ms frames every 5 ms with the
    frequency-warping ``alpha`` that ``pysptk.util.mcepalpha`` gives for the sample rate. F0 comes
    from DIO + StoneMask (pyworld). The excitation is a pulse train in voiced frames and white
    noise from ``rng``.

    Args:
        waveform: float64 array ``(samples,)`` in [-1, 1].
        sample_rate: sampling rate in Hz, at least 4000.
        rng: generator of the noise excitation and of a -100 dB dither that keeps digital
            silence out of the mel-cepstral analysis.
        order: mel-cepstrum order, int >= 2.

    Returns:
        float64 array ``(samples,)`` with the peak of ``waveform``.

    Raises:
        ValueError: the waveform is not one-dimensional or not finite, or ``order`` < 2.
        ImportError: ``pysptk`` or ``pyworld`` is not installed.
    """
    if order < 2:
        raise ValueError(f"order must be >= 2, got {order}")
    pysptk = _import_optional("pysptk")
    from pysptk.synthesis import MLSADF, Synthesizer

    x = _check_waveform(waveform, sample_rate)
    hop_length = int(round(0.005 * sample_rate))
    frame_length = 2 ** int(np.round(np.log2(0.032 * sample_rate)))
    alpha = _mcep_alpha(sample_rate)

    dithered = x + 1e-5 * rng.standard_normal(len(x))
    frames = _frame(dithered, frame_length, hop_length) * np.blackman(frame_length)
    mcep = pysptk.mcep(frames, order=order, alpha=alpha, etype=1, eps=1e-10)
    # NOTE: pysptk 1.0.1 swipe and rapt return different F0 tracks for identical calls, which would
    # make the corpus irreproducible, so F0 comes from WORLD's DIO + StoneMask on the same 5 ms grid.
    pyworld = _import_optional("pyworld")
    f0, times = pyworld.dio(dithered, sample_rate, f0_floor=F0_MIN, f0_ceil=F0_MAX, frame_period=5.0)
    f0 = pyworld.stonemask(dithered, f0, times, sample_rate)
    n_frames = min(len(mcep), len(f0))
    mcep, f0 = mcep[:n_frames], f0[:n_frames]

    excitation = _pulse_noise_excitation(f0, hop_length, n_frames * hop_length, sample_rate, rng)
    synthesizer = Synthesizer(MLSADF(order=order, alpha=alpha, pd=5), hop_length)
    y = synthesizer.synthesis(excitation, pysptk.mc2b(mcep, alpha))
    return _match_peak(y, x)


# Registry of vocoder names; the corpus builder and its attack ids refer to these names.
VOCODERS: dict[str, Callable[[np.ndarray, int, np.random.Generator], np.ndarray]] = {
    "world": vocode_world,
    "griffin_lim": vocode_griffin_lim,
    "lpc": vocode_lpc,
    "mlsa": vocode_mlsa,
}


def vocode(name: str, waveform: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Run the vocoder registered as ``name``.

    Raises:
        ConfigError: ``name`` is not in :data:`VOCODERS`; the message lists the known names.
    """
    try:
        function = VOCODERS[name]
    except KeyError:
        raise ConfigError(f"unknown vocoder {name!r}; known vocoders: {', '.join(VOCODERS)}") from None
    return function(waveform, sample_rate, rng)
