"""Tests of lcnn.data.locate: search order, downloads with checksums, and the not-found message.

No test uses the network: downloads read ``file://`` URLs from tmp_path or fail against a closed
loopback port.
"""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import pytest

from lcnn.data import locate
from lcnn.data.locate import DatasetSource, RemoteFile, cache_dir, data_roots, download_file, locate_dataset
from lcnn.errors import DataError

PAYLOAD = b"lcnn test payload\n" * 1000


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path):
    """Point every lookup variable into tmp_path so that the real environment never leaks in."""
    monkeypatch.delenv("LCNN_DATA_DIR", raising=False)
    monkeypatch.delenv("LCNN_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def closed_loopback_url(name: str) -> str:
    """Return an http URL on a loopback port that nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/{name}"


def make_source(downloads=()) -> DatasetSource:
    return DatasetSource(
        name="Toy",
        subfolders=("toy",),
        layouts=(("a.bin", "b.bin"), ("a.raw",)),
        downloads=tuple(downloads),
    )


def write_files(folder: Path, *names: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(PAYLOAD)


def test_cache_dir_prefers_lcnn_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("LCNN_CACHE_DIR", str(tmp_path / "override"))
    assert cache_dir() == tmp_path / "override"


def test_cache_dir_uses_xdg_cache_home(tmp_path):
    assert cache_dir() == tmp_path / "xdg" / "lcnn"


def test_cache_dir_falls_back_to_home(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == tmp_path / "home" / ".cache" / "lcnn"
    monkeypatch.setenv("XDG_CACHE_HOME", "")
    assert cache_dir() == tmp_path / "home" / ".cache" / "lcnn"


def test_data_roots_order(monkeypatch, tmp_path):
    monkeypatch.setenv("LCNN_DATA_DIR", str(tmp_path / "env"))
    assert data_roots(tmp_path / "explicit") == [tmp_path / "explicit", tmp_path / "env", tmp_path / "xdg" / "lcnn"]
    assert data_roots() == [tmp_path / "env", tmp_path / "xdg" / "lcnn"]


def test_data_roots_drops_duplicates(monkeypatch, tmp_path):
    monkeypatch.setenv("LCNN_DATA_DIR", str(tmp_path / "same"))
    assert data_roots(tmp_path / "same") == [tmp_path / "same", tmp_path / "xdg" / "lcnn"]


def test_explicit_dir_wins_over_env(monkeypatch, tmp_path):
    write_files(tmp_path / "explicit", "a.bin", "b.bin")
    write_files(tmp_path / "env", "a.bin", "b.bin")
    monkeypatch.setenv("LCNN_DATA_DIR", str(tmp_path / "env"))
    found = locate_dataset(make_source(), data_dir=tmp_path / "explicit", download=False)
    assert found.folder == tmp_path / "explicit"
    assert found.paths == (tmp_path / "explicit" / "a.bin", tmp_path / "explicit" / "b.bin")


def test_env_dir_used_when_explicit_lacks_files(monkeypatch, tmp_path):
    write_files(tmp_path / "explicit", "a.bin")  # incomplete layout
    write_files(tmp_path / "env" / "toy", "a.bin", "b.bin")
    monkeypatch.setenv("LCNN_DATA_DIR", str(tmp_path / "env"))
    found = locate_dataset(make_source(), data_dir=tmp_path / "explicit", download=False)
    assert found.folder == tmp_path / "env" / "toy"


def test_cache_dir_searched_last(tmp_path):
    write_files(tmp_path / "xdg" / "lcnn" / "toy", "a.raw")
    found = locate_dataset(make_source(), data_dir=tmp_path / "missing", download=False)
    assert found.folder == tmp_path / "xdg" / "lcnn" / "toy"
    assert found.paths == (tmp_path / "xdg" / "lcnn" / "toy" / "a.raw",)


def test_subfolder_before_root(tmp_path):
    write_files(tmp_path / "root", "a.bin", "b.bin")
    write_files(tmp_path / "root" / "toy", "a.bin", "b.bin")
    assert locate_dataset(make_source(), data_dir=tmp_path / "root", download=False).folder == tmp_path / "root" / "toy"


def test_second_layout_matches(tmp_path):
    write_files(tmp_path / "root", "a.raw")
    found = locate_dataset(make_source(), data_dir=tmp_path / "root", download=False)
    assert found.paths == (tmp_path / "root" / "a.raw",)


def test_found_files_skip_download(monkeypatch, tmp_path):
    def fail_download(*args, **kwargs):
        raise AssertionError("download_file must not be called when the files exist")

    monkeypatch.setattr(locate, "download_file", fail_download)
    write_files(tmp_path / "root", "a.bin", "b.bin")
    source = make_source([RemoteFile("a.bin", ("http://127.0.0.1:9/a.bin",))])
    assert locate_dataset(source, data_dir=tmp_path / "root").folder == tmp_path / "root"


def test_offline_error_lists_folders_and_files(monkeypatch, tmp_path):
    monkeypatch.setenv("LCNN_DATA_DIR", str(tmp_path / "env"))
    source = make_source(
        [RemoteFile("a.bin", (closed_loopback_url("a.bin"),)), RemoteFile("b.bin", (closed_loopback_url("b.bin"),))]
    )
    with pytest.raises(DataError, match="Toy data not found. The download failed") as caught:
        locate_dataset(source, data_dir=tmp_path / "explicit", timeout=2.0)
    message = str(caught.value)
    cache = tmp_path / "xdg" / "lcnn"
    for folder in (tmp_path / "explicit" / "toy", tmp_path / "explicit", tmp_path / "env" / "toy", tmp_path / "env"):
        assert f"  - {folder}\n" in message
    assert f"  - {cache / 'toy'}\n" in message
    assert "a.bin, b.bin" in message
    assert "a.raw" in message
    assert f"placed in {cache / 'toy'}" in message
    assert "LCNN_DATA_DIR" in message
    leftovers = list((cache / "toy").glob("*")) if (cache / "toy").exists() else []
    assert leftovers == []


def test_download_disabled_error(tmp_path):
    with pytest.raises(DataError, match="Downloading was disabled") as caught:
        locate_dataset(make_source(), data_dir=tmp_path / "explicit", download=False)
    assert str(tmp_path / "explicit") in str(caught.value)


def test_not_downloadable_error(tmp_path):
    with pytest.raises(DataError, match="cannot be downloaded automatically"):
        locate_dataset(make_source(), data_dir=tmp_path / "explicit")


def test_mocked_download_failure_is_reported(monkeypatch, tmp_path):
    def fail_offline(url, path, **kwargs):
        raise DataError(f"Download of {url} failed: offline")

    monkeypatch.setattr(locate, "download_file", fail_offline)
    source = make_source([RemoteFile("a.raw", ("https://example.invalid/a.raw", "https://mirror.invalid/a.raw"))])
    with pytest.raises(DataError, match="mirror.invalid/a.raw failed: offline"):
        locate_dataset(source)


def test_download_file_verifies_checksums(tmp_path):
    served = tmp_path / "served.bin"
    served.write_bytes(PAYLOAD)
    target = tmp_path / "cache" / "copy.bin"
    result = download_file(
        served.as_uri(),
        target,
        md5=hashlib.md5(PAYLOAD).hexdigest(),
        sha256=hashlib.sha256(PAYLOAD).hexdigest().upper(),
    )
    assert result == target
    assert target.read_bytes() == PAYLOAD


def test_download_file_rejects_checksum_mismatch(tmp_path):
    served = tmp_path / "served.bin"
    served.write_bytes(PAYLOAD)
    target = tmp_path / "cache" / "copy.bin"
    wrong = "0" * 32
    with pytest.raises(DataError, match=f"Checksum mismatch for copy.bin .* expected md5 {wrong}, found "):
        download_file(served.as_uri(), target, md5=wrong)
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_download_file_refused_connection(tmp_path):
    with pytest.raises(DataError, match=r"Download of http://127\.0\.0\.1:\d+/x\.bin failed"):
        download_file(closed_loopback_url("x.bin"), tmp_path / "x.bin", timeout=2.0)
    assert not (tmp_path / "x.bin").exists()


def test_locate_downloads_into_cache(tmp_path):
    served = tmp_path / "served"
    write_files(served, "a.bin", "b.bin")
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    source = make_source(
        [
            RemoteFile("a.bin", ((served / "a.bin").as_uri(),), sha256=digest),
            RemoteFile("b.bin", (closed_loopback_url("b.bin"), (served / "b.bin").as_uri()), sha256=digest),
        ]
    )
    found = locate_dataset(source, data_dir=tmp_path / "explicit", timeout=2.0)
    cache = tmp_path / "xdg" / "lcnn" / "toy"
    assert found.folder == cache
    assert (cache / "a.bin").read_bytes() == PAYLOAD
    assert (cache / "b.bin").read_bytes() == PAYLOAD


def test_locate_reports_checksum_mismatch(tmp_path):
    served = tmp_path / "served"
    write_files(served, "a.raw")
    source = make_source([RemoteFile("a.raw", ((served / "a.raw").as_uri(),), md5="f" * 32)])
    with pytest.raises(DataError, match="The download failed: Checksum mismatch for a.raw"):
        locate_dataset(source)
    assert not (tmp_path / "xdg" / "lcnn" / "toy" / "a.raw").exists()


def test_missing_explicit_dir_warns(tmp_path, caplog):
    write_files(tmp_path / "xdg" / "lcnn" / "toy", "a.raw")
    with caplog.at_level("WARNING", logger="lcnn.data.locate"):
        found = locate_dataset(make_source(), data_dir=tmp_path / "typo", download=False)
    assert found.folder == tmp_path / "xdg" / "lcnn" / "toy"
    assert f"Data folder {tmp_path / 'typo'} does not exist" in caplog.text
