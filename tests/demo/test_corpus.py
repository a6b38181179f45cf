"""Tests of the demo corpus builder and the NSF attack list on the real FSDD recordings."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("pyworld")
pytest.importorskip("pysptk")

from lcnn.demo.corpus import (  # noqa: E402
    DEFAULT_SPEAKERS,
    DEFAULT_VOCODERS,
    _clip_seed,
    build_demo_corpus,
    read_corpus_info,
)
from lcnn.demo.nsf import add_nsf_attack  # noqa: E402
from lcnn.errors import ConfigError, DataError  # noqa: E402
from lcnn.fileio import OutputExistsError  # noqa: E402

LIMIT = 2
SPLITS = ("train", "dev", "eval")
# Expected trials per split: speakers x LIMIT clips x (1 bona fide + one spoof per vocoder).
EXPECTED_LINES = {"train": 3 * LIMIT * 4, "dev": 1 * LIMIT * 4, "eval": 2 * LIMIT * 5}
SMALL_SPLITS = {"train": ["george"], "dev": ["nicolas"], "eval": ["theo"]}


def existing(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} not found")
    return path


def read_protocol(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def fsdd_dir(data_dir: Path) -> Path:
    return existing(data_dir / "speech" / "fsdd" / "recordings")


@pytest.fixture(scope="module")
def corpus(fsdd_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    out_dir = tmp_path_factory.mktemp("demo") / "corpus"
    return build_demo_corpus(fsdd_dir, out_dir, limit_per_speaker=LIMIT, workers=2)


def test_protocol_line_counts(corpus) -> None:
    for split in SPLITS:
        lines = read_protocol(getattr(corpus, f"{split}_protocol"))
        assert len(lines) == EXPECTED_LINES[split], split
        assert corpus.counts[split]["bonafide"] + corpus.counts[split]["spoof"] == EXPECTED_LINES[split]


def test_protocol_fields(corpus) -> None:
    ids = []
    for split in SPLITS:
        for speaker, utterance_id, environment, attack, key in read_protocol(getattr(corpus, f"{split}_protocol")):
            ids.append(utterance_id)
            assert environment == "-"
            if key == "bonafide":
                assert attack == "-"
                assert utterance_id.startswith("fsdd_")
            else:
                assert key == "spoof"
                assert utterance_id.startswith(f"{attack}_")
            assert utterance_id.split("_")[2] == speaker
    assert len(ids) == len(set(ids))


def test_splits_are_speaker_disjoint(corpus) -> None:
    speakers = {split: {line[0] for line in read_protocol(getattr(corpus, f"{split}_protocol"))} for split in SPLITS}
    assert speakers == {split: set(DEFAULT_SPEAKERS[split]) for split in SPLITS}
    assert not speakers["train"] & speakers["dev"]
    assert not speakers["train"] & speakers["eval"]
    assert not speakers["dev"] & speakers["eval"]


def test_unseen_attack_only_in_eval(corpus) -> None:
    attacks = {
        split: {line[3] for line in read_protocol(getattr(corpus, f"{split}_protocol")) if line[4] == "spoof"}
        for split in SPLITS
    }
    assert attacks["train"] == attacks["dev"] == {"V1", "V2", "V3"}
    assert attacks["eval"] == {"V1", "V2", "V3", "V4"}
    assert corpus.attacks == {"V1": "world", "V2": "griffin_lim", "V3": "lpc", "V4": "mlsa"}
    meta = json.loads((corpus.root / "corpus.json").read_text())
    assert {attack for attack, entry in meta["attacks"].items() if not entry["seen_in_train"]} == {"V4"}
    assert "| V4 | mlsa | no (unseen attack) |" in (corpus.root / "README.md").read_text()


def test_audio_files_at_recorded_rate(corpus, fsdd_dir: Path) -> None:
    meta = json.loads((corpus.root / "corpus.json").read_text())
    assert meta["sample_rate"] == corpus.sample_rate == 8000
    for split in SPLITS:
        for _, utterance_id, _, _, _ in read_protocol(getattr(corpus, f"{split}_protocol")):
            info = sf.info(corpus.audio_dir / f"{utterance_id}.wav")
            assert info.samplerate == meta["sample_rate"]
            assert info.channels == 1
            assert info.subtype == "PCM_16"
            # Every spoof keeps the length of its source clip.
            stem = utterance_id.split("_", 1)[1]
            assert info.frames == sf.info(fsdd_dir / f"{stem}.wav").frames


def test_bonafide_copies_source_exactly(corpus, fsdd_dir: Path) -> None:
    copy, _ = sf.read(corpus.audio_dir / "fsdd_0_theo_0.wav", dtype="int16")
    source, _ = sf.read(fsdd_dir / "0_theo_0.wav", dtype="int16")
    np.testing.assert_array_equal(copy, source)


def test_spoofs_differ_and_stay_in_range(corpus) -> None:
    bonafide, _ = sf.read(corpus.audio_dir / "fsdd_1_yweweler_0.wav")
    for attack in ("V1", "V2", "V3", "V4"):
        spoof, _ = sf.read(corpus.audio_dir / f"{attack}_1_yweweler_0.wav")
        assert np.all(np.isfinite(spoof))
        assert np.max(np.abs(spoof)) == pytest.approx(np.max(np.abs(bonafide)), abs=2 / 32768)
        assert not np.allclose(spoof, bonafide, atol=0.01)


def test_cache_reused_with_same_parameters(corpus, fsdd_dir: Path) -> None:
    stamp = (corpus.root / "corpus.json").stat().st_mtime_ns
    again = build_demo_corpus(fsdd_dir, corpus.root, limit_per_speaker=LIMIT, workers=1)
    assert again.reused
    assert (corpus.root / "corpus.json").stat().st_mtime_ns == stamp
    assert again.counts == corpus.counts


def test_cache_with_missing_audio_raises(corpus, fsdd_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "corpus"
    shutil.copytree(corpus.root, copy)
    (copy / "audio" / "V2_0_george_0.wav").unlink()
    with pytest.raises(DataError, match=r"1 audio file\(s\) of .*train.txt are missing .*V2_0_george_0.*force=True"):
        build_demo_corpus(fsdd_dir, copy, limit_per_speaker=LIMIT)


def test_other_parameters_need_force(corpus, fsdd_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "corpus"
    shutil.copytree(corpus.root, copy)
    with pytest.raises(OutputExistsError, match="built with other limit_per_speaker, source_files, source_bytes"):
        build_demo_corpus(fsdd_dir, copy, limit_per_speaker=1, workers=1)
    assert json.loads((copy / "corpus.json").read_text())["parameters"]["limit_per_speaker"] == LIMIT

    rebuilt = build_demo_corpus(fsdd_dir, copy, limit_per_speaker=1, workers=1, force=True)
    assert not rebuilt.reused
    assert rebuilt.counts["eval"]["bonafide"] == 2
    assert len(list((copy / "audio").iterdir())) == 3 * 4 + 1 * 4 + 2 * 5
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".")]
    # Built in one process, the files equal those the two-worker build wrote for the same clips.
    for name in ("V1_0_george_0.wav", "V3_0_nicolas_0.wav", "V4_0_yweweler_0.wav"):
        assert (copy / "audio" / name).read_bytes() == (corpus.audio_dir / name).read_bytes()


def test_spoof_seed_independent_of_process() -> None:
    # A literal value: Python's hash() of a string would change from one interpreter run to the next.
    assert _clip_seed(0, "V3_0_nicolas_0") == (0, 280464620)
    assert _clip_seed(5, "V3_0_nicolas_0") == (5, 280464620)


def test_existing_folder_without_corpus_rejected(fsdd_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a corpus")
    with pytest.raises(OutputExistsError, match="already exists"):
        build_demo_corpus(fsdd_dir, tmp_path, limit_per_speaker=1)
    assert (tmp_path / "notes.txt").read_text() == "not a corpus"


def test_16khz_corpus(fsdd_dir: Path, tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="sample_rate 16000 Hz exceeds the source rate 8000 Hz"):
        info = build_demo_corpus(
            fsdd_dir, tmp_path / "corpus", sample_rate=16000, speakers=SMALL_SPLITS, limit_per_speaker=1, workers=1
        )
    assert info.sample_rate == 16000
    for path in info.audio_dir.iterdir():
        assert sf.info(path).samplerate == 16000
    assert sf.info(info.audio_dir / "V4_0_theo_0.wav").frames == 2 * sf.info(fsdd_dir / "0_theo_0.wav").frames


def test_invalid_settings_rejected(fsdd_dir: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "corpus"
    overlapping = {"train": ["george"], "dev": ["george"], "eval": ["theo"]}
    with pytest.raises(ConfigError, match="speaker 'george' is in both 'train' and 'dev'"):
        build_demo_corpus(fsdd_dir, out_dir, speakers=overlapping)
    with pytest.raises(ConfigError, match=r"speakers must map exactly the splits \['train', 'dev', 'eval'\]"):
        build_demo_corpus(fsdd_dir, out_dir, speakers={"train": ["george"]})
    unknown_vocoder = dict(DEFAULT_VOCODERS, eval=["world", "wavenet"])
    with pytest.raises(ConfigError, match=r"unknown vocoder\(s\) \['wavenet'\] in vocoders\['eval'\]; known"):
        build_demo_corpus(fsdd_dir, out_dir, vocoders=unknown_vocoder)
    with pytest.raises(ConfigError, match="workers must be an integer >= 1, got 0"):
        build_demo_corpus(fsdd_dir, out_dir, workers=0)
    with pytest.raises(ConfigError, match="seed must be a non-negative integer, got -1"):
        build_demo_corpus(fsdd_dir, out_dir, seed=-1)
    with pytest.raises(ConfigError, match="limit_per_speaker must be None or an integer >= 1, got 0"):
        build_demo_corpus(fsdd_dir, out_dir, limit_per_speaker=0)
    with pytest.raises(ConfigError, match="sample_rate must be None or an integer >= 8000 Hz, got 4000"):
        build_demo_corpus(fsdd_dir, out_dir, sample_rate=4000)
    assert not out_dir.exists()


def test_missing_sources_rejected(fsdd_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="FSDD folder .*nowhere not found"):
        build_demo_corpus(tmp_path / "nowhere", tmp_path / "corpus")
    unknown_speaker = {"train": ["george"], "dev": ["nicolas"], "eval": ["alice"]}
    with pytest.raises(DataError, match=r"speaker\(s\) \['alice'\] have no .* speakers found: \['george', "):
        build_demo_corpus(fsdd_dir, tmp_path / "corpus", speakers=unknown_speaker)


def test_no_unseen_attack_warns(corpus, fsdd_dir: Path) -> None:
    same_everywhere = {split: ["world"] for split in SPLITS}
    with pytest.warns(UserWarning, match="eval has no unseen attack"):
        # The existing corpus has other parameters, so the build stops before synthesis.
        with pytest.raises(OutputExistsError, match="built with other vocoders; pass --force"):
            build_demo_corpus(fsdd_dir, corpus.root, vocoders=same_everywhere, limit_per_speaker=LIMIT)


def test_add_nsf_attack(corpus, fsdd_dir: Path, data_dir: Path, tmp_path: Path) -> None:
    nsf_dir = existing(data_dir / "speech" / "nsf_vocoded")
    real_files = sorted(existing(data_dir / "speech" / "nii_wave_replacement_example").glob("real_*.flac"))
    copy = tmp_path / "corpus"
    shutil.copytree(corpus.root, copy)

    info = add_nsf_attack(copy, nsf_dir, real_files=real_files)
    lines = read_protocol(info.eval_nsf_protocol)
    spoofs = [line for line in lines if line[4] == "spoof"]
    bonafide = [line for line in lines if line[4] == "bonafide"]
    assert len(spoofs) == 48
    assert {line[3] for line in spoofs} == {"NSF"}
    assert {line[0] for line in spoofs} == {"bdl", "clb", "rms", "slt"}
    assert len(bonafide) == EXPECTED_LINES["eval"] // 5 + len(real_files)
    assert ["unknown", "real_11463_11657_000002", "-", "-", "bonafide"] in bonafide
    assert info.counts["eval_nsf"] == {"bonafide": len(bonafide), "spoof": 48, "NSF": 48}

    for _, utterance_id, _, _, _ in lines:
        assert sf.info(info.audio_dir / f"{utterance_id}.wav").samplerate == corpus.sample_rate
    resampled = sf.info(info.audio_dir / "NSF_hn-nsf__bdl_arctic_b0474.wav")
    source = sf.info(nsf_dir / "hn-nsf__bdl_arctic_b0474.wav")
    assert resampled.frames == source.frames // 2
    assert "NSF" in read_corpus_info(copy).attacks
    assert "protocols/eval_nsf.txt mixes corpora" in (copy / "README.md").read_text()

    with pytest.raises(OutputExistsError, match="eval_nsf.txt already exists"):
        add_nsf_attack(copy, nsf_dir)
    cached = build_demo_corpus(fsdd_dir, copy, limit_per_speaker=LIMIT)
    assert cached.reused
    assert cached.eval_nsf_protocol == info.eval_nsf_protocol


def test_add_nsf_attack_bad_inputs(corpus, data_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="corpus.json not found; build the corpus first"):
        add_nsf_attack(tmp_path, tmp_path)
    with pytest.raises(DataError, match="NSF folder .*missing not found"):
        add_nsf_attack(corpus.root, tmp_path / "missing")
    with pytest.raises(DataError, match="no <variant>__<speaker>_arctic_<sentence>.wav file found"):
        add_nsf_attack(corpus.root, tmp_path)
    nsf_dir = existing(data_dir / "speech" / "nsf_vocoded")
    with pytest.raises(DataError, match="whitespace cannot be a protocol utterance id"):
        add_nsf_attack(corpus.root, nsf_dir, real_files=[tmp_path / "my take.wav"])
    assert not (corpus.root / "protocols" / "eval_nsf.txt").exists()
