"""Writes that a kill cannot leave half done: a file or folder is either its old or its new version."""
import pytest

from recbole_soft.atomic import current_folder, replace_folder_atomically


def write_version(text: str):
    def write(folder):
        folder.mkdir()
        (folder / "weights").write_text(text)

    return write


def test_replacing_a_folder_leaves_only_the_new_version(tmp_path):
    folder = tmp_path / "adapter"
    replace_folder_atomically(folder, write_version("1"))
    replace_folder_atomically(folder, write_version("2"))
    assert (folder / "weights").read_text() == "2"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["adapter"]


def test_a_write_that_fails_keeps_the_old_version(tmp_path):
    folder = tmp_path / "adapter"
    replace_folder_atomically(folder, write_version("1"))

    def killed(side_folder):
        side_folder.mkdir()
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        replace_folder_atomically(folder, killed)
    assert (folder / "weights").read_text() == "1"
    replace_folder_atomically(folder, write_version("2"))  # the next save clears the half-written side folder
    assert sorted(path.name for path in tmp_path.iterdir()) == ["adapter"]


def test_a_kill_between_the_two_renames_loses_nothing(tmp_path):
    folder = tmp_path / "adapter"
    replace_folder_atomically(folder, write_version("1"))
    assert current_folder(folder) == folder
    folder.rename(tmp_path / "adapter.previous")  # the state such a kill leaves: the old version aside, no folder
    assert (current_folder(folder) / "weights").read_text() == "1"
    replace_folder_atomically(folder, write_version("2"))
    assert (current_folder(folder) / "weights").read_text() == "2"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["adapter"]


def test_a_replacement_after_a_kill_during_the_last_cleanup_still_succeeds(tmp_path):
    folder = tmp_path / "adapter"
    replace_folder_atomically(folder, write_version("1"))
    write_version("stale")(tmp_path / "adapter.previous")  # a kill before the old version was removed
    replace_folder_atomically(folder, write_version("2"))
    assert (folder / "weights").read_text() == "2"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["adapter"]
