"""The ``lcnn demo`` job: build the FSDD spoofing corpus, train a countermeasure, report EER per attack."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from lcnn.config import Config, apply_overrides, config_from_dict
from lcnn.errors import DataError
from lcnn.fileio import atomic_write, check_writable

__all__ = ["DemoResult", "demo_config", "run_demo", "fsdd_folder"]

logger = logging.getLogger(__name__)


@dataclass
class DemoResult:
    """Output folders of a demo run and the metrics it measured."""

    corpus_dir: Path
    run_dir: Path
    attacks: dict[str, str]
    reports: dict[str, Any]


def fsdd_folder(data_dir: str | os.PathLike | None) -> Path:
    """Return the FSDD recordings folder under ``data_dir`` or ``$LCNN_DATA_DIR``.

    Raises:
        DataError: neither is set, or the folder is missing.
    """
    root = data_dir or os.environ.get("LCNN_DATA_DIR")
    if not root:
        raise DataError(
            "no data folder: pass --data-dir or set LCNN_DATA_DIR to the folder that contains "
            "speech/fsdd/recordings (the Free Spoken Digit Dataset WAV files)."
        )
    folder = Path(root) / "speech" / "fsdd" / "recordings"
    if not folder.is_dir():
        raise DataError(
            f"FSDD recordings not found at {folder}; put the Free Spoken Digit Dataset's recordings/*.wav "
            f"there, or point --data-dir at the folder that contains speech/fsdd/recordings."
        )
    return folder


def demo_config(overrides: list[str] | None = None) -> Config:
    """Return the shipped demo configuration with ``key=value`` overrides applied."""
    text = resources.files("lcnn.demo").joinpath("demo.yaml").read_text(encoding="utf-8")
    return config_from_dict(apply_overrides(yaml.safe_load(text), overrides or []))


def _score_and_report(run_dir: Path, protocol: Path, audio_dir: Path, name: str, crop_samples: int | None) -> dict[str, Any]:
    """Score one protocol with the best checkpoint and evaluate it; write the score file and report."""
    from lcnn.checkpoint import load_countermeasure
    from lcnn.data.protocols import read_protocol, resolve_audio_paths
    from lcnn.evaluation.report import evaluate_scores
    from lcnn.scoring import score_trials

    model, _ = load_countermeasure(run_dir / "checkpoints" / "best.ckpt")
    trials = resolve_audio_paths(read_protocol(protocol), audio_dir)
    score_path = run_dir / f"scores_{name}.txt"
    score_trials(
        model, trials, score_path, score_format="2019", batch_size=32, workers=0, crop_samples=crop_samples, force=True
    )
    scores = {}
    with score_path.open(encoding="utf-8") as handle:
        for line in handle:
            fields = line.split()
            scores[fields[0]] = float(fields[-1])
    result = evaluate_scores(scores, trials)
    return result.to_dict()


def run_demo(
    out: str | os.PathLike,
    *,
    data_dir: str | os.PathLike | None = None,
    epochs: int | None = None,
    limit_per_speaker: int | None = None,
    overrides: list[str] | None = None,
    workers: int = 2,
    force: bool = False,
) -> DemoResult:
    """Build the corpus in ``out/corpus``, train in ``out/run`` and evaluate dev, eval and NSF trials.

    The corpus is reused when it exists with the same parameters; the run folder is replaced only with
    ``force``.
    """
    from lcnn.demo.corpus import build_demo_corpus
    from lcnn.demo.nsf import add_nsf_attack
    from lcnn.training.run import train

    out = Path(out)
    extra = list(overrides or [])
    if epochs is not None:
        extra.append(f"train.max_epochs={epochs}")
    # Checked before the corpus is built, so that a typo in --set fails in seconds.
    config = demo_config(extra)
    check_writable(out / "run", force=force)
    corpus = build_demo_corpus(
        fsdd_folder(data_dir), out / "corpus", limit_per_speaker=limit_per_speaker, workers=workers, force=False
    )
    speech_dir = fsdd_folder(data_dir).parent.parent
    nsf_protocol = corpus.eval_nsf_protocol
    if nsf_protocol is None:
        try:
            corpus = add_nsf_attack(
                corpus.root,
                speech_dir / "nsf_vocoded",
                real_files=sorted((speech_dir / "nii_wave_replacement_example").glob("real_*.flac")),
            )
            nsf_protocol = corpus.eval_nsf_protocol
        except DataError as error:
            logger.warning("neural-vocoder trials not added: %s", error)

    config.audio.train_protocol = str(corpus.train_protocol)
    config.audio.dev_protocol = str(corpus.dev_protocol)
    config.audio.eval_protocol = str(corpus.eval_protocol)
    config.audio.audio_dir = str(corpus.audio_dir)
    config.audio.sample_rate = corpus.sample_rate
    config.frontend.kwargs["sample_rate"] = corpus.sample_rate

    run_dir = out / "run"
    train(config, run_dir, force=force)

    crop = None
    if config.audio.eval_crop_seconds is not None:
        crop = int(round(config.audio.eval_crop_seconds * config.audio.sample_rate))
    reports = {}
    for name, protocol in (("dev", corpus.dev_protocol), ("eval", corpus.eval_protocol), ("eval_nsf", nsf_protocol)):
        if protocol is not None:
            reports[name] = _score_and_report(run_dir, Path(protocol), corpus.audio_dir, name, crop)
    with atomic_write(run_dir / "demo_report.json", force=True) as handle:
        json.dump({"attacks": corpus.attacks, "reports": reports}, handle, indent=2)
    return DemoResult(corpus_dir=corpus.root, run_dir=run_dir, attacks=dict(corpus.attacks), reports=reports)
