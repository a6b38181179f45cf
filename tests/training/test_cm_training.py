"""A tiny countermeasure training run on the demo corpus, then scoring and evaluation through the CLI."""

import json
import math

import pytest
import torch
import yaml

from lcnn.checkpoint import load_countermeasure
from lcnn.cli.main import main
from lcnn.config import load_config
from lcnn.countermeasure import build_countermeasure
from lcnn.demo.corpus import build_demo_corpus
from lcnn.training.cm_module import spec_from_config

SHIPPED = ["asvspoof2019_la_lfcc_lcnn_lstm", "asvspoof2019_la_lfcc_lcnn9", "asvspoof2019_pa_stft_lcnn9"]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_countermeasure_configs_build(name):
    config = load_config(f"configs/{name}.yaml")
    model = build_countermeasure(spec_from_config(config)).eval()
    with torch.no_grad():
        scores = model(torch.randn(2, 16000))
    assert scores.shape == (2,)
    assert torch.isfinite(scores).all()


def test_lcnn_lstm_baseline_recipe():
    config = load_config("configs/asvspoof2019_la_lfcc_lcnn_lstm.yaml")
    assert config.frontend.kwargs == {"preset": "asvspoof2021"}
    assert (config.optim.lr, config.optim.step_size, config.optim.gamma) == (3e-4, 5, 0.5)
    assert config.audio.batch_size == 64
    assert config.audio.crop_seconds is None


@pytest.fixture(scope="module")
def tiny_corpus(data_dir, tmp_path_factory):
    fsdd = data_dir / "speech" / "fsdd" / "recordings"
    if not fsdd.is_dir():
        pytest.skip(f"FSDD recordings not found in {fsdd}")
    return build_demo_corpus(fsdd, tmp_path_factory.mktemp("corpus") / "fsdd_spoof", limit_per_speaker=6, workers=2)


