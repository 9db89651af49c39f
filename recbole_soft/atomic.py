"""Files and folders written so that a kill never leaves a half-written one behind: write a side copy, then rename
it over."""
import os
import shutil
from collections.abc import Callable
from pathlib import Path


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """``write(side_file)``, then rename the side file to ``path``; a kill before the rename keeps the old ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.partial-{os.getpid()}")
    write(partial)
    partial.replace(path)


def replace_folder_atomically(folder: Path, write: Callable[[Path], None]) -> None:
    """``write(side_folder)``, then swap it in for ``folder``. A folder cannot be renamed over another, so the swap
    takes two renames (``folder`` aside to ``.previous``, the side folder in); a kill between them leaves no
    ``folder``, only its previous version, which ``current_folder`` reads until the next replacement."""
    partial, previous = _beside(folder, "partial"), _beside(folder, "previous")
    shutil.rmtree(partial, ignore_errors=True)
    write(partial)
    if folder.exists():
        shutil.rmtree(previous, ignore_errors=True)  # a kill during the last replacement's cleanup left it
        folder.rename(previous)
    partial.rename(folder)
    shutil.rmtree(previous, ignore_errors=True)


def current_folder(folder: Path) -> Path:
    """``folder``, or its previous version where a kill came between the two renames of its replacement: what to
    read (reading changes nothing on disk)."""
    previous = _beside(folder, "previous")
    return previous if not folder.exists() and previous.is_dir() else folder


def _beside(folder: Path, kind: str) -> Path:
    return folder.with_name(f"{folder.name}.{kind}")
