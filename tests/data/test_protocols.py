"""Tests of lcnn.data.protocols: ASVspoof protocols and keys, CSV/TSV lists, folders, audio paths."""

from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path

import pytest

from lcnn.data.protocols import (
    BONAFIDE,
    SPOOF,
    Trial,
    detect_format,
    iter_protocol,
    read_folder,
    read_protocol,
    resolve_audio_paths,
)
from lcnn.errors import DataError

LA_2021_KEY = """\
LA_0009 LA_E_9332881 alaw ita_tx A07 spoof notrim eval
LA_0020 LA_E_7294490 g722 loc_tx bonafide bonafide notrim eval
LA_0010 LA_E_1000002 opus ita_tx A10 spoof notrim progress
LA_0011 LA_E_1000005 none none - bonafide notrim hidden
"""

DF_2021_KEY = """\
LA_0043 DF_E_2000026 mp3m4a asvspoof A09 spoof notrim eval traditional_vocoder - - - -
LA_0023 DF_E_2000011 nocodec asvspoof - bonafide notrim progress bonafide - - - -
"""

PA_2021_KEY = """\
PA_0010 PA_E_1000001 R3 M3 d4 r1 m1 s4 c4 spoof notrim eval
PA_0011 PA_E_1000002 R1 M2 d1 - - - - bonafide notrim eval
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def protocols_dir(data_dir: Path) -> Path:
    folder = data_dir / "asvspoof" / "protocols"
    if not folder.is_dir():
        pytest.skip(f"ASVspoof protocols not found in {folder}")
    return folder


@pytest.mark.parametrize(
    ("name", "n_trials", "n_bonafide"),
    [
        ("LA/ASVspoof2019.LA.cm.train.trn.txt", 25_380, 2_580),
        ("LA/ASVspoof2019.LA.cm.dev.trl.txt", 24_844, 2_548),
        ("LA/ASVspoof2019.LA.cm.eval.trl.txt", 71_237, 7_355),
        ("PA/ASVspoof2019.PA.cm.train.trn.txt", 54_000, 5_400),
        ("PA/ASVspoof2019.PA.cm.dev.trl.txt", 29_700, 5_400),
    ],
)
def test_real_2019_protocol_counts(protocols_dir: Path, name: str, n_trials: int, n_bonafide: int) -> None:
    path = protocols_dir / name
    assert detect_format(path) == "asvspoof2019"
    trials = read_protocol(path)
    assert len(trials) == n_trials
    assert sum(trial.label == BONAFIDE for trial in trials) == n_bonafide
    assert len({trial.trial_id for trial in trials}) == n_trials
    assert all(trial.attack == "-" for trial in trials if trial.label == BONAFIDE)
    assert all(trial.attack != "-" for trial in trials if trial.label == SPOOF)


def test_real_la_eval_attacks(protocols_dir: Path) -> None:
    trials = read_protocol(protocols_dir / "LA/ASVspoof2019.LA.cm.eval.trl.txt")
    attacks = Counter(trial.attack for trial in trials if trial.label == SPOOF)
    assert sorted(attacks) == [f"A{number:02d}" for number in range(7, 20)]
    assert sum(attacks.values()) == 63_882
    assert all(trial.condition is None for trial in trials)
    assert trials[0] == Trial("LA_E_2834763", SPOOF, "A11", speaker="LA_0039")


def test_real_pa_conditions(protocols_dir: Path) -> None:
    trials = read_protocol(protocols_dir / "PA/ASVspoof2019.PA.cm.train.trn.txt")
    conditions = {trial.condition for trial in trials}
    attacks = {trial.attack for trial in trials if trial.label == SPOOF}
    assert len(conditions) == 27
    assert all(len(condition) == 3 for condition in conditions)
    assert attacks == {first + second for first in "ABC" for second in "ABC"}


def test_iter_protocol_streams(protocols_dir: Path) -> None:
    iterator = iter_protocol(protocols_dir / "LA/ASVspoof2019.LA.cm.train.trn.txt")
    first = next(iterator)
    assert first == Trial("LA_T_1138215", BONAFIDE, "-", speaker="LA_0079")
    iterator.close()


def test_2021_la_key(tmp_path: Path) -> None:
    path = write(tmp_path / "trial_metadata.txt", LA_2021_KEY)
    assert detect_format(path) == "asvspoof2021"
    trials = read_protocol(path)
    assert [trial.trial_id for trial in trials] == ["LA_E_9332881", "LA_E_7294490", "LA_E_1000002", "LA_E_1000005"]
    assert trials[0] == Trial("LA_E_9332881", SPOOF, "A07", speaker="LA_0009", condition="alaw")
    assert trials[1].label == BONAFIDE
    assert trials[1].attack == "-"
    assert trials[1].condition == "g722"


def test_2021_subset_filter(tmp_path: Path) -> None:
    path = write(tmp_path / "trial_metadata.txt", LA_2021_KEY)
    assert [t.trial_id for t in read_protocol(path, subset="eval")] == ["LA_E_9332881", "LA_E_7294490"]
    assert [t.trial_id for t in read_protocol(path, subset="progress")] == ["LA_E_1000002"]
    with pytest.raises(DataError, match="contains no trial in subset 'other'"):
        read_protocol(path, subset="other")


def test_2021_df_key(tmp_path: Path) -> None:
    trials = read_protocol(write(tmp_path / "df.txt", DF_2021_KEY))
    assert trials[0] == Trial("DF_E_2000026", SPOOF, "A09", speaker="LA_0043", condition="mp3m4a")
    assert trials[1] == Trial("DF_E_2000011", BONAFIDE, "-", speaker="LA_0023", condition="nocodec")


def test_2021_pa_key(tmp_path: Path) -> None:
    trials = read_protocol(write(tmp_path / "pa.txt", PA_2021_KEY))
    assert trials[0] == Trial("PA_E_1000001", SPOOF, "r1-m1-s4-c4", speaker="PA_0010", condition="R3-M3-d4")
    assert trials[1].attack == "-"
    assert trials[1].condition == "R1-M2-d1"


def test_subset_rejected_for_2019(tmp_path: Path) -> None:
    path = write(tmp_path / "p.txt", "LA_0079 LA_T_1 - - bonafide\n")
    with pytest.raises(DataError, match="subset='eval' applies only to ASVspoof 2021 keys"):
        read_protocol(path, subset="eval")


def test_gzip_protocol(tmp_path: Path) -> None:
    path = tmp_path / "p.txt.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("LA_0079 LA_T_1 - - bonafide\nLA_0079 LA_T_2 - A01 spoof\n")
    assert [trial.label for trial in read_protocol(path)] == [BONAFIDE, SPOOF]


def test_blank_and_comment_lines_skipped(tmp_path: Path) -> None:
    path = write(tmp_path / "p.txt", "# a comment\n\nLA_0079 LA_T_1 - - bonafide\n\n")
    assert [trial.trial_id for trial in read_protocol(path)] == ["LA_T_1"]


def test_malformed_line_reports_location(tmp_path: Path) -> None:
    path = write(tmp_path / "p.txt", "LA_0079 LA_T_1 - - bonafide\nLA_0079 LA_T_2 - A01\n")
    with pytest.raises(DataError, match=r"p\.txt:2: expected 5 fields .* got 4: 'LA_0079 LA_T_2 - A01'"):
        read_protocol(path, format="asvspoof2019")


def test_bad_key_reports_location(tmp_path: Path) -> None:
    path = write(tmp_path / "p.txt", "LA_0079 LA_T_1 - - bonafide\nLA_0079 LA_T_2 - A01 fake\n")
    with pytest.raises(DataError, match=r"p\.txt:2: the key must be 'bonafide' or 'spoof', got 'fake'"):
        read_protocol(path)


def test_malformed_line_raised_while_streaming(tmp_path: Path) -> None:
    path = write(tmp_path / "p.txt", "LA_0079 LA_T_1 - - bonafide\nbroken line\n")
    iterator = iter_protocol(path)
    assert next(iterator).trial_id == "LA_T_1"
    with pytest.raises(DataError, match=r"p\.txt:2: .*'broken line'"):
        next(iterator)


def test_duplicate_id_rejected(tmp_path: Path) -> None:
    path = write(tmp_path / "p.txt", "S LA_T_1 - - bonafide\nS LA_T_2 - A01 spoof\nS LA_T_1 - A02 spoof\n")
    with pytest.raises(DataError, match=r"p\.txt:3: duplicate trial id 'LA_T_1' \(first on line 1\)"):
        read_protocol(path)


def test_undetectable_format(tmp_path: Path) -> None:
    path = write(tmp_path / "p.txt", "a b c\n")
    with pytest.raises(DataError, match="cannot tell the protocol format from a line of 3 fields"):
        read_protocol(path)


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="protocol file not found"):
        read_protocol(tmp_path / "absent.txt")
    with pytest.raises(DataError, match="the protocol file is empty"):
        read_protocol(write(tmp_path / "empty.txt", "\n"))
    with pytest.raises(DataError, match="unknown protocol format 'kaldi'"):
        read_protocol(write(tmp_path / "p.txt", "S T - - bonafide\n"), format="kaldi")


def test_csv_list(tmp_path: Path) -> None:
    text = "file,label,attack,speaker\naudio/a.flac,bonafide,,spk1\naudio/b.wav,spoof,A01,spk2\n/abs/c.flac,0,,\n"
    path = write(tmp_path / "list.csv", text)
    assert detect_format(path) == "csv"
    trials = read_protocol(path)
    assert trials[0] == Trial("a", BONAFIDE, "-", speaker="spk1", path=str(tmp_path / "audio/a.flac"))
    assert trials[1] == Trial("b", SPOOF, "A01", speaker="spk2", path=str(tmp_path / "audio/b.wav"))
    assert trials[2] == Trial("c", SPOOF, "-", path="/abs/c.flac")


def test_tsv_list_with_ids(tmp_path: Path) -> None:
    path = write(tmp_path / "list.tsv", "ID\tLabel\tcondition\nu1\t1\tnoisy\nu2\tSPOOF\tclean\n")
    trials = read_protocol(path)
    assert trials == [Trial("u1", BONAFIDE, condition="noisy"), Trial("u2", SPOOF, condition="clean")]


def test_csv_without_labels(tmp_path: Path) -> None:
    trials = read_protocol(write(tmp_path / "list.csv", "id\nu1\nu2\n"))
    assert [trial.label for trial in trials] == [None, None]


def test_csv_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"has no id or file column"):
        read_protocol(write(tmp_path / "a.csv", "name,label\nx,1\n"))
    with pytest.raises(DataError, match=r"b\.csv:3: the label must be bonafide/spoof or 1/0, got 'maybe'"):
        read_protocol(write(tmp_path / "b.csv", "id,label\nx,1\ny,maybe\n"))
    with pytest.raises(DataError, match=r"c\.csv:2: expected 2 columns as in the header, got 3"):
        read_protocol(write(tmp_path / "c.csv", "id,label\nx,1,extra\n"))
    with pytest.raises(DataError, match=r"d\.csv:3: duplicate trial id 'x'"):
        read_protocol(write(tmp_path / "d.csv", "id,label\nx,1\nx,0\n"))


def make_audio_tree(root: Path, names: list[str]) -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")


def test_read_folder(tmp_path: Path) -> None:
    make_audio_tree(tmp_path, ["bonafide/b1.flac", "bonafide/sub/b2.WAV", "spoof/s1.wav", "spoof/A07/s2.flac", "spoof/x.txt"])
    trials = read_folder(tmp_path)
    assert [(t.trial_id, t.label, t.attack) for t in trials] == [
        ("b1", BONAFIDE, "-"),
        ("b2", BONAFIDE, "-"),
        ("s2", SPOOF, "A07"),
        ("s1", SPOOF, "-"),
    ]
    assert trials[0].path == str(tmp_path / "bonafide/b1.flac")


def test_read_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="has neither a bonafide/ nor a spoof/ folder"):
        read_folder(tmp_path)
    make_audio_tree(tmp_path, ["bonafide/x.flac", "spoof/x.wav"])
    with pytest.raises(DataError, match=r"1 audio file\(s\) repeat a file name"):
        read_folder(tmp_path)


def test_resolve_audio_paths(tmp_path: Path) -> None:
    make_audio_tree(tmp_path, ["LA_T_1.flac", "flac/LA_T_2.flac", "LA_T_3.wav"])
    trials = [Trial("LA_T_1", 1), Trial("LA_T_2", 0, "A01"), Trial("LA_T_3", 0, "A02")]
    resolved = resolve_audio_paths(trials, tmp_path)
    assert [t.path for t in resolved] == [
        str(tmp_path / "LA_T_1.flac"),
        str(tmp_path / "flac/LA_T_2.flac"),
        str(tmp_path / "LA_T_3.wav"),
    ]
    assert resolved[1].attack == "A01"


def test_resolve_reports_all_missing(tmp_path: Path) -> None:
    make_audio_tree(tmp_path, ["LA_T_1.flac"])
    trials = [Trial(f"LA_T_{index}", 1) for index in range(1, 16)]
    with pytest.raises(DataError, match=r"14 of 15 trials have no audio file .* first missing ids: LA_T_2, LA_T_3") as info:
        resolve_audio_paths(trials, tmp_path)
    assert "LA_T_11, ..." in str(info.value)
    with pytest.raises(DataError, match="audio folder not found"):
        resolve_audio_paths(trials, tmp_path / "absent")


def test_resolve_real_audio(data_dir: Path, protocols_dir: Path) -> None:
    audio = data_dir / "asvspoof" / "audio"
    trials = [t for t in read_protocol(protocols_dir / "LA/ASVspoof2019.LA.cm.eval.trl.txt") if t.trial_id == "LA_E_6163791"]
    (resolved,) = resolve_audio_paths(trials, audio)
    assert resolved.path == str(audio / "LA_E_6163791.flac")
    assert resolved.attack == "A09"
