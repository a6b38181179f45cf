"""Tests of audio reading: scaling, downmix, resampling and every rejected file."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest
import soundfile
import torch

from lcnn import audio
from lcnn.audio import check_audio_files, load_audio
from lcnn.errors import AudioError, DataError


@pytest.fixture(autouse=True)
def fresh_reports(monkeypatch):
    """Clear the record of reported rates and channel counts, so each test gets its own messages."""
    monkeypatch.setattr(audio, "_reported_resampling", set())
    monkeypatch.setattr(audio, "_reported_downmix", set())


def sine(frequency: float, sample_rate: int, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    return amplitude * np.sin(2 * np.pi * frequency * np.arange(int(seconds * sample_rate)) / sample_rate)


def test_int16_scaled_by_32768(tmp_path):
    values = np.array([0, 1, -1, 16384, 32767, -32768] * 100, dtype=np.int16)
    path = tmp_path / "pcm16.wav"
    soundfile.write(path, values, 16000, subtype="PCM_16")
    waveform = load_audio(path)
    assert waveform.dtype == torch.float32
    assert waveform.shape == (600,)
    assert torch.equal(waveform, torch.from_numpy(values.astype(np.float32) / 32768))


def test_flac_int24_scaled(tmp_path):
    values = np.array([0, 1, -1, 2**22, 2**23 - 1, -(2**23)] * 100, dtype=np.int32)
    path = tmp_path / "pcm24.flac"
    soundfile.write(path, values * 256, 16000, subtype="PCM_24", format="FLAC")
    waveform = load_audio(path)
    assert torch.allclose(waveform.double(), torch.from_numpy(values / 2.0**23), atol=1e-9)


def test_stereo_downmixed_with_one_warning(tmp_path):
    left = sine(300, 16000, 0.5)
    right = sine(500, 16000, 0.5, amplitude=0.25)
    paths = [tmp_path / "stereo_a.wav", tmp_path / "stereo_b.wav"]
    for path in paths:
        soundfile.write(path, np.stack([left, right], axis=1), 16000, subtype="FLOAT")
    with pytest.warns(UserWarning, match=r"stereo_a.wav: 2 channels averaged to mono"):
        waveform = load_audio(paths[0])
    assert torch.allclose(waveform.double(), torch.from_numpy((left + right) / 2), atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_audio(paths[1])


def test_resampled_with_log_line(tmp_path, caplog):
    path = tmp_path / "narrowband.wav"
    soundfile.write(path, sine(440, 8000, 1.0), 8000, subtype="PCM_16")
    with caplog.at_level(logging.INFO, logger="lcnn.audio"):
        waveform = load_audio(path, sample_rate=16000)
    assert "resampling" in caplog.text
    assert "from 8000 Hz to 16000 Hz" in caplog.text
    assert waveform.shape == (16000,)
    expected = sine(440, 16000, 1.0)
    # Skip the edges, where the resampling filter runs into the start and end of the signal.
    assert np.abs(waveform.numpy()[500:-500] - expected[500:-500]).max() < 2e-3


def test_resampling_refused_when_disabled(tmp_path):
    path = tmp_path / "narrowband.wav"
    soundfile.write(path, sine(440, 8000, 0.5), 8000)
    with pytest.raises(AudioError, match=r"narrowband.wav: sample rate is 8000 Hz, expected 16000 Hz.*sox"):
        load_audio(path, allow_resample=False)


def test_float_wav_with_nan_rejected(tmp_path):
    data = sine(200, 16000, 0.5).astype(np.float32)
    data[100] = np.nan
    data[200] = np.inf
    path = tmp_path / "nan.wav"
    soundfile.write(path, data, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"nan.wav: 2 samples are NaN or Inf"):
        load_audio(path)


def test_float_wav_above_one_warns(tmp_path):
    path = tmp_path / "loud.wav"
    soundfile.write(path, sine(200, 16000, 0.5, amplitude=2.0), 16000, subtype="FLOAT")
    with pytest.warns(UserWarning, match=r"loud.wav: floating-point samples reach 2"):
        waveform = load_audio(path)
    assert waveform.abs().max() > 1.9


def test_empty_file_rejected(tmp_path):
    path = tmp_path / "empty.wav"
    soundfile.write(path, np.zeros(0, dtype=np.int16), 16000)
    with pytest.raises(AudioError, match=r"empty.wav: the file contains no samples"):
        load_audio(path)


def test_all_zero_rejected(tmp_path):
    path = tmp_path / "silence.flac"
    soundfile.write(path, np.zeros(16000, dtype=np.int16), 16000, format="FLAC")
    with pytest.raises(AudioError, match=r"silence.flac: all 16000 samples are zero"):
        load_audio(path)


def test_garbage_bytes_rejected(tmp_path):
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(AudioError, match=r"garbage.wav: cannot read audio"):
        load_audio(garbage)


def test_truncated_flac_rejected(tmp_path, data_dir):
    source = data_dir / "asvspoof" / "audio" / "LA_T_1272637.flac"
    if not source.is_file():
        pytest.skip(f"ASVspoof audio not found at {source}")
    truncated = tmp_path / "truncated.flac"
    truncated.write_bytes(source.read_bytes()[:20000])
    with pytest.raises(AudioError, match=r"truncated.flac: cannot read audio.*complete FLAC or WAV"):
        load_audio(truncated)


def test_missing_file_rejected(tmp_path):
    with pytest.raises(AudioError, match=r"absent.flac: audio file not found"):
        load_audio(tmp_path / "absent.flac")
    assert issubclass(AudioError, DataError)


def test_shorter_than_one_frame_rejected(tmp_path):
    path = tmp_path / "short.wav"
    soundfile.write(path, sine(200, 16000, 0.01), 16000)
    message = r"short.wav: 160 samples at 16000 Hz \(10.0 ms\), shorter than the minimum of 320"
    with pytest.raises(AudioError, match=message):
        load_audio(path)
    assert load_audio(path, min_samples=160).shape == (160,)


def test_check_audio_files_reports_every_bad_file(tmp_path):
    good = tmp_path / "good.wav"
    soundfile.write(good, sine(200, 16000, 0.5), 16000)
    silent = tmp_path / "silent.wav"
    soundfile.write(silent, np.zeros(8000), 16000)
    garbage = tmp_path / "garbage.flac"
    garbage.write_bytes(b"not audio at all" * 10)
    missing = tmp_path / "missing.wav"
    problems = check_audio_files([good, silent, garbage, missing], sample_rate=16000)
    assert [path for path, _ in problems] == [str(silent), str(garbage), str(missing)]
    assert "all 8000 samples are zero" in problems[0][1]
    assert "cannot read audio" in problems[1][1]
    assert "not found" in problems[2][1]
    short = check_audio_files([good], sample_rate=16000, min_samples=9000)
    reason = f"{good}: 8000 samples at 16000 Hz (500.0 ms), shorter than the minimum of 9000 samples."
    assert short == [(str(good), reason)]


def test_asvspoof_flac_read_unchanged(data_dir):
    path = data_dir / "asvspoof" / "audio" / "LA_T_1272637.flac"
    if not path.is_file():
        pytest.skip(f"ASVspoof audio not found at {path}")
    integers, rate = soundfile.read(path, dtype="int16")
    assert rate == 16000
    waveform = load_audio(path)
    assert torch.equal(waveform, torch.from_numpy(integers.astype(np.float32) / 32768))


def test_fsdd_recordings_resampled_to_16k(data_dir, caplog):
    folder = data_dir / "speech" / "fsdd" / "recordings"
    paths = sorted(folder.glob("*_george_1.wav"))[:3]
    if not paths:
        pytest.skip(f"FSDD recordings not found in {folder}")
    with caplog.at_level(logging.DEBUG, logger="lcnn.audio"):
        for path in paths:
            original, rate = soundfile.read(path, dtype="float32")
            assert rate == 8000
            waveform = load_audio(path, sample_rate=16000).numpy()
            assert abs(len(waveform) - 2 * len(original)) <= 1
            # Upsampling by two keeps the original samples at even positions (up to the filter's ripple).
            correlation = np.corrcoef(waveform[0 : 2 * len(original) : 2], original[: len(waveform[::2])])[0, 1]
            assert correlation > 0.99
    info_lines = [record for record in caplog.records if record.levelno == logging.INFO]
    assert len(info_lines) == 1
    assert "further 8000 Hz files are logged at DEBUG level" in info_lines[0].getMessage()
