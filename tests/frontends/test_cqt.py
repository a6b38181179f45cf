"""Tests of the constant-Q transform against a direct NumPy sum and against librosa."""

from __future__ import annotations

import math

import librosa
import numpy as np
import pytest
import scipy.signal
import soundfile
import torch

from lcnn.errors import ConfigError
from lcnn.frontends import CQT, create_frontend
from lcnn.frontends.cqt import cqt_frequencies, cqt_lengths

ASVSPOOF_FILES = ("LA_T_1272637", "LA_D_1003356", "LA_E_6163791")
C1_HZ = 32.70319566257483


def direct_cqt(signal: np.ndarray, *, frames: list[int], hop: int, sample_rate: int, f_min: float,
               n_bins: int, bins_per_octave: int, scale: bool = True) -> np.ndarray:
    """Sum each Hann-windowed complex exponential against the signal; returns |C| (n_bins, len(frames))."""
    r = 2.0 ** (2.0 / bins_per_octave)
    q_factor = (r + 1.0) / (r - 1.0)
    x = signal.astype(np.float64)
    result = np.zeros((n_bins, len(frames)))
    for k in range(n_bins):
        frequency = f_min * 2.0 ** (k / bins_per_octave)
        length = q_factor * sample_rate / frequency
        taps = math.ceil(length)
        offsets = np.arange(-(taps // 2), taps - taps // 2)
        window = scipy.signal.get_window("hann", taps, fftbins=True)
        kernel = window * np.exp(2j * np.pi * frequency * offsets / sample_rate) / window.sum()
        if scale:
            kernel *= np.sqrt(length)
        for column, frame in enumerate(frames):
            positions = frame * hop + offsets
            inside = (positions >= 0) & (positions < len(x))
            result[k, column] = abs(np.sum(kernel[inside] * x[positions[inside]]))
    return result


@pytest.fixture(scope="module")
def speech(data_dir) -> np.ndarray:
    path = data_dir / "asvspoof" / "audio" / "LA_D_1003356.flac"
    if not path.is_file():
        pytest.skip(f"ASVspoof audio not found at {path}")
    signal, _ = soundfile.read(path, dtype="float32")
    return signal


def test_matches_direct_sum(speech):
    signal = speech[:20000]
    frontend = CQT(log_scale="none", n_bins=84)
    with torch.no_grad():
        magnitude = frontend(torch.from_numpy(signal)[None])[0, 0].double().numpy()
    frames = [0, 3, 40, 77, 124]
    expected = direct_cqt(signal, frames=frames, hop=160, sample_rate=16000, f_min=C1_HZ, n_bins=84,
                          bins_per_octave=12)
    assert magnitude.shape == (84, 1 + len(signal) // 160)
    assert np.abs(magnitude[:, frames] - expected).max() < 1e-4 * expected.max()


def test_unscaled_matches_direct_sum_other_resolution():
    signal = np.random.default_rng(3).standard_normal(6000).astype(np.float32)
    frontend = CQT(log_scale="none", f_min=110.0, n_bins=60, bins_per_octave=24, hop_length=256, scale=False)
    with torch.no_grad():
        magnitude = frontend(torch.from_numpy(signal)[None])[0, 0].double().numpy()
    frames = [0, 11, 23]
    expected = direct_cqt(signal, frames=frames, hop=256, sample_rate=16000, f_min=110.0, n_bins=60,
                          bins_per_octave=24, scale=False)
    assert np.abs(magnitude[:, frames] - expected).max() < 1e-4 * expected.max()


def test_lengths_match_librosa():
    frequencies = cqt_frequencies(f_min=C1_HZ, n_bins=84, bins_per_octave=12).numpy()
    assert np.allclose(frequencies, librosa.cqt_frequencies(n_bins=84, fmin=C1_HZ, bins_per_octave=12))
    lengths = cqt_lengths(sample_rate=16000, f_min=C1_HZ, n_bins=84, bins_per_octave=12).numpy()
    expected, _ = librosa.filters.wavelet_lengths(freqs=frequencies, sr=16000)
    assert np.allclose(lengths, expected, rtol=1e-12)


@pytest.mark.parametrize(("scale", "bin_index"), [(True, 20), (True, 70), (False, 45)])
def test_sinusoid_amplitude_and_peak(scale, bin_index):
    frequency = C1_HZ * 2.0 ** (bin_index / 12)
    t = np.arange(32000) / 16000
    signal = (0.5 * np.cos(2 * np.pi * frequency * t)).astype(np.float32)
    frontend = CQT(log_scale="none", scale=scale)
    with torch.no_grad():
        magnitude = frontend(torch.from_numpy(signal)[None])[0, 0, :, 100].double().numpy()
    length = cqt_lengths(sample_rate=16000, f_min=C1_HZ, n_bins=84, bins_per_octave=12)[bin_index].item()
    expected = 0.25 * (math.sqrt(length) if scale else 1.0)
    assert int(magnitude.argmax()) == bin_index
    assert magnitude[bin_index] == pytest.approx(expected, rel=1e-3)


def test_close_to_librosa_cqt(speech):
    frontend = CQT(log_scale="none")
    with torch.no_grad():
        magnitude = frontend(torch.from_numpy(speech)[None])[0, 0].double().numpy()
    expected = np.abs(librosa.cqt(speech.astype(np.float64), sr=16000, hop_length=160, fmin=C1_HZ, n_bins=84,
                                  pad_mode="constant"))
    assert magnitude.shape == expected.shape
    # librosa filters octave by octave on a downsampled signal and drops the smallest 1% of kernel
    # weights, so only a loose agreement is expected.
    assert np.abs(magnitude - expected).max() < 0.03 * expected.max()
    loud = expected > expected.max() * 1e-3
    decibel_error = np.abs(20 * np.log10(magnitude[loud]) - 20 * np.log10(expected[loud]))
    assert np.median(decibel_error) < 0.3


def test_batched_equals_one_by_one():
    torch.manual_seed(4)
    lengths = torch.tensor([10000, 6543, 200])
    batch = torch.zeros(3, 10000)
    for i, length in enumerate(lengths.tolist()):
        batch[i, :length] = 0.1 * torch.randn(length)
    frontend = CQT(pre_emphasis=0.97)
    with torch.no_grad():
        together = frontend(batch, lengths)
        frames = frontend.num_frames(lengths)
        for i, length in enumerate(lengths.tolist()):
            alone = frontend(batch[i : i + 1, :length])
            assert alone.shape == (1, 1, 84, frames[i])
            assert (together[i : i + 1, ..., : frames[i]] - alone).abs().max() < 5e-3


@pytest.mark.parametrize("name", ASVSPOOF_FILES)
def test_asvspoof_files(data_dir, name):
    path = data_dir / "asvspoof" / "audio" / f"{name}.flac"
    if not path.is_file():
        pytest.skip(f"ASVspoof audio not found at {path}")
    signal, _ = soundfile.read(path, dtype="float32")
    with torch.no_grad():
        features = create_frontend("cqt")(torch.from_numpy(signal)[None])
    assert features.shape == (1, 1, 84, 1 + len(signal) // 160)
    assert torch.isfinite(features).all()


def test_kernels_in_state_dict():
    assert set(CQT().state_dict()) == {"kernel_real", "kernel_imag"}


def test_top_bin_above_nyquist_raises():
    message = r"top CQT bin \(9956.1 Hz\) is at or above Nyquist \(8000.0 Hz\).*n_bins=95"
    with pytest.raises(ConfigError, match=message):
        CQT(n_bins=100)


def test_top_filter_band_above_nyquist_warns():
    message = r"top CQT filter reaches \d+\.\d Hz, above Nyquist \(8000.0 Hz\).*n_bins=95"
    with pytest.warns(UserWarning, match=message):
        CQT(n_bins=96)
    CQT(n_bins=95)


@pytest.mark.parametrize(("settings", "message"), [
    (dict(f_min=0.0), "f_min must be > 0 Hz for a CQT; got 0.0"),
    (dict(bins_per_octave=0), "bins_per_octave must be a positive integer; got 0"),
    (dict(filter_scale=-1.0), "filter_scale, power and log_eps must be > 0; got -1.0"),
    (dict(window="gauss"), "window must be one of .*got 'gauss'"),
])
def test_invalid_settings_raise(settings, message):
    with pytest.raises(ConfigError, match=message):
        create_frontend("cqt", **settings)


def test_reflect_padding_needs_long_input():
    with pytest.raises(ValueError, match="reflect padding needs more than 4241 samples"):
        CQT(pad_mode="reflect")(torch.zeros(1, 1000))
