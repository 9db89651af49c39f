"""One run of a suite, in its own process: ``python -m recbole_soft.benchmark.worker OUT RUN_FOLDER``.

``RUN_FOLDER`` (``runs/<label>/seed-<seed>``) and every path in its plan are relative to the results folder ``OUT``;
so are the paths the run writes into ``record.json`` and ``result.json``.
"""
import json
import os
import sys
from datetime import datetime
from pathlib import Path

from recbole_soft.atomic import write_atomically
from recbole_soft.benchmark.environment import environment
from recbole_soft.benchmark.record import (
    RECORD_FILE, checksums, dataset_files, model_files, plan_config, relative_paths, resolved_settings,
)
from recbole_soft.benchmark.suite import is_run_file
from recbole_soft.compat import stop_with_parent


def run_one(out: Path, folder: Path) -> dict:
    """Train and test the model of ``out/folder/plan.json``, write its ``record.json``, then ``result.json``
    atomically (the sign that the run finished)."""
    from recbole_soft.quick_start import run_recbole_soft

    run_folder = out / folder
    plan = json.loads((run_folder / "plan.json").read_text())
    config = {key: resolve_run_file(value, out) if is_run_file(value) else value for key, value in plan["config"].items()}
    config["checkpoint_dir"] = str(out / config["checkpoint_dir"])
    config.setdefault("output_dir", str(run_folder))  # the run's log and TensorBoard events stay with its results
    resolved = plan_config(plan, config)  # the Config run_recbole_soft builds from the same arguments
    data_files = checksums(dataset_files(resolved), Path(resolved["data_path"]))
    started = datetime.now().isoformat(timespec="seconds")
    result = run_recbole_soft(plan["model"], plan["dataset"], plan["config_files"], config, command_line=False)
    finished = datetime.now().isoformat(timespec="seconds")
    measured_on = environment()
    record = {
        "label": plan["label"],
        "model": plan["model"],
        "dataset": plan["dataset"],
        "seed": resolved["seed"],
        "settings": with_trained_checkpoint_relative(resolved_settings(resolved, out), out),
        "data_files": data_files,
        "environment": measured_on,
        "model_files": checksums(model_files(run_folder), out),
        "started": started,
        "finished": finished,
    }
    (run_folder / RECORD_FILE).write_text(json.dumps(record, indent=2), encoding="utf-8")
    result = {
        **with_trained_checkpoint_relative(relative_paths(result, out), out),
        "plan": plan,
        "environment": measured_on,
        "started": started,
        "finished": finished,
    }
    text = json.dumps(result, indent=2, default=float)
    write_atomically(run_folder / "result.json", lambda partial: partial.write_text(text))
    return result


def with_trained_checkpoint_relative(settings: dict, out: Path) -> dict:
    """``settings`` with ``trained_checkpoint`` (a model another results folder holds) relative to ``out`` too."""
    if not settings.get("trained_checkpoint"):
        return settings
    return {**settings, "trained_checkpoint": Path(os.path.relpath(settings["trained_checkpoint"], out)).as_posix()}


def resolve_run_file(reference: dict, out: Path) -> str:
    """The one file or folder matching the reference in that run's folder, as an absolute path."""
    folder = out / reference["from_run"]
    found = sorted(path for path in folder.glob(reference["file"])
                   if ".partial" not in path.name and not path.name.endswith(".json"))  # nor what a kill left
    if len(found) != 1:
        raise FileNotFoundError(
            f"Expected one '{reference['file']}' in {folder} (written by an earlier row of the suite), found "
            f"{len(found)}: {[path.name for path in found]}. Run that row first, or rerun it with --force."
        )
    return str(found[0].resolve())


if __name__ == "__main__":
    stop_with_parent()
    run_one(Path(sys.argv[1]), Path(sys.argv[2]))
