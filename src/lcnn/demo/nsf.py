"""Add neural source-filter (NSF) vocoder spoofs to a demo corpus as an extra eval-only attack.

The NSF files are CMU ARCTIC sentences re-synthesised by four variants of the neural source-filter
model of X. Wang et al. (IEEE/ACM TASLP 2020), named ``<variant>__<speaker>_arctic_<sentence>.wav``.
They become attack ``NSF`` in ``protocols/eval_nsf.txt``, next to the bona fide trials of the eval
split and any extra real recordings passed in.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from lcnn.demo.corpus import CorpusInfo, read_corpus_info
from lcnn.demo.metadata import render_readme
from lcnn.errors import AudioError, DataError
from lcnn.fileio import atomic_write, check_writable

__all__ = ["NSF_ATTACK", "add_nsf_attack"]

logger = logging.getLogger(__name__)

NSF_ATTACK = "NSF"
_NSF_NAME = re.compile(r"^(?P<variant>[\w-]+?)__(?P<speaker>[a-z]+)_arctic_(?P<sentence>\w+)$")

_DOMAIN_NOTE = (
    "protocols/eval_nsf.txt mixes corpora: NSF spoofs are read English sentences (CMU ARCTIC, 16 kHz "
    "studio audio) while most bona fide trials are FSDD digits. A detector can separate them by "
    "content, duration and channel as well as by vocoder artefacts, so the EER on this list does not "
    "measure vocoder detection alone."
)


def add_nsf_attack(
    corpus_dir: str | os.PathLike,
    nsf_dir: str | os.PathLike,
    *,
    real_files: list[str | os.PathLike] | tuple[str | os.PathLike, ...] = (),
    force: bool = False,
) -> CorpusInfo:
    """Write ``protocols/eval_nsf.txt`` with the NSF spoofs and bona fide counterparts.

    Every NSF file and every file of ``real_files`` is resampled with soxr to the corpus rate
    and written as ``audio/<UTT_ID>.wav``. Utterance ids are ``NSF_<file stem>`` for spoofs and
    ``real_<file stem>`` (without a doubled ``real_``) for ``real_files``. The protocol also lists
    every bona fide trial of ``protocols/eval.txt``. ``corpus.json`` and ``README.md`` gain the
    new protocol and attack.

    Args:
        corpus_dir: a corpus built by :func:`lcnn.demo.corpus.build_demo_corpus`.
        nsf_dir: folder of ``<variant>__<speaker>_arctic_<sentence>.wav`` files.
        real_files: extra bona fide recordings (any rate soundfile reads), speaker ``unknown``.
        force: replace an existing ``protocols/eval_nsf.txt`` and its audio files.

    Returns:
        The corpus information, with ``eval_nsf_protocol`` set.

    Raises:
        DataError: the corpus or ``nsf_dir`` is missing, ``nsf_dir`` has no matching WAV file, or a
            name in ``real_files`` contains whitespace.
        AudioError: an input file cannot be read or is empty.
        lcnn.fileio.OutputExistsError: ``eval_nsf.txt`` exists and ``force`` is false.
    """
    info = read_corpus_info(corpus_dir)
    protocol_path = info.root / "protocols" / "eval_nsf.txt"
    check_writable(protocol_path, force=force)
    nsf_dir = Path(nsf_dir)
    if not nsf_dir.is_dir():
        raise DataError(f"NSF folder {nsf_dir} not found")
    nsf_files = sorted(path for path in nsf_dir.glob("*.wav") if _NSF_NAME.match(path.stem))
    if not nsf_files:
        raise DataError(f"no <variant>__<speaker>_arctic_<sentence>.wav file found in {nsf_dir}")

    lines = [line for line in _read_lines(info.eval_protocol) if line[4] == "bonafide"]
    for path in real_files:
        path = Path(path)
        if any(character.isspace() for character in path.stem):
            raise DataError(f"{path}: a file name with whitespace cannot be a protocol utterance id; rename the file")
        stem = path.stem if path.stem.startswith("real_") else f"real_{path.stem}"
        _write_resampled(path, info.audio_dir / f"{stem}.wav", info.sample_rate)
        lines.append(("unknown", stem, "-", "-", "bonafide"))
    for path in nsf_files:
        utterance_id = f"{NSF_ATTACK}_{path.stem}"
        _write_resampled(path, info.audio_dir / f"{utterance_id}.wav", info.sample_rate)
        lines.append((_NSF_NAME.match(path.stem)["speaker"], utterance_id, "-", NSF_ATTACK, "spoof"))

    with atomic_write(protocol_path, force=force) as handle:
        handle.writelines(f"{' '.join(line)}\n" for line in lines)
    _update_metadata(info.root, lines, nsf_dir, [str(Path(path).resolve()) for path in real_files])
    logger.info(
        "added %d NSF spoofs and %d extra bona fide files to %s", len(nsf_files), len(real_files), protocol_path
    )
    return read_corpus_info(info.root)


def _read_lines(protocol: Path) -> list[tuple[str, ...]]:
    lines = []
    for number, text in enumerate(protocol.read_text().splitlines(), start=1):
        fields = tuple(text.split())
        if not fields:
            continue
        if len(fields) != 5:
            raise DataError(f"{protocol}:{number}: expected 5 fields SPEAKER UTT_ID - ATTACK KEY, got {text!r}")
        lines.append(fields)
    return lines


def _write_resampled(source: Path, target: Path, sample_rate: int) -> None:
    """Write ``source`` as 16-bit mono WAV at ``sample_rate``, replacing ``target`` atomically."""
    try:
        waveform, source_rate = sf.read(str(source), dtype="float64", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as error:
        raise AudioError(f"cannot read {source}: {error}") from error
    if waveform.size == 0:
        raise AudioError(f"{source} contains no samples")
    waveform = waveform.mean(axis=1)
    if source_rate != sample_rate:
        logger.debug("resampling %s from %d Hz to %d Hz", source, source_rate, sample_rate)
        waveform = soxr.resample(waveform, source_rate, sample_rate)
    with atomic_write(target, "wb", force=True) as handle:
        sf.write(handle, np.clip(waveform, -1.0, 1.0), sample_rate, format="WAV", subtype="PCM_16")


def _update_metadata(root: Path, lines: list[tuple[str, ...]], nsf_dir: Path, real_files: list[str]) -> None:
    meta = json.loads((root / "corpus.json").read_text())
    speakers = sorted({line[0] for line in lines})
    meta["protocols"]["eval_nsf"] = {
        "protocol": "protocols/eval_nsf.txt",
        "speakers": speakers,
        "attacks": [NSF_ATTACK],
        "counts": {
            "bonafide": sum(line[4] == "bonafide" for line in lines),
            "spoof": sum(line[4] == "spoof" for line in lines),
            NSF_ATTACK: sum(line[3] == NSF_ATTACK for line in lines),
        },
        "seconds": round(sum(sf.info(str(root / "audio" / f"{line[1]}.wav")).duration for line in lines), 1),
        "sources": {"nsf": str(nsf_dir.resolve()), "real_files": real_files},
        "note": _DOMAIN_NOTE,
    }
    meta["attacks"][NSF_ATTACK] = {"vocoder": "nsf", "seen_in_train": False}
    with atomic_write(root / "corpus.json", force=True) as handle:
        handle.write(json.dumps(meta, indent=2) + "\n")
    with atomic_write(root / "README.md", force=True) as handle:
        handle.write(render_readme(meta))
