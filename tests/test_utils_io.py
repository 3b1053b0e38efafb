"""The shared atomic-write core of sgg.utils.io (files, temp paths, folders)."""
import os
import stat

import pytest

from sgg.utils.io import AtomicTarget, atomic_directory, atomic_path, atomic_write_text, default_file_mode


def _entries(folder):
    return sorted(os.listdir(folder))


def test_atomic_path_replaces_on_success_and_keeps_old_file_on_error(tmp_path):
    target = tmp_path / "sub" / "a.json"
    with atomic_path(target, suffix=".json") as tmp:
        assert tmp.endswith(".json") and os.path.dirname(tmp) == str(target.parent)
        with open(tmp, "w") as f:
            f.write("one")
    assert target.read_text() == "one"
    assert stat.S_IMODE(os.stat(target).st_mode) == default_file_mode()  # not mkstemp's 0600
    with pytest.raises(RuntimeError, match="boom"), atomic_path(target) as tmp:
        with open(tmp, "w") as f:
            f.write("two")
        raise RuntimeError("boom")
    assert target.read_text() == "one"
    assert _entries(target.parent) == ["a.json"]  # no temp file left behind
    with pytest.raises(FileExistsError, match="overwrite=True"), atomic_path(target, overwrite=False):
        pass
    assert target.read_text() == "one" and _entries(target.parent) == ["a.json"]


def test_atomic_target_refuses_a_file_that_appeared_during_the_write(tmp_path):
    target = tmp_path / "b.txt"
    pending = AtomicTarget(target, overwrite=False)
    target.write_text("someone else")
    with pytest.raises(FileExistsError, match="appeared during the write"):
        pending.commit()
    assert target.read_text() == "someone else" and _entries(tmp_path) == ["b.txt"]
    atomic_write_text(str(target), "mine")  # the default replaces
    assert target.read_text() == "mine"


def test_atomic_directory_swaps_whole_folder_and_cleans_up_on_error(tmp_path):
    target = tmp_path / "index"
    with atomic_directory(target) as tmp:
        (tmp / "x").write_text("1")
    assert _entries(target) == ["x"]
    with atomic_directory(target) as tmp:
        (tmp / "y").write_text("2")
    assert _entries(target) == ["y"] and _entries(tmp_path) == ["index"]
    with pytest.raises(ValueError), atomic_directory(target) as tmp:
        (tmp / "z").write_text("3")
        raise ValueError
    assert _entries(target) == ["y"] and _entries(tmp_path) == ["index"]
