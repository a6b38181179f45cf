import os
import stat

import pytest

from lcnn.fileio import OutputExistsError, atomic_write, check_writable


def test_atomic_write_replaces_only_on_success(tmp_path):
    path = tmp_path / "scores.txt"
    path.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_write(path, force=True) as handle:
            handle.write("partial")
            raise RuntimeError("crash inside the block")
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["scores.txt"]


def test_atomic_write_refuses_existing_without_force(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text("{}")
    with pytest.raises(OutputExistsError, match=r"already exists; pass --force"):
        with atomic_write(path) as handle:
            handle.write("new")
    assert path.read_text() == "{}"
    with pytest.raises(OutputExistsError):
        check_writable(path)


def test_atomic_write_mode_follows_umask(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "new.txt") as handle:
            handle.write("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.txt").stat().st_mode) == 0o644


def test_atomic_write_keeps_existing_mode(tmp_path):
    path = tmp_path / "kept.txt"
    path.write_text("x")
    path.chmod(0o640)
    with atomic_write(path, force=True) as handle:
        handle.write("y")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert path.read_text() == "y"
