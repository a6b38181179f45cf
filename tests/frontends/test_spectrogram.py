"""Tests of the DFT-based STFT and the log spectrogram front end against NumPy and librosa."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import scipy.signal
import soundfile
import torch

from lcnn.errors import ConfigError
from lcnn.frontends import LogSpectrogram, PowerSTFT, create_frontend, functional

ASVSPOOF_FILES = ("LA_T_1272637", "LA_D_1003356", "LA_E_6163791")


def numpy_power_stft(signal: np.ndarray, *, n_fft: int, win_length: int, hop: int, window: str) -> np.ndarray:
    """Frame, window and FFT by hand (centred, zero padding); returns (bins, frames) power in float64."""
    padded = np.pad(signal.astype(np.float64), n_fft // 2)
    full_window = np.zeros(n_fft)
    left = (n_fft - win_length) // 2
    scipy_name = "boxcar" if window == "rectangular" else window
    full_window[left : left + win_length] = scipy.signal.get_window(scipy_name, win_length, fftbins=True)
    frames = 1 + (len(padded) - n_fft) // hop
    framed = np.stack([padded[t * hop : t * hop + n_fft] * full_window for t in range(frames)])
    return (np.abs(np.fft.rfft(framed, axis=1)) ** 2).T


@pytest.fixture(scope="module")
def speech(data_dir) -> np.ndarray:
    path = data_dir / "asvspoof" / "audio" / "LA_D_1003356.flac"
    if not path.is_file():
        pytest.skip(f"ASVspoof audio not found at {path}")
    signal, _ = soundfile.read(path, dtype="float32")
    return signal[:24000]


@pytest.mark.parametrize(("n_fft", "win_length", "hop", "window"), [
    (512, 320, 160, "hamming"),
    (512, 512, 128, "hann"),
    (1024, 320, 160, "blackman"),
    (511, 300, 100, "rectangular"),
    (400, 399, 160, "hann"),
])
def test_power_stft_matches_numpy(n_fft, win_length, hop, window):
    signal = np.random.default_rng(0).standard_normal(8001).astype(np.float32) * 0.1
    stft = PowerSTFT(n_fft=n_fft, win_length=win_length, hop_length=hop, window=window)
    with torch.no_grad():
        power = stft(torch.from_numpy(signal)[None])[0].double().numpy()
    expected = numpy_power_stft(signal, n_fft=n_fft, win_length=win_length, hop=hop, window=window)
    assert power.shape == expected.shape
    assert stft.num_frames(torch.tensor([8001])).item() == expected.shape[1]
    assert np.abs(power - expected).max() < 1e-5 * expected.max()


def test_power_stft_matches_torch_stft_reflect_and_uncentred():
    waveform = torch.randn(2, 5000)
    for center, pad_mode in ((True, "reflect"), (False, "constant")):
        stft = PowerSTFT(
            n_fft=512, win_length=400, hop_length=160, window="hann", center=center, pad_mode=pad_mode
        )
        expected = torch.stft(
            waveform, 512, 160, 400, window=torch.hann_window(400), center=center, pad_mode=pad_mode,
            return_complex=True,
        ).abs() ** 2
        with torch.no_grad():
            power = stft(waveform)
        assert power.shape == expected.shape
        assert torch.equal(stft.num_frames(torch.tensor([5000, 5000])), torch.tensor([expected.shape[-1]] * 2))
        assert (power - expected).abs().max() < 1e-4 * expected.max()


def test_dft_matrices_match_rfft():
    frame = torch.randn(3, 300, dtype=torch.float64)
    real, imag = functional.dft_matrices(512, 300, dtype=torch.float64)
    padded = torch.nn.functional.pad(frame, (106, 106))
    expected = torch.fft.rfft(padded)
    assert torch.allclose(frame @ real.T, expected.real, atol=1e-10)
    assert torch.allclose(frame @ imag.T, expected.imag, atol=1e-10)


def test_log_spectrogram_matches_librosa_db(speech):
    frontend = create_frontend("spectrogram", n_fft=512, win_length=400, hop_length=160, window="blackman")
    with torch.no_grad():
        features = frontend(torch.from_numpy(speech)[None])[0, 0].double().numpy()
    power = np.abs(librosa.stft(
        speech.astype(np.float64), n_fft=512, hop_length=160, win_length=400, window="blackman",
        center=True, pad_mode="constant",
    )) ** 2
    expected = librosa.power_to_db(power, amin=1e-10, top_db=None)
    assert features.shape == expected.shape == (257, 1 + len(speech) // 160)
    # float32 rounding dominates far below the peak, where dB magnifies relative error.
    audible = expected > expected.max() - 80.0
    assert np.abs(features - expected)[audible].max() < 2e-3


def test_original_lcnn_configuration(speech):
    frontend = LogSpectrogram(n_fft=2048, hop_length=160, window="blackman", pre_emphasis=0.97, max_bins=800)
    assert frontend.n_features == 800
    with torch.no_grad():
        features = frontend(torch.from_numpy(speech)[None])[0, 0].double().numpy()
    emphasised = np.concatenate([speech[:1], speech[1:] - 0.97 * speech[:-1]])
    expected = numpy_power_stft(emphasised, n_fft=2048, win_length=2048, hop=160, window="blackman")[:800]
    expected = 10.0 * np.log10(np.maximum(expected, 1e-10))
    assert features.shape == expected.shape
    audible = expected > expected.max() - 80.0
    assert np.abs(features - expected)[audible].max() < 2e-3


@pytest.mark.parametrize(("scale", "power", "formula"), [
    ("log10", 2.0, lambda s: np.log10(s + 1e-6)),
    ("ln", 2.0, lambda s: np.log(s + 1e-6)),
    ("db", 1.0, lambda s: 20.0 * np.log10(np.maximum(s, 1e-6))),
    ("none", 2.0, lambda s: s),
])
def test_log_scales(scale, power, formula):
    waveform = torch.randn(1, 4000) * 0.1
    stft = PowerSTFT(n_fft=256, hop_length=100, power=power)
    frontend = LogSpectrogram(n_fft=256, hop_length=100, power=power, log_scale=scale, log_eps=1e-6)
    with torch.no_grad():
        features = frontend(waveform)[0, 0].double().numpy()
        spectrum = stft(waveform)[0].double().numpy()
    assert np.allclose(features, formula(spectrum), rtol=1e-5, atol=1e-5)


def test_batched_equals_one_by_one():
    torch.manual_seed(1)
    lengths = torch.tensor([12000, 7001, 500])
    batch = torch.zeros(3, 12000)
    for i, length in enumerate(lengths.tolist()):
        batch[i, :length] = 0.1 * torch.randn(length)
    frontend = LogSpectrogram(pre_emphasis=0.97, window="hamming", win_length=320)
    with torch.no_grad():
        together = frontend(batch, lengths)
        frames = frontend.num_frames(lengths)
        for i, length in enumerate(lengths.tolist()):
            alone = frontend(batch[i : i + 1, :length])
            assert alone.shape == (1, 1, 257, frames[i])
            assert (together[i : i + 1, ..., : frames[i]] - alone).abs().max() < 5e-3


@pytest.mark.parametrize("name", ASVSPOOF_FILES)
def test_asvspoof_files(data_dir, name):
    path = data_dir / "asvspoof" / "audio" / f"{name}.flac"
    if not path.is_file():
        pytest.skip(f"ASVspoof audio not found at {path}")
    signal, _ = soundfile.read(path, dtype="float32")
    with torch.no_grad():
        features = LogSpectrogram()(torch.from_numpy(signal)[None])
    assert features.shape == (1, 1, 257, 1 + len(signal) // 160)
    assert torch.isfinite(features).all()


def test_buffers_move_with_module():
    frontend = LogSpectrogram().to(torch.float64)
    assert frontend.stft.dft_real.dtype == torch.float64
    assert {"stft.window", "stft.dft_real", "stft.dft_imag"} == set(frontend.state_dict())


@pytest.mark.parametrize(("settings", "message"), [
    (dict(window="kaiser"), "window must be one of 'hann', 'hamming', 'blackman', 'rectangular'; got 'kaiser'"),
    (dict(max_bins=300), r"max_bins must be in \[1, n_fft // 2 \+ 1 = 257\]; got 300"),
    (dict(log_scale="log2"), "log_scale must be one of .*got 'log2'"),
    (dict(n_fft=256, win_length=512), r"win_length \(512\) must not exceed n_fft \(256\)"),
    (dict(pad_mode="edge"), "pad_mode must be one of 'constant', 'reflect'; got 'edge'"),
    (dict(power=0.0), "power must be > 0; got 0.0"),
])
def test_invalid_settings_raise(settings, message):
    with pytest.raises(ConfigError, match=message):
        create_frontend("spectrogram", **settings)


def test_hop_longer_than_window_warns():
    with pytest.warns(UserWarning, match=r"hop_length \(400\) exceeds win_length \(320\): 80 samples"):
        LogSpectrogram(win_length=320, hop_length=400)


def test_short_input_errors():
    with pytest.raises(ValueError, match="reflect padding needs more than n_fft // 2 = 256 samples; got 100"):
        LogSpectrogram(pad_mode="reflect")(torch.zeros(1, 100))
    with pytest.raises(ValueError, match="center=False needs at least n_fft = 512 samples"):
        LogSpectrogram(center=False)(torch.zeros(1, 100))
