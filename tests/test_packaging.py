"""An installed wheel (not an editable checkout) carries the protocol, the model and the dataset defaults; the lock
file that `make` installs satisfies pyproject.toml."""
import json
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from recbole_soft.benchmark.environment import LOCK_FILE, locked_versions
from tests.conftest import REPOSITORY


def run(command: list, **kwargs) -> subprocess.CompletedProcess:
    process = subprocess.run([str(part) for part in command], capture_output=True, text=True, **kwargs)
    assert process.returncode == 0, (process.stdout + process.stderr)[-3000:]
    return process


def test_a_wheel_in_a_fresh_virtualenv_runs_a_model_with_the_full_protocol(tmp_path):
    source = tmp_path / "source"  # a copy, so that the build leaves nothing in the checkout
    shutil.copytree(REPOSITORY / "recbole_soft", source / "recbole_soft", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPOSITORY / name, source / name)
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", tmp_path / "dist", source])
    [wheel] = (tmp_path / "dist").glob("recbole_soft-*.whl")
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv])
    python = venv / "bin" / "python"
    run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", wheel])
    # the dependencies come from this environment; a plain path line adds no editable copy of recbole_soft
    site_packages = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    (site_packages / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    where = run([python, "-c", "import recbole_soft; print(recbole_soft.__file__)"], cwd=tmp_path).stdout.strip()
    assert Path(where).is_relative_to(site_packages)
    saved = tmp_path / "saved"
    run([venv / "bin" / "run_recbole_soft", "--model=Pop", "--dataset=ml-100k", f"--checkpoint_dir={saved}", "--state=WARNING",
         "--show_progress=False"], cwd=tmp_path)
    [result_file] = saved.glob("Pop-*.result.json")
    result = json.loads(result_file.read_text())
    assert set(result["test_result"]) == {f"{metric}@{k}" for metric in ("hit", "ndcg", "mrr") for k in (1, 5, 10, 20)}
    protocol = run([python, "-c", "from recbole_soft.config import Config; c = Config('Pop', 'ml-100k', command_line=False); "
                    "print(c['eval_args']['split'], c['eval_args']['order'], c['eval_args']['mode'], c['item_text_field'])"],
                   cwd=tmp_path).stdout.strip().splitlines()[-1]
    assert protocol == "{'LS': 'valid_and_test'} TO {'valid': 'full', 'test': 'full'} movie_title"


def test_the_lock_pins_every_dependency_of_pyproject_to_a_version_in_its_range():
    """`make lock` regenerates requirements.lock; this fails when pyproject.toml changed and the lock did not."""
    pyproject = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())
    declared = [*pyproject["project"]["dependencies"], *pyproject["project"]["optional-dependencies"]["test"],
                *pyproject["dependency-groups"]["embedded-llm"]]
    pins = locked_versions(LOCK_FILE.read_text())
    problems = []
    for requirement in map(Requirement, declared):
        name = canonicalize_name(requirement.name)
        if name == "torch":  # the machine's build, installed beside the lock (below)
            continue
        if name not in pins:
            problems.append(f"{name} is not in the lock")
        elif not requirement.specifier.contains(pins[name], prereleases=True):
            problems.append(f"{name} is locked at {pins[name]}, outside {requirement.specifier}")
    assert problems == [], "run `make lock`: " + "; ".join(problems)


def test_the_lock_hashes_every_package_and_leaves_the_torch_build_to_the_makefile():
    lines = LOCK_FILE.read_text().replace("\\\n", " ").splitlines()
    entries = [entry for entry in lines if entry and entry[0].isalnum()]  # one per package, its hashes joined
    assert len(entries) == len(locked_versions(LOCK_FILE.read_text())) > 50
    assert [entry.split()[0] for entry in entries if "--hash=sha256:" not in entry] == []
    assert "torch" not in locked_versions(LOCK_FILE.read_text())
    pyproject = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())
    [torch] = [Requirement(text) for text in pyproject["project"]["dependencies"] if Requirement(text).name == "torch"]
    default_build = Requirement(re.search(r"^TORCH \?= (.+)$", (REPOSITORY / "Makefile").read_text(), re.M).group(1))
    [pinned] = default_build.specifier
    assert torch.specifier.contains(pinned.version)
