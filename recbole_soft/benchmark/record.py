"""A run's record, ``runs/<label>/seed-<seed>/record.json``: what it takes to rerun it and to tell whether a rerun
can match it. The worker writes it beside the plan, before ``result.json``.

It holds every key of the run's resolved Config (RecBole's defaults, the protocol, the model's and the dataset's
yaml, the plan), the seed, the size and sha256 of each dataset file RecBole read, the environment (commit and
whether the checkout was dirty, the lock file and whether it was in force, packages, CPU, cores, GPUs), and the size
and sha256 of every file the model wrote into its run folder: results folders keep their readable files, and the
checksums stand for the weights they leave out. Paths inside the results folder are relative to it.
"""
import hashlib
import json
import os
from pathlib import Path

from recbole_soft.benchmark.suite import is_run_file
from recbole_soft.trainer.checkpoint import all_settings

RECORD_FILE = "record.json"
SUITE_FILES = {"plan.json", "run.log", "result.json", RECORD_FILE}  # what the suite, not the model, writes there
LOG_FOLDERS = {"log", "log_tensorboard"}


def plan_config(plan: dict, settings: dict | None = None):
    """The Config a run's plan resolves to. ``settings`` are the plan's own with the files of earlier rows resolved,
    as the worker runs them; without them, the plan's settings less those files, which may not exist yet."""
    from recbole_soft.config import Config

    if settings is None:
        settings = {key: value for key, value in plan["config"].items() if not is_run_file(value)}
    return Config(plan["model"], plan["dataset"], plan["config_files"], dict(settings), command_line=False)


def resolved_settings(config, out: Path) -> dict:
    """Every key of ``config`` as a JSON value (enums and devices as their text), paths under ``out`` relative to it."""
    return relative_paths(all_settings(config), out)


def dataset_files(config) -> list[Path]:
    """The atomic files RecBole's loader reads for this run: the interactions (or the ``benchmark_filename`` parts),
    the user and item files where they exist (the LLM models read their titles from the latter), and the
    ``additional_feat_suffix`` files."""
    from recbole_soft.data.validation import atomic_file

    benchmark_parts = config["benchmark_filename"]
    interactions = [f"{part}.inter" for part in benchmark_parts] if benchmark_parts else ["inter"]
    suffixes = [*interactions, "user", "item", *(config["additional_feat_suffix"] or [])]
    return [path for path in (atomic_file(config, suffix) for suffix in suffixes) if path.is_file()]


def model_files(run_folder: Path) -> list[Path]:
    """Every file the model wrote into its run folder: checkpoints, adapters, distilled sets, curves (not logs)."""
    return sorted(
        path for path in run_folder.rglob("*")
        if path.is_file() and path.name not in SUITE_FILES and path.relative_to(run_folder).parts[0] not in LOG_FOLDERS
    )


def checksums(paths: list[Path], root: Path) -> dict[str, dict]:
    """Path relative to ``root`` -> size in bytes and sha256 of each file."""
    return {path.relative_to(root).as_posix(): {"bytes": path.stat().st_size, "sha256": sha256(path)} for path in paths}


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_record(run_folder: Path) -> dict | None:
    """The run's record; None for a run made before suites wrote records."""
    path = run_folder / RECORD_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


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
