"""Tests of the log mel spectrogram front end against librosa."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import soundfile
import torch

from lcnn.errors import ConfigError
from lcnn.frontends import LogMelSpectrogram, create_frontend, functional

ASVSPOOF_FILES = ("LA_T_1272637", "LA_D_1003356", "LA_E_6163791")


@pytest.fixture(scope="module")
def speech(data_dir) -> np.ndarray:
    path = data_dir / "asvspoof" / "audio" / "LA_E_6163791.flac"
    if not path.is_file():
        pytest.skip(f"ASVspoof audio not found at {path}")
    signal, _ = soundfile.read(path, dtype="float32")
    return signal[:24000]


@pytest.mark.parametrize("mel_scale", ["htk", "slaney"])
def test_mel_scale_matches_librosa(mel_scale):
    frequencies = np.array([0.0, 200.0, 999.0, 1000.0, 1001.0, 4000.0, 8000.0])
    mels = functional.hz_to_mel(torch.from_numpy(frequencies), mel_scale=mel_scale).numpy()
    assert np.allclose(mels, librosa.hz_to_mel(frequencies, htk=mel_scale == "htk"), rtol=1e-12, atol=1e-10)
    back = functional.mel_to_hz(torch.from_numpy(mels), mel_scale=mel_scale).numpy()
    assert np.allclose(back, frequencies, atol=1e-8)


@pytest.mark.parametrize(("mel_scale", "norm", "n_fft", "n_mels", "f_min", "f_max"), [
    ("slaney", "slaney", 512, 64, 0.0, None),
    ("htk", None, 1024, 80, 20.0, 7600.0),
    ("slaney", None, 400, 40, 100.0, 4000.0),
])
def test_filterbank_matches_librosa(mel_scale, norm, n_fft, n_mels, f_min, f_max):
    bank = functional.mel_filterbank(
        sample_rate=16000, n_fft=n_fft, n_mels=n_mels, f_min=f_min, f_max=f_max, mel_scale=mel_scale, norm=norm,
        dtype=torch.float64,
    ).numpy()
    expected = librosa.filters.mel(
        sr=16000, n_fft=n_fft, n_mels=n_mels, fmin=f_min, fmax=f_max, htk=mel_scale == "htk", norm=norm,
        dtype=np.float64,
    )
    assert bank.shape == (n_fft // 2 + 1, n_mels)
    assert np.allclose(bank.T, expected, rtol=1e-9, atol=1e-12)


def test_log_mel_matches_librosa(speech):
    frontend = create_frontend("mel", n_mels=64, mel_scale="slaney", norm="slaney", win_length=400)
    with torch.no_grad():
        features = frontend(torch.from_numpy(speech)[None])[0, 0].double().numpy()
    mel = librosa.feature.melspectrogram(
        y=speech.astype(np.float64), sr=16000, n_fft=512, win_length=400, hop_length=160, n_mels=64,
        center=True, pad_mode="constant", power=2.0,
    )
    expected = librosa.power_to_db(mel, amin=1e-10, top_db=None)
    assert features.shape == expected.shape == (64, 1 + len(speech) // 160)
    assert np.abs(features - expected).max() < 2e-3


def test_log10_magnitude_mel(speech):
    frontend = LogMelSpectrogram(n_mels=40, power=1.0, log_scale="log10", log_eps=1e-6)
    with torch.no_grad():
        features = frontend(torch.from_numpy(speech)[None])[0, 0].double().numpy()
    magnitude = np.abs(librosa.stft(speech.astype(np.float64), n_fft=512, hop_length=160, center=True,
                                    pad_mode="constant"))
    bank = librosa.filters.mel(sr=16000, n_fft=512, n_mels=40, htk=True, norm=None)
    expected = np.log10(bank @ magnitude + 1e-6)
    assert np.abs(features - expected).max() < 1e-4


def test_batched_equals_one_by_one():
    torch.manual_seed(2)
    lengths = torch.tensor([9000, 4321, 161])
    batch = torch.zeros(3, 9000)
    for i, length in enumerate(lengths.tolist()):
        batch[i, :length] = 0.1 * torch.randn(length)
    frontend = LogMelSpectrogram(pre_emphasis=0.97)
    with torch.no_grad():
        together = frontend(batch, lengths)
        frames = frontend.num_frames(lengths)
        for i, length in enumerate(lengths.tolist()):
            alone = frontend(batch[i : i + 1, :length])
            assert alone.shape == (1, 1, 80, frames[i])
            assert (together[i : i + 1, ..., : frames[i]] - alone).abs().max() < 5e-3


@pytest.mark.parametrize("name", ASVSPOOF_FILES)
def test_asvspoof_files(data_dir, name):
    path = data_dir / "asvspoof" / "audio" / f"{name}.flac"
    if not path.is_file():
        pytest.skip(f"ASVspoof audio not found at {path}")
    signal, _ = soundfile.read(path, dtype="float32")
    with torch.no_grad():
        features = LogMelSpectrogram()(torch.from_numpy(signal)[None])
    assert features.shape == (1, 1, 80, 1 + len(signal) // 160)
    assert torch.isfinite(features).all()


def test_empty_filters_warn():
    with pytest.warns(UserWarning, match=r"of 128 mel filters cover no FFT bin"):
        LogMelSpectrogram(n_fft=128, hop_length=64, n_mels=128)


def test_f_max_above_nyquist_warns():
    with pytest.warns(UserWarning) as records:
        frontend = LogMelSpectrogram(f_max=10000.0, n_mels=40)
    messages = [str(record.message) for record in records]
    assert any("f_max (10000.0 Hz) is above the Nyquist frequency (8000.0 Hz)" in m for m in messages)
    assert any("2 of 40 mel filters cover no FFT bin (indices [38, 39])" in m for m in messages)
    assert all(record.filename == __file__ for record in records)
    assert frontend.f_max == 10000.0


@pytest.mark.parametrize(("settings", "message"), [
    (dict(n_mels=0), "n_mels must be a positive integer; got 0"),
    (dict(mel_scale="bark"), "mel_scale must be one of 'htk', 'slaney'; got 'bark'"),
    (dict(norm="l2"), "norm must be one of None, 'slaney'; got 'l2'"),
    (dict(f_min=-5.0), "f_min must be >= 0 Hz; got -5.0"),
    (dict(log_eps=0.0), "log_eps must be > 0; got 0.0"),
])
def test_invalid_settings_raise(settings, message):
    with pytest.raises(ConfigError, match=message):
        create_frontend("mel", **settings)
