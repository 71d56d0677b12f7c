"""Atomic writes: the result has the permissions a new file gets under the umask (or keeps
those of the file it replaces), and a failed write leaves the old file and no temporary."""

import os

import pytest

from electra.common.files import atomic_open, atomic_write_text


@pytest.fixture
def umask_027():
    previous = os.umask(0o027)
    yield
    os.umask(previous)


def test_a_new_file_gets_the_umask_permissions(tmp_path, umask_027):
    atomic_write_text(tmp_path / "a.json", "{}")
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o640


def test_a_replaced_file_keeps_its_permissions(tmp_path, umask_027):
    file = tmp_path / "a.json"
    file.write_text("old")
    file.chmod(0o604)
    atomic_write_text(file, "new")
    assert file.read_text() == "new" and file.stat().st_mode & 0o777 == 0o604


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    file = tmp_path / "a.json"
    file.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_open(file, "w") as handle:
            handle.write("half")
            raise RuntimeError("crash")
    assert file.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["a.json"]
