"""Tests of the demo vocoders: shape, range, determinism, and resemblance to the input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.signal

pytest.importorskip("pyworld")
pytest.importorskip("pysptk")

from lcnn.demo import vocoders  # noqa: E402
from lcnn.errors import ConfigError  # noqa: E402

SAMPLE_RATE = 8000
F0 = 120.0
NAMES = list(vocoders.VOCODERS)
USES_RNG = ["griffin_lim", "lpc", "mlsa"]


def synthetic_vowel(sample_rate: int = SAMPLE_RATE, seconds: float = 0.6, f0: float = F0) -> np.ndarray:
    """A pulse train at ``f0`` through formant resonators at 700, 1200 and 2500 Hz, peak 0.5."""
    n = int(seconds * sample_rate)
    source = np.zeros(n)
    source[:: int(round(sample_rate / f0))] = 1.0
    signal = source
    for formant, bandwidth in ((700, 80), (1200, 90), (2500, 120)):
        radius = np.exp(-np.pi * bandwidth / sample_rate)
        angle = 2 * np.pi * formant / sample_rate
        signal = scipy.signal.lfilter([1.0], [1.0, -2 * radius * np.cos(angle), radius**2], signal)
    signal = signal * np.hanning(n) ** 0.25
    return 0.5 * signal / np.max(np.abs(signal))


def band_log_energies(waveform: np.ndarray, sample_rate: int, n_bands: int = 24) -> np.ndarray:
    """Log energies of ``n_bands`` equal-width bands per 32 ms frame, shape ``(n_bands, frames)``."""
    _, _, spectrum = scipy.signal.stft(waveform, sample_rate, nperseg=256, noverlap=192)
    power = np.abs(spectrum) ** 2
    edges = np.linspace(0, power.shape[0], n_bands + 1).astype(int)
    bands = np.stack([power[low:high].sum(axis=0) for low, high in zip(edges[:-1], edges[1:])])
    return np.log10(bands + 1e-10)


def envelope_correlation(reference: np.ndarray, other: np.ndarray, sample_rate: int) -> float:
    """Mean over the frames within 30 dB of the loudest of the Pearson correlation of band energies.

    A frame where ``other`` is silent counts as correlation 0.
    """
    ref, oth = band_log_energies(reference, sample_rate), band_log_energies(other, sample_rate)
    frame_energy = np.log10(np.sum(10.0**ref, axis=0))
    active = np.flatnonzero(frame_energy > frame_energy.max() - 3.0)
    correlations = []
    for t in active:
        if np.ptp(oth[:, t]) == 0.0:
            correlations.append(0.0)
        else:
            correlations.append(np.corrcoef(ref[:, t], oth[:, t])[0, 1])
    return float(np.mean(correlations))


@pytest.fixture(scope="module")
def fsdd_dir(data_dir: Path) -> Path:
    path = data_dir / "speech" / "fsdd" / "recordings"
    if not path.is_dir():
        pytest.skip(f"FSDD recordings not found at {path}")
    return path


@pytest.fixture(scope="module")
def real_clip(fsdd_dir: Path) -> np.ndarray:
    import soundfile as sf

    waveform, sample_rate = sf.read(fsdd_dir / "3_jackson_10.wav", dtype="float64")
    assert sample_rate == SAMPLE_RATE
    return waveform


@pytest.mark.parametrize("name", NAMES)
def test_output_shape_range_and_peak(name: str, real_clip: np.ndarray) -> None:
    output = vocoders.VOCODERS[name](real_clip, SAMPLE_RATE, np.random.default_rng(0))
    assert output.shape == real_clip.shape
    assert output.dtype == np.float64
    assert np.all(np.isfinite(output))
    assert np.max(np.abs(output)) <= 1.0
    assert np.max(np.abs(output)) == pytest.approx(np.max(np.abs(real_clip)), rel=1e-9)


@pytest.mark.parametrize("name", NAMES)
def test_full_scale_input_stays_in_range(name: str) -> None:
    waveform = synthetic_vowel() * 2.0  # peak exactly 1.0
    output = vocoders.VOCODERS[name](waveform, SAMPLE_RATE, np.random.default_rng(0))
    assert np.max(np.abs(output)) == pytest.approx(1.0)
    assert np.max(np.abs(output)) <= 1.0


@pytest.mark.parametrize("name", NAMES)
def test_output_differs_from_input(name: str, real_clip: np.ndarray) -> None:
    output = vocoders.VOCODERS[name](real_clip, SAMPLE_RATE, np.random.default_rng(0))
    relative_error = np.linalg.norm(output - real_clip) / np.linalg.norm(real_clip)
    assert relative_error > 0.3


@pytest.mark.parametrize("name", NAMES)
def test_spectral_envelope_resembles_input(name: str, real_clip: np.ndarray, fsdd_dir: Path) -> None:
    import soundfile as sf

    output = vocoders.VOCODERS[name](real_clip, SAMPLE_RATE, np.random.default_rng(0))
    other, _ = sf.read(fsdd_dir / "7_george_10.wav", dtype="float64")
    length = min(len(other), len(real_clip))
    unrelated = envelope_correlation(real_clip[:length], other[:length], SAMPLE_RATE)
    vocoded = envelope_correlation(real_clip, output, SAMPLE_RATE)
    assert vocoded > 0.7
    assert vocoded > unrelated + 0.2


@pytest.mark.parametrize("name", NAMES)
def test_pitch_of_synthetic_vowel_kept(name: str) -> None:
    librosa = pytest.importorskip("librosa")
    waveform = synthetic_vowel()
    output = vocoders.VOCODERS[name](waveform, SAMPLE_RATE, np.random.default_rng(0))
    f0 = librosa.yin(output, fmin=60, fmax=400, sr=SAMPLE_RATE, frame_length=512, hop_length=80)
    middle = f0[len(f0) // 4 : 3 * len(f0) // 4]
    assert np.median(middle) == pytest.approx(SAMPLE_RATE / round(SAMPLE_RATE / F0), rel=0.05)


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_output(name: str, real_clip: np.ndarray) -> None:
    first = vocoders.VOCODERS[name](real_clip, SAMPLE_RATE, np.random.default_rng(7))
    second = vocoders.VOCODERS[name](real_clip, SAMPLE_RATE, np.random.default_rng(7))
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("name", USES_RNG)
def test_other_seed_other_output(name: str, real_clip: np.ndarray) -> None:
    first = vocoders.VOCODERS[name](real_clip, SAMPLE_RATE, np.random.default_rng(1))
    second = vocoders.VOCODERS[name](real_clip, SAMPLE_RATE, np.random.default_rng(2))
    assert not np.allclose(first, second)


@pytest.mark.parametrize("name", NAMES)
def test_16khz_input(name: str) -> None:
    waveform = synthetic_vowel(sample_rate=16000)
    output = vocoders.VOCODERS[name](waveform, 16000, np.random.default_rng(0))
    assert output.shape == waveform.shape
    assert np.all(np.isfinite(output))
    assert envelope_correlation(waveform, output, 16000) > 0.7


@pytest.mark.parametrize("name", NAMES)
def test_shortest_input_accepted(name: str) -> None:
    waveform = synthetic_vowel()[1000:1400]
    output = vocoders.VOCODERS[name](waveform, SAMPLE_RATE, np.random.default_rng(0))
    assert output.shape == (400,)
    assert np.all(np.isfinite(output))


@pytest.mark.parametrize("name", NAMES)
def test_silent_input_gives_silence(name: str) -> None:
    output = vocoders.VOCODERS[name](np.zeros(4000), SAMPLE_RATE, np.random.default_rng(0))
    np.testing.assert_array_equal(output, np.zeros(4000))


@pytest.mark.parametrize("name", NAMES)
def test_leading_digital_silence(name: str) -> None:
    waveform = np.concatenate([np.zeros(2000), synthetic_vowel(), np.zeros(2000)])
    output = vocoders.VOCODERS[name](waveform, SAMPLE_RATE, np.random.default_rng(0))
    assert np.all(np.isfinite(output))
    assert np.max(np.abs(output)) == pytest.approx(0.5)


def test_autocorrelation_pitch_of_pulse_train() -> None:
    f0 = vocoders._autocorrelation_pitch(synthetic_vowel(f0=150.0), SAMPLE_RATE, 80)
    voiced = f0[f0 > 0]
    assert len(voiced) > 0.7 * len(f0)
    assert np.median(voiced) == pytest.approx(SAMPLE_RATE / round(SAMPLE_RATE / 150.0), rel=0.02)


@pytest.mark.parametrize("name", NAMES)
def test_rejects_bad_waveforms(name: str) -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"one-dimensional .* shape \(2, 100\)"):
        vocoders.VOCODERS[name](np.zeros((2, 100)), SAMPLE_RATE, rng)
    with pytest.raises(ValueError, match="NaN or Inf"):
        vocoders.VOCODERS[name](np.full(4000, np.nan), SAMPLE_RATE, rng)
    with pytest.raises(ValueError, match="sample_rate must be at least 4000 Hz, got 2000"):
        vocoders.VOCODERS[name](synthetic_vowel(), 2000, rng)
    with pytest.raises(ValueError, match=r"at least 50 ms long \(400 samples at 8000 Hz\), got 399 samples"):
        vocoders.VOCODERS[name](synthetic_vowel()[:399], SAMPLE_RATE, rng)


def test_rejects_bad_settings() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="n_iter must be >= 1, got 0"):
        vocoders.vocode_griffin_lim(synthetic_vowel(), SAMPLE_RATE, rng, n_iter=0)
    with pytest.raises(ValueError, match="order must be >= 2, got 1"):
        vocoders.vocode_lpc(synthetic_vowel(), SAMPLE_RATE, rng, order=1)
    with pytest.raises(ValueError, match="order must be >= 2, got 0"):
        vocoders.vocode_mlsa(synthetic_vowel(), SAMPLE_RATE, rng, order=0)


def test_vocode_unknown_name_lists_known() -> None:
    with pytest.raises(ConfigError, match="unknown vocoder 'wavenet'; known vocoders: world, griffin_lim, lpc, mlsa"):
        vocoders.vocode("wavenet", synthetic_vowel(), SAMPLE_RATE, np.random.default_rng(0))


def test_vocode_dispatches_by_name(real_clip: np.ndarray) -> None:
    direct = vocoders.vocode_lpc(real_clip, SAMPLE_RATE, np.random.default_rng(3))
    by_name = vocoders.vocode("lpc", real_clip, SAMPLE_RATE, np.random.default_rng(3))
    np.testing.assert_array_equal(direct, by_name)
