"""Files written so that a kill never leaves a half-written one behind: write a side file, then rename it over."""
import os
from collections.abc import Callable
from pathlib import Path


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """``write(side_file)``, then rename the side file to ``path``; a kill before the rename keeps the old ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.partial-{os.getpid()}")
    write(partial)
    partial.replace(path)
