"""One run of a suite, in its own process: ``python -m recbole_soft.benchmark.worker OUT RUN_FOLDER``.

``RUN_FOLDER`` (``runs/<label>/seed-<seed>``) and every path in its plan are relative to the results folder ``OUT``;
so are the paths the run writes into ``result.json``.
"""
import json
import os
import sys
from datetime import datetime
from pathlib import Path

from recbole_soft.atomic import write_atomically
from recbole_soft.benchmark.environment import environment
from recbole_soft.benchmark.suite import is_run_file


def run_one(out: Path, folder: Path) -> dict:
    """Train and test the model of ``out/folder/plan.json``, then write ``result.json`` atomically."""
    from recbole_soft.quick_start import run_recbole_soft

    run_folder = out / folder
    plan = json.loads((run_folder / "plan.json").read_text())
    config = {key: resolve_run_file(value, out) if is_run_file(value) else value for key, value in plan["config"].items()}
    config["checkpoint_dir"] = str(out / config["checkpoint_dir"])
    config.setdefault("output_dir", str(run_folder))  # the run's log and TensorBoard events stay with its results
    started = datetime.now().isoformat(timespec="seconds")
    result = run_recbole_soft(plan["model"], plan["dataset"], plan["config_files"], config, command_line=False)
    result = {
        **relative_paths(result, out),
        "plan": plan,
        "environment": environment(),
        "started": started,
        "finished": datetime.now().isoformat(timespec="seconds"),
    }
    text = json.dumps(result, indent=2, default=float)
    write_atomically(run_folder / "result.json", lambda partial: partial.write_text(text))
    return result


def resolve_run_file(reference: dict, out: Path) -> str:
    """The one file or folder matching the reference in that run's folder, as an absolute path."""
    folder = out / reference["from_run"]
    found = sorted(path for path in folder.glob(reference["file"]) if not path.name.endswith((".partial", ".json")))
    if len(found) != 1:
        raise FileNotFoundError(
            f"Expected one '{reference['file']}' in {folder} (written by an earlier row of the suite), found "
            f"{len(found)}: {[path.name for path in found]}. Run that row first, or rerun it with --force."
        )
    return str(found[0].resolve())


def relative_paths(value, root: Path):
    """``value`` with every absolute path string under ``root`` written relative to ``root`` (nested dicts, lists)."""
    if isinstance(value, dict):
        return {key: relative_paths(item, root) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [relative_paths(item, root) for item in value]
    if isinstance(value, str) and os.path.isabs(value):
        path, base = Path(value).resolve(), root.resolve()
        if path.is_relative_to(base):
            return path.relative_to(base).as_posix()
    return value


if __name__ == "__main__":
    run_one(Path(sys.argv[1]), Path(sys.argv[2]))