def write_config(tmp_path, corpus, **audio):
    values = yaml.safe_load(open("src/lcnn/demo/demo.yaml"))
    values["audio"].update(
        train_protocol=str(corpus.train_protocol),
        dev_protocol=str(corpus.dev_protocol),
        eval_protocol=str(corpus.eval_protocol),
        audio_dir=str(corpus.audio_dir),
    )
    values["audio"].update(audio)
    values["train"]["max_epochs"] = 1
    path = tmp_path / "cm.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def test_train_score_evaluate_end_to_end(tiny_corpus, data_dir, tmp_path, capsys):
    config = write_config(tmp_path, tiny_corpus)
    run = tmp_path / "run"
    assert main(["train", str(config), "--out", str(run)]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0.0 <= metrics["test_eer"] <= 1.0
    assert 0.0 <= metrics["best_dev_eer"] <= 1.0
    saved = torch.load(run / "checkpoints" / "best.ckpt", map_location="cpu", weights_only=False)
    assert saved["lcnn"]["kind"] == "countermeasure"
    assert saved["lcnn"]["config"]["audio"]["sample_rate"] == 8000

    # The checkpoint alone is enough to score: the three real ASVspoof 2019 LA files (16 kHz, resampled).
    audio = sorted((data_dir / "asvspoof" / "audio").glob("*.flac"))
    assert len(audio) == 3
    scores = tmp_path / "scores.txt"
    assert main(["score", str(run / "checkpoints" / "best.ckpt"), *map(str, audio), "--out", str(scores)]) == 0
    lines = scores.read_text().splitlines()
    assert sorted(line.split()[0] for line in lines) == sorted(path.stem for path in audio)
    for line in lines:
        fields = line.split()
        assert len(fields) == 4
        assert math.isfinite(float(fields[3]))

    # Scores of the dev protocol, evaluated with the official metrics.
    dev_scores = tmp_path / "dev_scores.txt"
    assert main([
        "score", str(run / "checkpoints" / "best.ckpt"),
        "--protocol", str(tiny_corpus.dev_protocol), "--audio-dir", str(tiny_corpus.audio_dir),
        "--out", str(dev_scores),
    ]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(dev_scores), "--protocol", str(tiny_corpus.dev_protocol), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["per_attack"]) == {"V1", "V2", "V3"}
    assert 0.0 <= report["eer"] <= 1.0

    assert main(["test", str(run / "checkpoints" / "best.ckpt")]) == 0
    tested = json.loads(capsys.readouterr().out)
    assert tested["test_eer"] == pytest.approx(metrics["test_eer"], abs=1e-6)

    model, meta = load_countermeasure(run / "checkpoints" / "best.ckpt")
    assert model.sample_rate == 8000
    assert meta["spec"]["backbone"]["name"] == yaml.safe_load(open("src/lcnn/demo/demo.yaml"))["model"]["name"]


def test_bad_audio_reported_together(tiny_corpus, tmp_path, capsys):
    corpus_audio = tmp_path / "audio"
    corpus_audio.mkdir()
    for source in sorted(tiny_corpus.audio_dir.glob("*.wav")):
        (corpus_audio / source.name).write_bytes(source.read_bytes())
    broken = sorted(corpus_audio.glob("fsdd_*_george_*.wav"))[:2]
    broken[0].write_bytes(b"not audio at all")
    broken[1].write_bytes(b"")
    config = write_config(tmp_path, tiny_corpus, audio_dir=str(corpus_audio))
    assert main(["train", str(config), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "2 of" in err
    assert broken[0].stem in err
    assert broken[1].stem in err


def test_skip_bad_writes_skipped_list(tiny_corpus, tmp_path):
    corpus_audio = tmp_path / "audio"
    corpus_audio.mkdir()
    for source in sorted(tiny_corpus.audio_dir.glob("*.wav")):
        (corpus_audio / source.name).write_bytes(source.read_bytes())
    broken = sorted(corpus_audio.glob("fsdd_*_george_*.wav"))[0]
    broken.write_bytes(b"RIFF broken")
    config = write_config(tmp_path, tiny_corpus, audio_dir=str(corpus_audio), skip_bad=True)
    run = tmp_path / "run"
    with pytest.warns(UserWarning, match="skipping 1 of"):
        assert main(["train", str(config), "--out", str(run)]) == 0
    skipped = (run / "skipped_train.tsv").read_text().splitlines()
    assert skipped[0] == "trial_id\tpath\treason"
    assert skipped[1].startswith(broken.stem + "\t")


def make_la_layout(data_dir, root):
    """Lay out a miniature ASVspoof 2019 LA release from the three real files, under new ids."""
    sources = {
        "bonafide": data_dir / "asvspoof" / "audio" / "LA_T_1272637.flac",
        "spoof": data_dir / "asvspoof" / "audio" / "LA_D_1003356.flac",
        "spoof2": data_dir / "asvspoof" / "audio" / "LA_E_6163791.flac",
    }
    protocols = root / "ASVspoof2019_LA_cm_protocols"
    protocols.mkdir(parents=True)
    for split, prefix, name in (("train", "T", "trn"), ("dev", "D", "trl"), ("eval", "E", "trl")):
        flac = root / f"ASVspoof2019_LA_{split}" / "flac"
        flac.mkdir(parents=True)
        lines = []
        for index in range(4):
            trial = f"LA_{prefix}_{9000000 + index}"
            if index % 2 == 0:
                key, source, attack = "bonafide", sources["bonafide"], "-"
            else:
                key = "spoof"
                source = sources["spoof"] if index == 1 else sources["spoof2"]
                # The eval split gets an attack that training never saw, as in the real release.
                attack = "A17" if split == "eval" else "A01"
            (flac / f"{trial}.flac").write_bytes(source.read_bytes())
            lines.append(f"LA_0079 {trial} - {attack} {key}")
        (protocols / f"ASVspoof2019.LA.cm.{split}.{name}.txt").write_text("\n".join(lines) + "\n")


def test_shipped_la_config_on_release_layout(data_dir, tmp_path):
    if not (data_dir / "asvspoof" / "audio" / "LA_T_1272637.flac").is_file():
        pytest.skip(f"the ASVspoof audio files are not in {data_dir / 'asvspoof' / 'audio'}")
    root = tmp_path / "LA"
    make_la_layout(data_dir, root)
    run = tmp_path / "run"
    status = main([
        "train", "configs/asvspoof2019_la_lfcc_lcnn_lstm.yaml", "--out", str(run),
        "--set", f"audio.root={root}", "--set", "audio.batch_size=2", "--set", "audio.num_workers=0",
        "--epochs", "1",
    ])
    assert status == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert 0.0 <= metrics["test_eer"] <= 1.0
    assert (run / "checkpoints" / "best.ckpt").is_file()
