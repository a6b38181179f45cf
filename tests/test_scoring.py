"""Tests of lcnn.scoring: score-file layouts, padded batches against one-by-one scoring, streaming.

The models are randomly initialised: the tests check the scoring machinery, not detection quality.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch

from lcnn.checkpoint import save_checkpoint
from lcnn.countermeasure import build_countermeasure
from lcnn.data.protocols import Trial
from lcnn.errors import ConfigError, DataError
from lcnn.fileio import OutputExistsError
from lcnn.scoring import format_score_line, score_trials

RATE = 16000
LSTM_SPEC = {
    "frontend": {"name": "lfcc", "preset": "asvspoof2021"},
    "backbone": {"name": "lcnn_lstm"},
    "head": {"name": "sigmoid"},
}
LCNN9_SPEC = {
    "frontend": {"name": "lfcc", "preset": "asvspoof2019"},
    "backbone": {"name": "lcnn9_cm"},
    "head": {"name": "softmax"},
}


def build_model(spec: dict, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_countermeasure(spec).eval()


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[Trial]:
    """Nine noise clips of 0.2 to 1.4 s with labels 1, 0 and unknown in turn."""
    folder = tmp_path_factory.mktemp("clips")
    rng = np.random.default_rng(0)
    trials = []
    labels = (1, 0, None)
    for i, seconds in enumerate((0.9, 0.2, 1.4, 0.45, 1.1, 0.3, 0.7, 1.25, 0.6)):
        samples = int(seconds * RATE)
        tone = np.sin(2 * np.pi * (200 + 50 * i) * np.arange(samples) / RATE)
        signal = 0.3 * tone + 0.05 * rng.standard_normal(samples)
        path = folder / f"utt{i}.flac"
        soundfile.write(path, (signal * 32767).astype(np.int16), RATE, subtype="PCM_16")
        label = labels[i % 3]
        attack = f"A{10 + i}" if label == 0 else "-"
        trials.append(Trial(trial_id=f"utt{i}", label=label, attack=attack, path=str(path)))
    return trials


def read_scores(path: Path) -> dict[str, float]:
    return {line.split()[0]: float(line.split()[-1]) for line in path.read_text().splitlines()}


# --- score lines ----------------------------------------------------------------------------------


def test_format_2019_and_2021_lines():
    bonafide = Trial("LA_T_1", 1, attack="-")
    spoof = Trial("LA_E_2", 0, attack="A07")
    unknown = Trial("x", None, attack="A07")
    assert format_score_line(bonafide, 1.25, "2019") == "LA_T_1 - bonafide 1.250000"
    assert format_score_line(spoof, -3.5, "2019") == "LA_E_2 A07 spoof -3.500000"
    assert format_score_line(unknown, 0.0, "2019") == "x - - 0.000000"
    assert format_score_line(spoof, -3.5, "2021") == "LA_E_2 -3.500000"


@pytest.mark.parametrize("score_format, columns", [("2019", 4), ("2021", 2)])
def test_score_file_lines_valid(tmp_path, clips, score_format, columns):
    out = tmp_path / "scores.txt"
    summary = score_trials(build_model(LSTM_SPEC), clips, out, score_format=score_format, workers=0)
    lines = out.read_text().splitlines()
    assert summary.scored == len(clips) == len(lines)
    assert [line.split()[0] for line in lines] == [trial.trial_id for trial in clips]
    for line, trial in zip(lines, clips):
        fields = line.split(" ")
        assert len(fields) == columns
        assert np.isfinite(float(fields[-1]))
        if score_format == "2019":
            key = {1: "bonafide", 0: "spoof", None: "-"}[trial.label]
            assert fields[1:3] == [trial.attack if trial.label is not None else "-", key]
    expected_seconds = sum(soundfile.info(trial.path).duration for trial in clips)
    assert summary.audio_seconds == pytest.approx(expected_seconds)


# --- padded batches -------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", [LSTM_SPEC, LCNN9_SPEC], ids=["lcnn_lstm", "lcnn9_cm"])
def test_padded_batches_match_one_by_one(tmp_path, clips, spec):
    model = build_model(spec, seed=1)
    one_by_one = tmp_path / "single.txt"
    batched = tmp_path / "batched.txt"
    score_trials(model, clips, one_by_one, batch_size=1, workers=0)
    score_trials(model, clips, batched, batch_size=5, workers=0)
    single, padded = read_scores(one_by_one), read_scores(batched)
    assert single.keys() == padded.keys()
    for trial_id, score in single.items():
        assert padded[trial_id] == pytest.approx(score, abs=1e-5), trial_id
    # The scores must differ between clips, or the comparison proves nothing.
    assert len({round(score, 4) for score in single.values()}) > 3


def test_scores_equal_direct_model_call(tmp_path, clips):
    model = build_model(LSTM_SPEC, seed=2)
    out = tmp_path / "scores.txt"
    score_trials(model, clips[:3], out, workers=0)
    scores = read_scores(out)
    for trial in clips[:3]:
        data, _ = soundfile.read(trial.path, dtype="float32")
        with torch.no_grad():
            direct = float(model(torch.from_numpy(data)[None]))
        assert scores[trial.trial_id] == pytest.approx(direct, abs=1e-5)


def test_workers_and_windows_keep_order(tmp_path, clips):
    model = build_model(LSTM_SPEC, seed=3)
    reference = tmp_path / "reference.txt"
    windowed = tmp_path / "windowed.txt"
    score_trials(model, clips, reference, batch_size=1, workers=0)
    score_trials(model, clips, windowed, batch_size=2, max_batch_seconds=2.0, workers=2, window_size=4)
    assert [line.split()[0] for line in windowed.read_text().splitlines()] == [t.trial_id for t in clips]
    single, batched = read_scores(reference), read_scores(windowed)
    for trial_id, score in single.items():
        assert batched[trial_id] == pytest.approx(score, abs=1e-5), trial_id


def test_checkpoint_path_scores_like_module(tmp_path, clips):
    model = build_model(LCNN9_SPEC, seed=4)
    checkpoint = save_checkpoint(tmp_path / "model.pt", model, None)
    from_module, from_file = tmp_path / "module.txt", tmp_path / "file.txt"
    score_trials(model, clips[:4], from_module, workers=0)
    score_trials(checkpoint, clips[:4], from_file, workers=0)
    assert from_module.read_text() == from_file.read_text()


def test_fixed_length_scoring(tmp_path, clips):
    model = build_model(LSTM_SPEC, seed=5)
    out = tmp_path / "scores.txt"
    with pytest.warns(UserWarning, match="utt1 has 3200 samples .* much shorter than the crop"):
        score_trials(model, clips[:3], out, crop_samples=RATE, workers=0)
    data, _ = soundfile.read(clips[0].path, dtype="float32")
    tiled = np.tile(data, 2)[:RATE]
    with torch.no_grad():
        direct = float(model(torch.from_numpy(tiled)[None]))
    assert read_scores(out)["utt0"] == pytest.approx(direct, abs=1e-5)


# --- streaming and output safety ------------------------------------------------------------------


def test_lines_written_as_batches_complete(tmp_path, clips):
    out = tmp_path / "scores.txt"
    sizes = []

    def progress(done: int, total: int) -> None:
        temp_files = list(tmp_path.glob(".scores.txt.*.tmp"))
        assert len(temp_files) == 1
        assert not out.exists()
        sizes.append((done, len(temp_files[0].read_text().splitlines())))

    # Windows of two trials restore input order after every batch of two.
    score_trials(build_model(LSTM_SPEC), clips, out, batch_size=2, workers=0, progress=progress, window_size=2)
    assert sizes == [(2, 2), (4, 4), (6, 6), (8, 8), (9, 9)]
    assert not list(tmp_path.glob(".scores.txt.*.tmp"))


def test_stream_output(clips):
    stream = io.StringIO()
    score_trials(build_model(LSTM_SPEC), clips[:2], stream, score_format="2021", workers=0)
    assert [line.split()[0] for line in stream.getvalue().splitlines()] == ["utt0", "utt1"]


def test_existing_output_needs_force(tmp_path, clips):
    out = tmp_path / "scores.txt"
    out.write_text("keep me\n")
    model = build_model(LSTM_SPEC)
    with pytest.raises(OutputExistsError, match="scores.txt already exists; pass --force"):
        score_trials(model, clips[:2], out, workers=0)
    assert out.read_text() == "keep me\n"
    score_trials(model, clips[:2], out, workers=0, force=True)
    assert len(out.read_text().splitlines()) == 2


def test_failed_run_leaves_no_partial_file(tmp_path, clips):
    class NanAfterFirst(torch.nn.Module):
        sample_rate = RATE
        calls = 0

        def forward(self, waveform, lengths):
            NanAfterFirst.calls += 1
            scores = waveform.mean(dim=1)
            return scores if NanAfterFirst.calls == 1 else scores * float("nan")

    out = tmp_path / "scores.txt"
    with pytest.raises(DataError, match="non-finite scores for 2 trials"):
        score_trials(NanAfterFirst(), clips[:4], out, batch_size=2, workers=0)
    assert not out.exists()
    assert not list(tmp_path.glob(".scores.txt.*"))


# --- bad inputs -----------------------------------------------------------------------------------


def test_bad_audio_reported_or_skipped(tmp_path, clips):
    silent = tmp_path / "silent.wav"
    soundfile.write(silent, np.zeros(RATE, dtype=np.int16), RATE)
    trials = [
        clips[0],
        Trial("gone", 1, path=str(tmp_path / "gone.flac")),
        Trial("silent", 0, path=str(silent)),
        clips[1],
    ]
    model = build_model(LSTM_SPEC)
    with pytest.raises(DataError, match=r"1 of 4 audio files are unusable:\n  gone .*file not found"):
        score_trials(model, trials, tmp_path / "a.txt", workers=0)

    with pytest.raises(DataError, match=r"^\S+silent.wav: all 16000 samples are zero .* --skip-bad FILE\)\.$"):
        score_trials(model, [clips[0], trials[2]], tmp_path / "a.txt", workers=1)
    assert not (tmp_path / "a.txt").exists()

    out, skipped = tmp_path / "b.txt", tmp_path / "skipped.tsv"
    with pytest.warns(UserWarning, match="skipping 1 of 4"):
        summary = score_trials(model, trials, out, workers=0, skip_bad=True, skipped_path=skipped)
    assert [line.split()[0] for line in out.read_text().splitlines()] == ["utt0", "utt1"]
    assert summary.scored == 2
    rows = skipped.read_text().splitlines()
    assert [row.split("\t")[0] for row in rows] == ["trial_id", "gone", "silent"]
    assert "all 16000 samples are zero" in rows[2]


def test_too_short_for_model_is_reported(tmp_path):
    path = tmp_path / "blip.flac"
    soundfile.write(path, (np.ones(1000) * 1000).astype(np.int16), RATE)
    with pytest.raises(DataError, match=r"blip .*too short: 1000 samples at 16000 Hz, at least 2400 needed"):
        score_trials(build_model(LSTM_SPEC), [Trial("blip", None, path=str(path))], tmp_path / "s.txt", workers=0)


def test_short_clip_scored_with_crop(tmp_path):
    path = tmp_path / "blip.flac"
    soundfile.write(path, (np.sin(np.arange(1000)) * 1000).astype(np.int16), RATE)
    trials = [Trial("blip", None, path=str(path))]
    model = build_model(LSTM_SPEC)
    with pytest.warns(UserWarning, match="blip has 1000 samples"):
        score_trials(model, trials, tmp_path / "s.txt", crop_samples=4000, workers=0)
    assert len((tmp_path / "s.txt").read_text().splitlines()) == 1
    with pytest.raises(ConfigError, match="crop_samples=2000 is shorter than the 2400 samples the model needs"):
        score_trials(model, trials, tmp_path / "t.txt", crop_samples=2000, workers=0)


def test_repeated_ids_rejected(tmp_path, clips):
    with pytest.raises(DataError, match="1 trial ids occur more than once.*utt0"):
        score_trials(build_model(LSTM_SPEC), [clips[0], clips[0]], tmp_path / "s.txt", workers=0)


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"score_format": "2020"}, "score_format must be one of 2019, 2021; got '2020'"),
        ({"batch_size": 0}, "batch_size must be a positive integer, got 0"),
        ({"batch_size": None}, "set batch_size, max_batch_seconds or both"),
        ({"max_batch_seconds": -1.0}, "max_batch_seconds must be positive, got -1.0"),
        ({"workers": -1}, "workers must be 0 or more, got -1"),
    ],
)
def test_invalid_settings(tmp_path, clips, settings, message):
    with pytest.raises(ConfigError, match=message):
        score_trials(build_model(LSTM_SPEC), clips[:1], tmp_path / "s.txt", **settings)


def test_onnx_export_scores_like_checkpoint(tmp_path, clips):
    export = pytest.importorskip("lcnn.export", reason="lcnn.export is not available")
    model = build_model(LSTM_SPEC, seed=6)
    onnx_path = tmp_path / "model.onnx"
    export.export_onnx(model, onnx_path)
    torch_out, onnx_out = tmp_path / "torch.txt", tmp_path / "onnx.txt"
    score_trials(model, clips, torch_out, batch_size=4, workers=0)
    score_trials(onnx_path, clips, onnx_out, batch_size=4, workers=0)
    expected, found = read_scores(torch_out), read_scores(onnx_out)
    for trial_id, score in expected.items():
        assert found[trial_id] == pytest.approx(score, abs=1e-4), trial_id
