"""Trial lists: ASVspoof protocol and key files, CSV/TSV lists and bonafide/spoof folders.

Formats read by :func:`iter_protocol` (whitespace-separated unless noted):

* ``asvspoof2019``: ASVspoof 2019 LA and PA CM protocols, five fields
  ``SPEAKER TRIAL ENV ATTACK KEY``, for example ``LA_0039 LA_E_2834763 - A11 spoof`` or
  ``PA_0079 PA_T_0000001 aaa - bonafide``. ENV (PA acoustic environment) becomes the condition.
* ``asvspoof2021``: ASVspoof 2021 key files (``keys/{LA,PA,DF}/CM/trial_metadata.txt``),
  distinguished by their field count:

  - LA, 8 fields: ``SPEAKER TRIAL CODEC TRANSMISSION ATTACK KEY TRIM SUBSET``; condition = codec.
  - DF, 13 fields: ``SPEAKER TRIAL CODEC SOURCE ATTACK KEY TRIM SUBSET VOCODER TASK TEAM
    GENDER_PAIR LANGUAGE``; condition = codec.
  - PA, 12 fields: ``SPEAKER TRIAL ASV_ROOM ASV_MIC ASV_DISTANCE ATTACK_ROOM ATTACK_MIC
    ATTACK_D ATTACK_TO_SPEAKER KEY TRIM SUBSET``; condition = the three ASV-side fields joined
    with ``-``, attack = the four attack-side fields joined with ``-`` (spoofs only).

  SUBSET is ``eval``, ``progress`` or ``hidden``; pass ``subset=`` to keep one of them.
* ``csv``: comma- or tab-separated with a header row. Columns (case-insensitive): ``id`` or
  ``file`` (at least one; the id defaults to the file name without extension, and a relative file
  path is taken relative to the list's folder), optional ``label`` (``bonafide``/``spoof`` or
  ``1``/``0``; without it labels are unknown), ``attack``, ``speaker``, ``condition``.

Bona fide trials always get attack ``"-"``, whatever the file writes there (2021 LA keys write
``bonafide``). Files may be gzip-compressed. Blank lines and lines starting with ``#`` are skipped.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterable, Iterator

from lcnn.errors import DataError

__all__ = [
    "BONAFIDE",
    "SPOOF",
    "FORMATS",
    "Trial",
    "detect_format",
    "iter_protocol",
    "read_protocol",
    "read_folder",
    "resolve_audio_paths",
]

BONAFIDE = 1
SPOOF = 0
FORMATS = ("auto", "asvspoof2019", "asvspoof2021", "csv")

# Ids or paths listed in an error message before the rest is given as a count.
_MAX_LISTED = 10
_KEYS = {"bonafide": BONAFIDE, "spoof": SPOOF}
_CSV_LABELS = {"bonafide": BONAFIDE, "bona-fide": BONAFIDE, "1": BONAFIDE, "spoof": SPOOF, "0": SPOOF}
_CSV_COLUMNS = {
    "id": ("id", "trial_id", "trial", "utt_id", "utterance_id"),
    "file": ("file", "path", "filename", "audio", "audio_path"),
    "label": ("label", "key"),
    "attack": ("attack", "attack_id", "system_id"),
    "speaker": ("speaker", "speaker_id", "spk"),
    "condition": ("condition", "environment", "env"),
}
_KEY_2021_FIELDS = {8: "LA", 12: "PA", 13: "DF"}


@dataclass(frozen=True, slots=True)
class Trial:
    """One utterance of a trial list.

    Attributes:
        trial_id: utterance id (the audio file stem), for example ``LA_E_6163791``.
        label: 1 bona fide, 0 spoof, None unknown (unlabelled scoring).
        attack: attack id (``A01``..``A19``, ``AA``..``CC``, ...); ``"-"`` for bona fide.
        speaker: speaker id, when the source gives one.
        condition: recording or channel condition (PA environment, 2021 codec, ...).
        path: audio path, when the source gives one (CSV, folder) or after
            :func:`resolve_audio_paths`.
    """

    trial_id: str
    label: int | None
    attack: str = "-"
    speaker: str | None = None
    condition: str | None = None
    path: str | None = None


class _LineError(ValueError):
    """A line that does not fit its format; :func:`iter_protocol` adds the file and line number."""


def _open_text(path: Path) -> IO[str]:
    with open(path, "rb") as handle:
        magic = handle.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def _check_file(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.is_file():
        raise DataError(f"protocol file not found: {path}")
    return path


def _first_line(path: Path) -> tuple[int, str | None]:
    with _open_text(path) as handle:
        for line_number, line in enumerate(handle, start=1):
            if line.strip() and not line.lstrip().startswith("#"):
                return line_number, line.rstrip("\r\n")
    return 0, None


def detect_format(path: str | os.PathLike) -> str:
    """Detect the format of a trial list from its first line.

    Returns:
        ``"asvspoof2019"``, ``"asvspoof2021"`` or ``"csv"``.

    Raises:
        DataError: the file is missing or empty, or its first line fits no known format.
    """
    path = _check_file(path)
    line_number, line = _first_line(path)
    if line is None:
        raise DataError(f"{path}: the protocol file is empty.")
    single_column_header = line.strip().lower() in _CSV_COLUMNS["id"] + _CSV_COLUMNS["file"]
    if "," in line or "\t" in line or single_column_header:
        return "csv"
    n_fields = len(line.split())
    if n_fields == 5:
        return "asvspoof2019"
    if n_fields in _KEY_2021_FIELDS:
        return "asvspoof2021"
    raise DataError(
        f"{path}:{line_number}: cannot tell the protocol format from a line of {n_fields} fields: {line!r}. "
        "Expected 5 fields (ASVspoof 2019), 8, 12 or 13 (ASVspoof 2021 LA, PA or DF keys), or a "
        "CSV/TSV header; pass the format explicitly if the file is one of those."
    )


def _parse_key(key: str) -> int:
    label = _KEYS.get(key.lower())
    if label is None:
        raise _LineError(f"the key must be 'bonafide' or 'spoof', got {key!r}")
    return label


def _parse_2019(fields: list[str]) -> Trial:
    if len(fields) != 5:
        raise _LineError(f"expected 5 fields (SPEAKER TRIAL ENV ATTACK KEY), got {len(fields)}")
    speaker, trial_id, environment, attack, key = fields
    label = _parse_key(key)
    return Trial(
        trial_id=trial_id,
        label=label,
        attack="-" if label == BONAFIDE else attack,
        speaker=speaker,
        condition=None if environment == "-" else environment,
    )


def _parse_2021(fields: list[str]) -> tuple[Trial, str]:
    track = _KEY_2021_FIELDS.get(len(fields))
    if track is None:
        raise _LineError(f"expected 8 (LA), 12 (PA) or 13 (DF) fields of an ASVspoof 2021 key, got {len(fields)}")
    if track == "PA":
        speaker, trial_id = fields[:2]
        key, subset = fields[9], fields[11]
        condition = "-".join(fields[2:5])
        attack = "-".join(fields[5:9])
    else:
        speaker, trial_id, codec = fields[:3]
        attack, key, subset = fields[4], fields[5], fields[7]
        condition = codec
    label = _parse_key(key)
    trial = Trial(
        trial_id=trial_id,
        label=label,
        attack="-" if label == BONAFIDE else attack,
        speaker=speaker,
        condition=condition,
    )
    return trial, subset


def _iter_whitespace(path: Path, fmt: str, subset: str | None) -> Iterator[tuple[int, str, Trial]]:
    with _open_text(path) as handle:
        for line_number, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            try:
                if fmt == "asvspoof2019":
                    trial = _parse_2019(fields)
                else:
                    trial, trial_subset = _parse_2021(fields)
                    if subset is not None and trial_subset != subset:
                        continue
            except _LineError as error:
                raise DataError(f"{path}:{line_number}: {error}: {line.rstrip()!r}") from None
            yield line_number, line, trial


def _csv_columns(header: list[str], path: Path) -> dict[str, int]:
    names = [name.strip().lower() for name in header]
    columns: dict[str, int] = {}
    for field, aliases in _CSV_COLUMNS.items():
        for alias in aliases:
            if alias in names:
                columns[field] = names.index(alias)
                break
    if "id" not in columns and "file" not in columns:
        raise DataError(
            f"{path}:1: the CSV header {header} has no id or file column; name one of them "
            f"{' / '.join(_CSV_COLUMNS['id'] + _CSV_COLUMNS['file'])}."
        )
    return columns


def _parse_csv_row(row: list[str], columns: dict[str, int], folder: Path) -> Trial:
    def value(field: str) -> str | None:
        index = columns.get(field)
        if index is None:
            return None
        text = row[index].strip()
        return text or None

    file_path = value("file")
    trial_id = value("id")
    if trial_id is None:
        if file_path is None:
            raise _LineError("the row has neither an id nor a file")
        trial_id = Path(file_path).stem
    if any(character.isspace() for character in trial_id):
        raise _LineError(f"the trial id {trial_id!r} contains whitespace")

    label: int | None = None
    if "label" in columns:
        text = value("label")
        label = _CSV_LABELS.get((text or "").lower())
        if label is None:
            raise _LineError(f"the label must be bonafide/spoof or 1/0, got {text!r}")

    path = None
    if file_path is not None:
        path = file_path if Path(file_path).is_absolute() else str(folder / file_path)
    attack = value("attack") or "-"
    return Trial(
        trial_id=trial_id,
        label=label,
        attack="-" if label == BONAFIDE else attack,
        speaker=value("speaker"),
        condition=value("condition"),
        path=path,
    )


def _iter_csv(path: Path) -> Iterator[tuple[int, str, Trial]]:
    with _open_text(path) as handle:
        first = handle.readline()
        delimiter = "\t" if "\t" in first else ","
        reader = csv.reader(itertools.chain([first], handle), delimiter=delimiter)
        header = next(reader)
        columns = _csv_columns(header, path)
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()) or row[0].lstrip().startswith("#"):
                continue
            line = delimiter.join(row)
            if len(row) != len(header):
                raise DataError(
                    f"{path}:{reader.line_num}: expected {len(header)} columns as in the header, "
                    f"got {len(row)}: {line!r}"
                )
            try:
                trial = _parse_csv_row(row, columns, path.parent)
            except _LineError as error:
                raise DataError(f"{path}:{reader.line_num}: {error}: {line!r}") from None
            yield reader.line_num, line, trial


def iter_protocol(path: str | os.PathLike, *, format: str = "auto", subset: str | None = None) -> Iterator[Trial]:
    """Stream the trials of a protocol, key or CSV/TSV list, one line at a time.

    Args:
        path: the list file (plain text or gzip).
        format: one of ``FORMATS``; ``"auto"`` detects it from the first line.
        subset: ASVspoof 2021 keys only: keep the trials of this subset (``eval``, ``progress``,
            ``hidden``); None keeps all.

    Yields:
        One :class:`Trial` per line, in file order.

    Raises:
        DataError: the file is missing, a line is malformed (the message gives file, line number
            and the line), a trial id appears twice, the format is unknown, or ``subset`` is given
            for a format without subsets.
    """
    if format not in FORMATS:
        raise DataError(f"unknown protocol format {format!r}; choose one of {', '.join(FORMATS)}.")
    path = _check_file(path)
    fmt = detect_format(path) if format == "auto" else format
    if subset is not None and fmt != "asvspoof2021":
        raise DataError(f"{path}: subset={subset!r} applies only to ASVspoof 2021 keys, but the file is {fmt}.")

    lines = _iter_csv(path) if fmt == "csv" else _iter_whitespace(path, fmt, subset)
    first_seen: dict[str, int] = {}
    for line_number, line, trial in lines:
        previous = first_seen.setdefault(trial.trial_id, line_number)
        if previous != line_number:
            raise DataError(
                f"{path}:{line_number}: duplicate trial id {trial.trial_id!r} (first on line "
                f"{previous}); each trial must appear once: {line.rstrip()!r}"
            )
        yield trial


def read_protocol(path: str | os.PathLike, *, format: str = "auto", subset: str | None = None) -> list[Trial]:
    """Read all trials of a protocol, key or CSV/TSV list (see :func:`iter_protocol`).

    Raises:
        DataError: as :func:`iter_protocol`, or the file contains no trial.
    """
    trials = list(iter_protocol(path, format=format, subset=subset))
    if not trials:
        where = f" in subset {subset!r}" if subset is not None else ""
        raise DataError(f"{path}: the protocol contains no trial{where}.")
    return trials


def _list_examples(items: list[str]) -> str:
    listed = ", ".join(items[:_MAX_LISTED])
    return listed + (", ..." if len(items) > _MAX_LISTED else "")


def read_folder(root: str | os.PathLike, *, extensions: Iterable[str] = (".flac", ".wav")) -> list[Trial]:
    """Build a labelled trial list from ``root/bonafide/**`` and ``root/spoof/**`` audio files.

    The trial id is the file name without extension. A spoof file inside a subfolder of
    ``spoof/`` (``spoof/A07/x.flac``) gets that subfolder's name as its attack id.

    Args:
        root: folder holding ``bonafide/`` and/or ``spoof/``.
        extensions: audio file extensions to take, compared case-insensitively.

    Returns:
        Trials with ``path`` set, bona fide first, each class sorted by path.

    Raises:
        DataError: neither subfolder exists, no audio file is found, or two files share a stem.
    """
    root = Path(root)
    suffixes = {extension.lower() for extension in extensions}
    class_dirs = [(root / "bonafide", BONAFIDE), (root / "spoof", SPOOF)]
    if not any(folder.is_dir() for folder, _ in class_dirs):
        raise DataError(f"{root} has neither a bonafide/ nor a spoof/ folder; put the audio files in those.")

    trials: list[Trial] = []
    first_path: dict[str, Path] = {}
    duplicates: list[str] = []
    for folder, label in class_dirs:
        if not folder.is_dir():
            continue
        for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in suffixes and p.is_file()):
            stem = path.stem
            if stem in first_path:
                duplicates.append(f"{path} (also {first_path[stem]})")
                continue
            first_path[stem] = path
            relative = path.relative_to(folder).parts
            attack = relative[0] if label == SPOOF and len(relative) > 1 else "-"
            trials.append(Trial(trial_id=stem, label=label, attack=attack, path=str(path)))
    if duplicates:
        raise DataError(
            f"{root}: {len(duplicates)} audio file(s) repeat a file name already used, so trial ids "
            f"would not be unique: {_list_examples(duplicates)}"
        )
    if not trials:
        raise DataError(f"{root}: no audio file with extension {', '.join(sorted(suffixes))} under bonafide/ or spoof/.")
    return trials


def _index_folder(folder: Path) -> set[str]:
    if not folder.is_dir():
        return set()
    with os.scandir(folder) as entries:
        return {entry.name for entry in entries if entry.is_file()}


def resolve_audio_paths(
    trials: Iterable[Trial], audio_dir: str | os.PathLike, *, extensions: Iterable[str] = (".flac", ".wav")
) -> list[Trial]:
    """Fill ``Trial.path`` from ``audio_dir/<trial_id><extension>`` or ``audio_dir/flac/<trial_id><extension>``.

    A trial whose ``path`` already names an existing file keeps it. Each folder is listed once, so
    this costs two directory listings, not one file check per trial.

    Args:
        trials: trials to resolve.
        audio_dir: folder of the audio files (as in the ASVspoof releases, the files may sit in
            its ``flac/`` subfolder).
        extensions: extensions tried in order.

    Returns:
        New trials with ``path`` set, in input order.

    Raises:
        DataError: ``audio_dir`` is not a folder, or some trials have no audio file; the message
            gives how many and the first ids, all at once.
    """
    audio_dir = Path(audio_dir)
    if not audio_dir.is_dir():
        raise DataError(f"audio folder not found: {audio_dir}")
    extensions = tuple(extensions)
    folders = [(audio_dir, _index_folder(audio_dir)), (audio_dir / "flac", _index_folder(audio_dir / "flac"))]

    resolved: list[Trial] = []
    missing: list[str] = []
    for trial in trials:
        if trial.path is not None and os.path.isfile(trial.path):
            resolved.append(trial)
            continue
        found = None
        for extension in extensions:
            name = trial.trial_id + extension
            found = next((folder / name for folder, names in folders if name in names), None)
            if found is not None:
                break
        if found is None:
            missing.append(trial.trial_id)
        else:
            resolved.append(dataclasses.replace(trial, path=str(found)))
    if missing:
        raise DataError(
            f"{len(missing)} of {len(resolved) + len(missing)} trials have no audio file in {audio_dir} "
            f"or {audio_dir / 'flac'} (tried extensions {', '.join(extensions)}); first missing ids: "
            f"{_list_examples(missing)}. Check that the audio folder and the protocol are of the same split."
        )
    return resolved
