"""Build a small spoofing corpus from the Free Spoken Digit Dataset and classic vocoders.

Bona fide trials are the FSDD recordings (3,000 clips of spoken digits, six speakers, 8 kHz, CC BY-SA
4.0). Spoofed trials are the same clips re-synthesised by the vocoders of
:mod:`lcnn.demo.vocoders`, as ASVspoof 2019 LA builds copy-synthesis spoofs. The splits are
speaker-disjoint, and by default the eval split adds a vocoder that train and dev never use.

Layout of the output folder::

    corpus.json                  # parameters, splits, attacks, counts, sample rate, source
    README.md                    # the same facts for people
    protocols/{train,dev,eval}.txt  # ASVspoof 2019 format: SPEAKER UTT_ID - ATTACK KEY
    audio/<UTT_ID>.wav           # 16-bit PCM, mono, at the corpus sample rate

Utterance ids are ``fsdd_<digit>_<speaker>_<index>`` for bona fide clips and
``<attack>_<digit>_<speaker>_<index>`` for their spoofs.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import time
import warnings
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

from lcnn.demo.metadata import ATTACK_IDS, build_metadata, render_readme
from lcnn.demo.synthesis import ClipTask, run_tasks
from lcnn.demo.vocoders import VOCODERS
from lcnn.errors import ConfigError, DataError
from lcnn.fileio import OutputExistsError, check_writable, default_folder_mode

__all__ = [
    "ATTACK_IDS",
    "DEFAULT_SPEAKERS",
    "DEFAULT_VOCODERS",
    "FSDD_SPEAKERS",
    "SPLITS",
    "CorpusInfo",
    "build_demo_corpus",
    "read_corpus_info",
]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
SPLITS = ("train", "dev", "eval")
FSDD_SPEAKERS = ("george", "jackson", "lucas", "nicolas", "theo", "yweweler")

# Accents per the FSDD metadata: george Greek, jackson and theo USA, lucas and yweweler German,
# nicolas Belgian French. Train covers three of the four accents. Dev holds out the fourth, so
# checkpoints are selected on an unfamiliar voice. Eval uses two new speakers with accents that train
# covers, so eval errors come from new speakers and the unseen vocoder rather than a new accent alone.
DEFAULT_SPEAKERS: dict[str, tuple[str, ...]] = {
    "train": ("george", "jackson", "lucas"),
    "dev": ("nicolas",),
    "eval": ("theo", "yweweler"),
}
# MLSA appears only in eval: an unseen attack, as ASVspoof 2019 LA keeps most eval attacks out of training.
DEFAULT_VOCODERS: dict[str, tuple[str, ...]] = {
    "train": ("world", "griffin_lim", "lpc"),
    "dev": ("world", "griffin_lim", "lpc"),
    "eval": ("world", "griffin_lim", "lpc", "mlsa"),
}

_FSDD_NAME = re.compile(r"^(\d)_([a-z]+)_(\d+)$")


@dataclass(frozen=True)
class CorpusInfo:
    """Paths and counts of a demo corpus.

    Attributes:
        root: corpus folder.
        audio_dir: folder of the ``<UTT_ID>.wav`` files.
        train_protocol, dev_protocol, eval_protocol: ASVspoof 2019 style protocol files.
        eval_nsf_protocol: eval protocol of the NSF neural-vocoder attack, or None when it was not
            added (see :func:`lcnn.demo.nsf.add_nsf_attack`).
        sample_rate: sampling rate of every audio file in Hz.
        counts: per protocol name (``train``, ``dev``, ``eval``, ``eval_nsf``), the numbers of
            ``bonafide`` and ``spoof`` trials and of trials per attack id.
        attacks: attack id to vocoder name, for example ``{"V1": "world"}``.
        reused: True when an existing corpus with identical parameters was returned unchanged.
    """

    root: Path
    audio_dir: Path
    train_protocol: Path
    dev_protocol: Path
    eval_protocol: Path
    eval_nsf_protocol: Path | None
    sample_rate: int
    counts: dict[str, dict[str, int]]
    attacks: dict[str, str]
    reused: bool = False


def read_corpus_info(root: str | os.PathLike, *, reused: bool = False) -> CorpusInfo:
    """Read ``corpus.json`` of a built corpus.

    Raises:
        DataError: ``corpus.json`` is missing or malformed.
    """
    root = Path(root)
    meta = _read_metadata(root)
    if meta is None:
        raise DataError(f"{root / 'corpus.json'} not found; build the corpus first with build_demo_corpus")
    try:
        protocols = {name: root / entry["protocol"] for name, entry in meta["protocols"].items()}
        counts = {name: dict(entry["counts"]) for name, entry in meta["protocols"].items()}
        return CorpusInfo(
            root=root,
            audio_dir=root / "audio",
            train_protocol=protocols["train"],
            dev_protocol=protocols["dev"],
            eval_protocol=protocols["eval"],
            eval_nsf_protocol=protocols.get("eval_nsf"),
            sample_rate=int(meta["sample_rate"]),
            counts=counts,
            attacks={attack: entry["vocoder"] for attack, entry in meta["attacks"].items()},
            reused=reused,
        )
    except (KeyError, TypeError, ValueError) as error:
        raise DataError(
            f"{root / 'corpus.json'} is malformed ({error!r}); rebuild the corpus with force=True"
        ) from error


def build_demo_corpus(
    fsdd_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    sample_rate: int | None = None,
    speakers: Mapping[str, Sequence[str]] = DEFAULT_SPEAKERS,
    vocoders: Mapping[str, Sequence[str]] = DEFAULT_VOCODERS,
    seed: int = 0,
    limit_per_speaker: int | None = None,
    workers: int = 2,
    force: bool = False,
) -> CorpusInfo:
    """Build the demo corpus, or return the existing one when it was built with the same parameters.

    The corpus is written into a temporary folder beside ``out_dir`` and renamed to ``out_dir``
    only when complete. A build killed by a signal leaves that hidden ``.<name>.*.partial``
    folder behind, and it is safe to delete. The output depends only on the parameters and the source files, not on
    ``workers``: every spoof draws its random numbers from ``seed`` and its utterance id. With
    ``workers`` > 1 the processes start with ``spawn``, so a script that calls this function must
    keep its top-level code under ``if __name__ == "__main__":``.

    Args:
        fsdd_dir: the FSDD ``recordings`` folder with ``{digit}_{speaker}_{index}.wav`` files.
        out_dir: corpus folder to create.
        sample_rate: sampling rate of the corpus in Hz; None keeps the source rate (8 kHz for
            FSDD). Other rates resample the source with soxr before vocoding.
        speakers: FSDD speakers of each split ``train``, ``dev``, ``eval``, pairwise disjoint.
        vocoders: vocoder names of each split, from :data:`lcnn.demo.vocoders.VOCODERS`.
        seed: seed of the random numbers the vocoders draw.
        limit_per_speaker: use only the first N clips of each speaker, ordered by take index and
            then digit, so that N = 10 covers every digit once; None uses all 500.
        workers: processes that run the vocoders, int >= 1; 1 runs them in this process.
        force: replace an existing ``out_dir``, even one built with the same parameters.

    Returns:
        The corpus paths and counts; ``reused`` is True when an existing corpus was returned.

    Raises:
        ConfigError: invalid splits, vocoder names, sample rate, seed, limit or worker count.
        DataError: ``fsdd_dir`` is missing or lacks a requested speaker. Also raised when its files
            have mixed sample rates and ``sample_rate`` is None, or when a cached corpus lacks audio files.
        lcnn.fileio.OutputExistsError: ``out_dir`` exists, is not a corpus with the same
            parameters, and ``force`` is false.
    """
    fsdd_dir, out_dir = Path(fsdd_dir), Path(out_dir)
    speakers = _check_splits(speakers, "speakers")
    vocoders = _check_splits(vocoders, "vocoders")
    _check_settings(speakers, vocoders, sample_rate, seed, limit_per_speaker, workers)
    clips = _list_clips(fsdd_dir, speakers, limit_per_speaker)
    source_rate, target_rate = _resolve_rates(clips, sample_rate)

    parameters = {
        "format_version": FORMAT_VERSION,
        "speakers": speakers,
        "vocoders": vocoders,
        "sample_rate": target_rate,
        "seed": seed,
        "limit_per_speaker": limit_per_speaker,
        "source_files": sum(len(items) for items in clips.values()),
        "source_bytes": sum(path.stat().st_size for items in clips.values() for *_, path in items),
    }
    existing = _read_metadata(out_dir) if out_dir.is_dir() else None
    if existing is not None and not force:
        previous = existing.get("parameters") or {}
        changed = [key for key in parameters if previous.get(key) != parameters[key]]
        if not changed:
            info = read_corpus_info(out_dir, reused=True)
            _check_complete(info)
            logger.info("reusing demo corpus %s, built with the same parameters", out_dir)
            return info
        raise OutputExistsError(
            f"{out_dir} contains a demo corpus built with other {', '.join(changed)}; "
            "pass --force (force=True) to rebuild it or choose another folder"
        )
    check_writable(out_dir, force=force)

    tasks, protocols = _plan(clips, speakers, vocoders, target_rate, seed)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".partial", dir=out_dir.parent))
    # mkdtemp creates an owner-only folder; the finished corpus gets the mode of a plain mkdir.
    staging.chmod(default_folder_mode())
    try:
        started = time.perf_counter()
        (staging / "audio").mkdir()
        (staging / "protocols").mkdir()
        n_files = sum(1 + len(task.spoofs) for task in tasks)
        logger.info("writing %d audio files for %s with %d worker(s)", n_files, out_dir, workers)
        lengths = run_tasks(tasks, staging / "audio", workers=workers)
        seconds = time.perf_counter() - started

        meta = build_metadata(parameters, fsdd_dir, source_rate, protocols, lengths, seconds, workers)
        for split, lines in protocols.items():
            (staging / "protocols" / f"{split}.txt").write_text("".join(f"{' '.join(line)}\n" for line in lines))
        (staging / "corpus.json").write_text(json.dumps(meta, indent=2) + "\n")
        (staging / "README.md").write_text(render_readme(meta))
        _replace_folder(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    logger.info("built demo corpus %s: %d audio files in %.1f s", out_dir, len(lengths), seconds)
    return read_corpus_info(out_dir)


def _check_splits(mapping: Mapping[str, Sequence[str]], name: str) -> dict[str, list[str]]:
    if not isinstance(mapping, Mapping) or set(mapping) != set(SPLITS):
        found = sorted(mapping) if isinstance(mapping, Mapping) else type(mapping).__name__
        raise ConfigError(f"{name} must map exactly the splits {list(SPLITS)} to lists of names, got {found}")
    result = {}
    for split in SPLITS:
        values = mapping[split]
        if isinstance(values, str) or not values:
            raise ConfigError(f"{name}[{split!r}] must be a non-empty list of names, got {values!r}")
        result[split] = [str(value) for value in values]
    return result


def _check_settings(
    speakers: dict[str, list[str]],
    vocoders: dict[str, list[str]],
    sample_rate: int | None,
    seed: int,
    limit_per_speaker: int | None,
    workers: int,
) -> None:
    seen: dict[str, str] = {}
    for split in SPLITS:
        for speaker in speakers[split]:
            if speaker in seen:
                raise ConfigError(
                    f"speaker {speaker!r} is in both {seen[speaker]!r} and {split!r}; "
                    "the splits must be speaker-disjoint"
                )
            seen[speaker] = split
        unknown = [name for name in vocoders[split] if name not in VOCODERS]
        if unknown:
            raise ConfigError(f"unknown vocoder(s) {unknown} in vocoders[{split!r}]; known vocoders: {list(VOCODERS)}")
        if len(set(vocoders[split])) != len(vocoders[split]):
            raise ConfigError(f"vocoders[{split!r}] lists a vocoder twice: {vocoders[split]}")
    if not set(vocoders["eval"]) - set(vocoders["train"]):
        warnings.warn(
            f"every eval vocoder {vocoders['eval']} is also a train vocoder, so eval has no unseen attack",
            stacklevel=3,
        )
    if sample_rate is not None and (not isinstance(sample_rate, int) or sample_rate < 8000):
        raise ConfigError(f"sample_rate must be None or an integer >= 8000 Hz, got {sample_rate!r}")
    if limit_per_speaker is not None and (not isinstance(limit_per_speaker, int) or limit_per_speaker < 1):
        raise ConfigError(f"limit_per_speaker must be None or an integer >= 1, got {limit_per_speaker!r}")
    if not isinstance(seed, int) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    if not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers must be an integer >= 1, got {workers!r}")


def _list_clips(
    fsdd_dir: Path, speakers: dict[str, list[str]], limit_per_speaker: int | None
) -> dict[str, list[tuple[int, int, Path]]]:
    """Return ``(digit, index, path)`` per requested speaker, ordered by index and then digit."""
    if not fsdd_dir.is_dir():
        raise DataError(
            f"FSDD folder {fsdd_dir} not found; pass the 'recordings' folder of the Free Spoken Digit Dataset"
        )
    found: dict[str, list[tuple[int, int, Path]]] = {}
    for path in fsdd_dir.glob("*.wav"):
        match = _FSDD_NAME.match(path.stem)
        if match:
            digit, speaker, index = match.groups()
            found.setdefault(speaker, []).append((int(digit), int(index), path))
    requested = [speaker for split in SPLITS for speaker in speakers[split]]
    missing = [speaker for speaker in requested if speaker not in found]
    if missing:
        raise DataError(
            f"speaker(s) {missing} have no {{digit}}_{{speaker}}_{{index}}.wav file in {fsdd_dir}; "
            f"speakers found: {sorted(found)}"
        )
    clips = {}
    for speaker in requested:
        items = sorted(found[speaker], key=lambda item: (item[1], item[0]))
        clips[speaker] = items[:limit_per_speaker] if limit_per_speaker is not None else items
    return clips


def _resolve_rates(clips: dict[str, list[tuple[int, int, Path]]], sample_rate: int | None) -> tuple[int, int]:
    """Return the source sample rate and the corpus sample rate."""
    rates = {sf.info(str(path)).samplerate for items in clips.values() for *_, path in items}
    if len(rates) > 1 and sample_rate is None:
        raise DataError(
            f"the FSDD files have mixed sample rates {sorted(rates)}; pass sample_rate to resample them to one"
        )
    source_rate = min(rates)
    target_rate = source_rate if sample_rate is None else sample_rate
    if target_rate > max(rates):
        warnings.warn(
            f"sample_rate {target_rate} Hz exceeds the source rate {max(rates)} Hz; the band above "
            f"{max(rates) // 2} Hz holds only vocoder artefacts, which makes spoofs easy to detect",
            stacklevel=3,
        )
    return source_rate, target_rate


def _plan(
    clips: dict[str, list[tuple[int, int, Path]]],
    speakers: dict[str, list[str]],
    vocoders: dict[str, list[str]],
    sample_rate: int,
    seed: int,
) -> tuple[list[ClipTask], dict[str, list[tuple[str, ...]]]]:
    """List the synthesis tasks and the protocol lines (as field tuples) of every split."""
    tasks = []
    protocols: dict[str, list[tuple[str, ...]]] = {}
    for split in SPLITS:
        attacks = sorted((ATTACK_IDS[name], name) for name in vocoders[split])
        lines = []
        for speaker in speakers[split]:
            for digit, index, path in clips[speaker]:
                stem = f"{digit}_{speaker}_{index}"
                spoofs = tuple(
                    (f"{attack}_{stem}", name, _clip_seed(seed, f"{attack}_{stem}")) for attack, name in attacks
                )
                tasks.append(
                    ClipTask(source=str(path), bonafide_id=f"fsdd_{stem}", spoofs=spoofs, sample_rate=sample_rate)
                )
                lines.append((speaker, f"fsdd_{stem}", "-", "-", "bonafide"))
                lines.extend((speaker, f"{attack}_{stem}", "-", attack, "spoof") for attack, _ in attacks)
        protocols[split] = lines
    return tasks, protocols


def _clip_seed(seed: int, utterance_id: str) -> tuple[int, int]:
    """Seed of one spoof: stable across processes, unlike ``hash`` of a string."""
    return (seed, zlib.crc32(utterance_id.encode("utf-8")))


def _read_metadata(root: Path) -> dict | None:
    path = root / "corpus.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise DataError(f"{path} cannot be read as JSON ({error}); rebuild the corpus with force=True") from error


def _check_complete(info: CorpusInfo) -> None:
    """Raise DataError when a protocol of a cached corpus names audio files that are missing."""
    for protocol in (info.train_protocol, info.dev_protocol, info.eval_protocol, info.eval_nsf_protocol):
        if protocol is None:
            continue
        if not protocol.is_file():
            raise DataError(f"protocol {protocol} is missing; rebuild the corpus with force=True")
        ids = [line.split()[1] for line in protocol.read_text().splitlines() if line.strip()]
        missing = [utt for utt in ids if not (info.audio_dir / f"{utt}.wav").is_file()]
        if missing:
            raise DataError(
                f"{len(missing)} audio file(s) of {protocol} are missing from {info.audio_dir}, "
                f"e.g. {missing[:3]}; rebuild the corpus with force=True"
            )


def _replace_folder(staging: Path, out_dir: Path) -> None:
    """Move the finished ``staging`` folder to ``out_dir``, replacing what is there."""
    if not out_dir.exists():
        staging.rename(out_dir)
        return
    retired = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".old", dir=out_dir.parent))
    out_dir.rename(retired / out_dir.name)
    staging.rename(out_dir)
    shutil.rmtree(retired, ignore_errors=True)
