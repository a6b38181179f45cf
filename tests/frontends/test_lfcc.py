"""Tests of the LFCC front end against the published NII features and a NumPy re-implementation."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.fft
import scipy.signal
import soundfile
import torch

from lcnn.errors import ConfigError, UnknownFrontendError, UnknownModelError
from lcnn.frontends import LFCC, create_frontend, functional, list_frontends

ASVSPOOF_FILES = ("LA_T_1272637", "LA_D_1003356", "LA_E_6163791")
FLOAT32_EPS = float(np.finfo(np.float32).eps)


def numpy_lfcc(signal: np.ndarray, *, n_fft: int, f_max_fraction: float, sample_rate: int = 16000) -> np.ndarray:
    """Compute baseline LFCC step by step in float64 NumPy; returns (frames, 60)."""
    win_length, hop, n_filter = 320, 160, 20
    x = signal.astype(np.float64)
    x = np.concatenate([x[:1], x[1:] - 0.97 * x[:-1]])
    x = np.pad(x, n_fft // 2)

    window = np.zeros(n_fft)
    left = (n_fft - win_length) // 2
    window[left : left + win_length] = scipy.signal.get_window("hamming", win_length, fftbins=True)
    frames = 1 + (len(x) - n_fft) // hop
    framed = np.stack([x[t * hop : t * hop + n_fft] * window for t in range(frames)])
    power = np.abs(np.fft.rfft(framed, axis=1)) ** 2

    kept = int(f_max_fraction * (n_fft // 2 + 1))
    power = power[:, :kept]
    freqs = np.linspace(0.0, f_max_fraction * sample_rate / 2, kept)
    edges = np.linspace(freqs.min(), freqs.max(), n_filter + 2)
    bank = np.zeros((kept, n_filter))
    for i in range(n_filter):
        low, centre, high = edges[i : i + 3]
        rising = (low < freqs) & (freqs < centre)
        falling = (centre < freqs) & (freqs < high)
        bank[rising, i] = (freqs[rising] - low) / (centre - low)
        bank[falling, i] = (high - freqs[falling]) / (high - centre)
        bank[freqs == centre, i] = 1.0

    log_energies = np.log10(power @ bank + FLOAT32_EPS)
    cepstra = scipy.fft.dct(log_energies, type=2, norm="ortho", axis=1)
    cepstra[:, 0] = np.log10(power.sum(axis=1) / n_fft + FLOAT32_EPS)

    padded = np.pad(cepstra, ((1, 1), (0, 0)), mode="edge")
    delta = padded[2:] - padded[:-2]
    padded = np.pad(delta, ((1, 1), (0, 0)), mode="edge")
    delta2 = padded[2:] - padded[:-2]
    return np.concatenate([cepstra, delta, delta2], axis=1)


def lfcc_of(frontend: LFCC, signal: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return frontend(torch.from_numpy(signal)[None])[0, 0].T.numpy()


@pytest.fixture(scope="module")
def published_state(data_dir):
    path = data_dir / "pretrained" / "nii_lfcc_lcnn_lstm_sig_asvspoof2019la.pt"
    if not path.is_file():
        pytest.skip(f"published NII model not found at {path}")
    return torch.load(path, map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def bonafide_audio(data_dir):
    path = data_dir / "asvspoof" / "audio" / "LA_T_1272637.flac"
    if not path.is_file():
        pytest.skip(f"ASVspoof audio not found at {path}")
    signal, rate = soundfile.read(path, dtype="float32")
    assert rate == 16000
    return signal


def test_preset_2019_reproduces_published_features(data_dir, bonafide_audio):
    reference_path = data_dir / "pretrained" / "reference" / "lfcc_LA_T_1272637.npy"
    if not reference_path.is_file():
        pytest.skip(f"reference LFCC not found at {reference_path}")
    reference = np.load(reference_path)
    features = lfcc_of(create_frontend("lfcc", preset="asvspoof2019"), bonafide_audio)
    assert features.shape == reference.shape == (290, 60)
    assert np.abs(features - reference).max() < 1e-4


def test_published_matrices_load_and_reproduce(data_dir, bonafide_audio, published_state):
    reference = np.load(data_dir / "pretrained" / "reference" / "lfcc_LA_T_1272637.npy")
    published_bank = published_state["m_frontend.0.lfcc_fb"]
    published_dct = published_state["m_frontend.0.l_dct.weight"]
    frontend = LFCC.from_preset("asvspoof2019")
    assert frontend.filterbank.shape == published_bank.shape == (257, 20)
    assert frontend.dct.shape == published_dct.shape == (20, 20)
    assert torch.allclose(frontend.filterbank, published_bank, atol=2e-6)
    assert torch.allclose(frontend.dct, published_dct, atol=1e-6)

    state = frontend.state_dict()
    state["filterbank"] = published_bank
    state["dct"] = published_dct
    frontend.load_state_dict(state)
    assert torch.equal(frontend.filterbank, published_bank)
    assert np.abs(lfcc_of(frontend, bonafide_audio) - reference).max() < 1e-4

    passed = LFCC.from_preset("asvspoof2019", filterbank=published_bank, dct=published_dct.numpy())
    assert torch.equal(passed.dct, published_dct)


@pytest.mark.parametrize(("preset", "n_fft", "fraction", "kept_bins"), [
    ("asvspoof2019", 512, 1.0, 257),
    ("asvspoof2021", 1024, 0.5, 256),
])
def test_presets_match_numpy_reference(bonafide_audio, preset, n_fft, fraction, kept_bins):
    frontend = create_frontend("lfcc", preset=preset)
    assert frontend.filterbank.shape == (kept_bins, 20)
    assert frontend.n_features == 60
    expected = numpy_lfcc(bonafide_audio, n_fft=n_fft, f_max_fraction=fraction)
    features = lfcc_of(frontend, bonafide_audio)
    assert features.shape == expected.shape
    assert np.abs(features - expected).max() < 1e-4


def test_preset_overrides_and_static_only(bonafide_audio):
    frontend = create_frontend("lfcc", preset="asvspoof2021", delta_order=0, log_energy=False)
    assert frontend.stft.n_fft == 1024
    assert frontend.n_features == 20
    features = lfcc_of(frontend, bonafide_audio)
    full = lfcc_of(create_frontend("lfcc", preset="asvspoof2021"), bonafide_audio)
    assert np.allclose(features[:, 1:], full[:, 1:20], atol=1e-5)
    assert not np.allclose(features[:, 0], full[:, 0], atol=1e-3)


def test_fft_layout_filters_on_true_bin_frequencies():
    bank, first_bin = functional.linear_filterbank(
        sample_rate=16000, n_fft=1024, n_filter=20, f_min=0.0, f_max=4000.0, layout="fft"
    )
    assert first_bin == 0
    assert bank.shape == (513, 20)
    assert torch.all(bank[257:] == 0)
    # Edge spacing is 4000 / 21 Hz; the first filter peaks at 190.5 Hz, near bin 12 (187.5 Hz).
    assert int(bank[:, 0].argmax()) == 12


def test_dct_matrix_matches_scipy():
    matrix = functional.dct_matrix(13, 20, dtype=torch.float64).numpy()
    expected = scipy.fft.dct(np.eye(20), type=2, norm="ortho", axis=0)[:13]
    assert np.allclose(matrix, expected, atol=1e-12)


def test_deltas_edge_replication_and_lengths():
    features = torch.tensor([[[1.0, 4.0, 9.0, 16.0, 0.0, 0.0]]])
    plain = functional.deltas(features)
    assert plain.tolist() == [[[3.0, 8.0, 12.0, -9.0, -16.0, 0.0]]]
    masked = functional.deltas(features, lengths=torch.tensor([4]))
    assert masked[0, 0, :4].tolist() == [3.0, 8.0, 12.0, 7.0]
    wide = functional.deltas(features[..., :4], width=2, normalize=True)
    padded = np.pad(features[0, 0, :4].numpy(), 2, mode="edge")
    expected = [(padded[t + 3] - padded[t + 1] + 2 * (padded[t + 4] - padded[t])) / 10 for t in range(4)]
    assert np.allclose(wide[0, 0].numpy(), expected)


def test_batched_equals_one_by_one():
    torch.manual_seed(0)
    lengths = torch.tensor([16000, 9123, 4000, 321])
    batch = torch.zeros(4, 16000)
    for i, length in enumerate(lengths.tolist()):
        batch[i, :length] = 0.1 * torch.randn(length)
    frontend = create_frontend("lfcc", preset="asvspoof2019")
    with torch.no_grad():
        together = frontend(batch, lengths)
        frames = frontend.num_frames(lengths)
        for i, length in enumerate(lengths.tolist()):
            alone = frontend(batch[i : i + 1, :length])
            assert alone.shape[-1] == frames[i]
            assert torch.allclose(together[i : i + 1, ..., : frames[i]], alone, atol=1e-4)


@pytest.mark.parametrize("length", [1, 159, 160, 161, 16000, 16001])
def test_num_frames_matches_output(length):
    frontend = LFCC()
    expected = 1 + length // 160
    assert frontend.num_frames(torch.tensor([length])).item() == expected
    with torch.no_grad():
        assert frontend(torch.randn(1, length)).shape == (1, 1, 60, expected)


@pytest.mark.parametrize("name", ASVSPOOF_FILES)
def test_asvspoof_files_give_finite_features(data_dir, name):
    path = data_dir / "asvspoof" / "audio" / f"{name}.flac"
    if not path.is_file():
        pytest.skip(f"ASVspoof audio not found at {path}")
    signal, _ = soundfile.read(path, dtype="float32")
    for preset in ("asvspoof2019", "asvspoof2021"):
        features = lfcc_of(LFCC.from_preset(preset), signal)
        assert features.shape == (1 + len(signal) // 160, 60)
        assert np.isfinite(features).all()


def test_buffers_in_state_dict():
    keys = set(LFCC().state_dict())
    assert {"filterbank", "dct", "stft.window", "stft.dft_real", "stft.dft_imag"} <= keys


def test_registry_lists_frontends():
    assert list_frontends() == ["cqt", "lfcc", "mel", "spectrogram"]


def test_unknown_frontend_lists_names():
    with pytest.raises(UnknownFrontendError, match="unknown front end 'mfcc'.*cqt, lfcc, mel, spectrogram"):
        create_frontend("mfcc")
    assert issubclass(UnknownFrontendError, UnknownModelError)


@pytest.mark.parametrize(("settings", "message"), [
    (dict(preset="asvspoof2020"), "unknown LFCC preset 'asvspoof2020'"),
    (dict(n_lfcc=30), r"n_lfcc \(30\) must not exceed n_filter \(20\)"),
    (dict(win_length=600), r"win_length \(600\) must not exceed n_fft \(512\)"),
    (dict(hop_length=0), "hop_length must be a positive integer; got 0"),
    (dict(delta_order=3), "delta_order must be one of 0, 1, 2; got 3"),
    (dict(pre_emphasis=1.5), r"pre_emphasis must be in \[0, 1\); got 1.5"),
    (dict(f_min=5000.0, f_max=4000.0), r"f_max \(4000.0 Hz\) must be above f_min"),
    (dict(filterbank=torch.zeros(513, 20)), r"filterbank matrix has shape \(513, 20\); these settings need \(257"),
    (dict(dct=torch.zeros(10, 20)), r"dct matrix has shape \(10, 20\)"),
    (dict(n_filt=20), "unknown setting.*n_filt.*valid settings:.*n_filter"),
])
def test_invalid_settings_raise(settings, message):
    with pytest.raises(ConfigError, match=message):
        create_frontend("lfcc", **settings)


def test_f_max_above_nyquist_warns_and_clamps():
    with pytest.warns(UserWarning, match=r"f_max \(12000.0 Hz\) is above the Nyquist frequency \(8000.0 Hz\)"):
        frontend = LFCC(f_max=12000.0)
    assert frontend.f_max == 8000.0


def test_bad_waveforms_raise():
    frontend = LFCC()
    with pytest.raises(ValueError, match=r"shape \(batch, samples\); got shape \(16000,\)"):
        frontend(torch.zeros(16000))
    with pytest.raises(ValueError, match="floating-point waveform.*torch.int16"):
        frontend(torch.zeros(1, 16000, dtype=torch.int16))
