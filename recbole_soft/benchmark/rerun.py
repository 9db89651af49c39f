"""Rerun rows of a results folder from its own records, and compare the new metrics with the ones it holds.

``python -m recbole_soft.benchmark rerun results/<folder> [--rows LABEL ...] [--out NEW_FOLDER]`` takes the plans
saved in the folder (not the suite file, which may have changed since), for the chosen rows and the rows whose files
they reuse, and runs them as the suite did, one process per run, into a new folder (``<folder>-rerun-<date>``).
Before running it says what can make the numbers differ (another commit, lock, package, CPU, thread count or GPU,
settings that resolve differently now, other data files), from each run's ``record.json`` or, for a folder made
before runs kept records, from what its ``result.json`` recorded. After running it prints, row by row, the committed
metrics, the new ones and their difference, and writes the same to ``rerun.md`` in the new folder.
"""
import json
import os
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from recbole_soft.benchmark.environment import PACKAGES, environment
from recbole_soft.benchmark.record import checksums, dataset_files, plan_config, read_record, resolved_settings
from recbole_soft.benchmark.report import COSTS, cell, columns, digits, heading
from recbole_soft.benchmark.runner import Run, check_runs, run_planned, with_reused_rows
from recbole_soft.benchmark.suite import Suite, SuiteModel, is_run_file
from recbole_soft.errors import InvalidSetting, MissingInput
from recbole_soft.trainer.checkpoint import LOCATION_KEYS, setting_differences

CHOSEN = re.compile(r" \[[^\]]*\]")  # a select row's label names the member chosen per seed


@dataclass(frozen=True)
class Rerun:
    committed: Path
    out: Path
    suite: Suite
    runs: list[Run]  # in the new folder, with the committed plans
    reasons: list[str]  # why the new numbers may differ from the committed ones
    added: list[str]  # rows not asked for, whose files a chosen row reuses

    def describe(self) -> str:
        """What will run where, and what can keep it from matching the committed numbers."""
        labels = list(dict.fromkeys(run.label for run in self.runs))
        seeds = sorted({run.seed for run in self.runs})
        seeds_text = f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}"
        lines = [f"Rerunning {', '.join(labels)} ({seeds_text}) of {self.committed} into {self.out}."]
        if self.added:
            lines.append(f"{', '.join(self.added)} run too: the chosen rows reuse their files.")
        if self.reasons:
            lines.append("The new numbers may differ from the committed ones:")
            lines += [f"- {reason}" for reason in self.reasons]
        else:
            lines.append("Same code, lock, packages, machine, settings and data as the committed runs: every row "
                         "should match.")
        return "\n".join(lines)


def plan_rerun(folder: str | Path, rows: list[str] | None = None, out: str | Path | None = None) -> Rerun:
    """The runs of ``rows`` (default: every finished row) of the results folder, planned into ``out``, checked as a
    suite's runs are, with every reason why their numbers may not match the committed ones."""
    committed = Path(folder)
    recorded = recorded_runs(committed)
    chosen = chosen_labels(committed, recorded, rows)
    out = Path(out) if out is not None else committed.parent / f"{committed.name}-rerun-{date.today().isoformat()}"
    rerun_of = [run for run in recorded if run.label in chosen]
    runs = [Run(run.label, run.seed, out / run.folder.relative_to(committed), rebased(run.plan, committed, out))
            for run in rerun_of]
    check_runs(runs)
    added = [label for label in dict.fromkeys(run.label for run in rerun_of) if rows and label not in rows]
    reasons = why_results_may_differ(rerun_of, environment())
    return Rerun(committed, out, recorded_suite(committed, runs), runs, reasons, added)


def run_rerun(rerun: Rerun) -> str:
    """Run the planned runs (those that finished in the new folder before are kept), report them as a suite does,
    and return the comparison with the committed rows (also written to ``rerun.md``)."""
    run_planned(rerun.suite, rerun.out, rerun.runs)
    table = comparison_table(read_rows(rerun.committed), read_rows(rerun.out))
    (rerun.out / "rerun.md").write_text(f"{rerun.describe()}\n\n{table}", encoding="utf-8")
    return table


def rebased(plan: dict, committed: Path, out: Path) -> dict:
    """``plan`` with each file it takes from another results folder (``from_run`` leaving ``committed``, as a model
    ``trained_checkpoint`` tests) named from ``out`` instead: the same file, wherever the new folder is."""
    def moved(value):
        if not is_run_file(value) or not value["from_run"].startswith(".."):
            return value
        return {**value, "from_run": os.path.relpath(committed / value["from_run"], out)}

    return {**plan, "config": {key: moved(value) for key, value in plan["config"].items()}}


def recorded_runs(committed: Path) -> list[Run]:
    """The folder's finished runs, in the order of its table (the suite's), then by seed."""
    runs = []
    for plan_file in sorted(committed.glob("runs/*/seed-*/plan.json")):
        plan = json.loads(plan_file.read_text(encoding="utf-8"))
        runs.append(Run(plan["label"], plan["config"]["seed"], plan_file.parent, plan))
    finished = [run for run in runs if run.result_file.is_file()]
    if not finished:
        raise MissingInput(
            f"{committed} holds no finished run (runs/<label>/seed-<seed>/ with plan.json and result.json): pass a "
            f"results folder that a benchmark suite wrote."
        )
    order = list(read_described(committed).get("models", {}))
    return sorted(finished, key=lambda run: (order.index(run.label) if run.label in order else len(order), run.seed))


def chosen_labels(committed: Path, runs: list[Run], rows: list[str] | None) -> set[str]:
    """``rows`` and, transitively, the rows whose files they reuse (``from_row`` settings); every row without any."""
    available = list(dict.fromkeys(run.label for run in runs))
    unknown = [row for row in rows or [] if row not in available]
    if unknown:
        raise InvalidSetting(f"{committed} has no finished row {unknown[0]!r}; its rows: {', '.join(available)}.")
    return with_reused_rows(committed, runs, rows or available)


def recorded_suite(committed: Path, runs: list[Run]) -> Suite:
    """The suite as the folder recorded it, for the new folder's report: its rows, dataset and selected rows."""
    described = read_described(committed)
    labels = {run.label: run.plan["model"] for run in runs}
    selections = {label: members for label, members in described.get("select", {}).items()
                  if set(members) <= set(labels)}
    return Suite(
        name=f"{committed.name} rerun",
        dataset=runs[0].plan["dataset"],
        seeds=sorted({run.seed for run in runs}),
        config={},
        models=[SuiteModel(label, model) for label, model in labels.items()],
        path=(committed / described.get("suite", ".")).resolve(),
        selections=selections,
    )


def read_described(folder: Path) -> dict:
    path = folder / "environment.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def read_rows(folder: Path) -> list[dict]:
    path = folder / "results.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []


def why_results_may_differ(runs: list[Run], current: dict) -> list[str]:
    """Every reason found in any run, naming its rows unless it concerns them all."""
    rows_by_reason: dict[str, list[str]] = {}
    for run in runs:
        for reason in run_differences(run, current):
            rows_by_reason.setdefault(reason, [])
            if run.label not in rows_by_reason[reason]:
                rows_by_reason[reason].append(run.label)
    every_row = set(run.label for run in runs)
    return [reason if set(labels) == every_row else f"{reason} (rows: {', '.join(labels)})"
            for reason, labels in rows_by_reason.items()]


def run_differences(run: Run, current: dict) -> list[str]:
    """Why this committed run may not be reproduced here: from its record, or from its result for older folders."""
    record = read_record(run.folder)
    if record is None:
        reasons = ["records: the committed run predates record.json, so its resolved settings and dataset checksums "
                   "are unknown (a changed default or data file would go unnoticed); it reruns from its plan"]
        return reasons + environment_differences(run.result().get("environment"), current)
    config = plan_config(run.plan)
    trained_in = run.plan["config"].get("trained_checkpoint")
    return [
        *([f"training: the committed run tested the model trained in {trained_in['from_run']}; so does the rerun, "
           f"it does not train it again"] if is_run_file(trained_in) else []),
        *environment_differences(record["environment"], current),
        *settings_differences(record["settings"], resolved_settings(config, run.folder.parents[2]), run.plan),
        *data_differences(record["data_files"], checksums(dataset_files(config), Path(config["data_path"]))),
    ]


def environment_differences(recorded: dict | None, current: dict) -> list[str]:
    """Code, packages and machine of the committed run against this checkout and machine."""
    if not recorded or "python" not in recorded:  # a result made outside a suite and moved into its folder
        return ["environment: not recorded (the run was made outside a suite), so its commit, packages and machine "
                "are unknown"]
    return [*_code_differences(recorded.get("git"), current.get("git")),
            *_package_differences(recorded, current), *_machine_differences(recorded, current)]


def _code_differences(recorded: dict | None, current: dict | None) -> list[str]:
    if recorded is None or current is None:
        where = "the committed run" if recorded is None else "this copy of the code"
        return [f"code: {where} has no git commit recorded, so the code cannot be compared"]
    reasons = []
    if recorded["commit"] != current["commit"]:
        reasons.append(f"code: the committed run ran at commit {recorded['commit'][:7]}, this checkout is at "
                       f"{current['commit'][:7]}; any change to the code can change every number")
    if recorded["dirty"]:
        reasons.append(f"code: the committed run's checkout of {recorded['commit'][:7]} had uncommitted changes")
    if current["dirty"]:
        reasons.append("code: this checkout has uncommitted changes")
    return reasons


def _package_differences(recorded: dict, current: dict) -> list[str]:
    reasons = []
    recorded_lock, current_lock = recorded.get("lock"), current.get("lock")
    if recorded_lock and current_lock and recorded_lock["sha256"] != current_lock["sha256"]:
        reasons.append(f"packages: {current_lock['file']} is not the lock file the committed run had")
    if current_lock and not current_lock["in_force"]:
        shown = "; ".join(current_lock["differences"][:3])
        reasons.append(f"packages: the installed packages are not those of {current_lock['file']} ({shown}); "
                       f"`make install` installs them")
    versions, now = recorded.get("packages", {}), current.get("packages", {})
    changed = [f"{name} {versions.get(name)} -> {now.get(name)}"
               for name in PACKAGES if versions.get(name) != now.get(name)]
    if changed:
        reasons.append(f"packages: {', '.join(changed)}")
    return reasons


def _machine_differences(recorded: dict, current: dict) -> list[str]:
    reasons = []
    if recorded.get("cpu") != current.get("cpu"):
        reasons.append(f"machine: CPU {recorded.get('cpu')} -> {current.get('cpu')}; other vector instructions sum in "
                       f"another order, which can change the last digits")
    cores = ("cpu_count", "torch_threads")
    if [recorded.get(key) for key in cores] != [current.get(key) for key in cores]:
        reasons.append(f"machine: {recorded.get('cpu_count')} cores and {recorded.get('torch_threads')} torch threads "
                       f"-> {current.get('cpu_count')} and {current.get('torch_threads')}; threads split sums "
                       f"differently")
    if (recorded.get("gpu") or []) != (current.get("gpu") or []):
        reasons.append(f"machine: {_devices(recorded.get('gpu'))} -> {_devices(current.get('gpu'))}; CUDA kernels, and "
                       f"the LLMs' 4-bit quantisation on CUDA, give other numbers than the CPU")
    if recorded.get("python") != current.get("python"):
        reasons.append(f"machine: Python {recorded.get('python')} -> {current.get('python')}")
    return reasons


def _devices(gpus: list[str] | None) -> str:
    return f"GPU {', '.join(gpus)}" if gpus else "CPU only"


def settings_differences(recorded: dict, now: dict, plan: dict) -> list[str]:
    """Settings that resolve differently now (another default, another yaml), less locations and other rows' files,
    whose names carry the time they were written."""
    ignored = LOCATION_KEYS | {key for key, value in plan["config"].items() if is_run_file(value)}
    changed = setting_differences(
        {key: value for key, value in recorded.items() if key not in ignored},
        {key: value for key, value in now.items() if key not in ignored},
    )
    if not changed:
        return []
    shown = "; ".join(changed[:4]) + ("; ..." if len(changed) > 4 else "")
    return [f"settings: {len(changed)} resolve differently now ({shown})"]


def data_differences(recorded: dict, now: dict) -> list[str]:
    reasons = []
    for name in sorted({*recorded, *now}):
        if name not in now:
            reasons.append(f"data: {name}, which the committed run read, is missing")
        elif name not in recorded:
            reasons.append(f"data: {name} is read now, but the committed run did not read it")
        elif recorded[name]["sha256"] != now[name]["sha256"]:
            reasons.append(f"data: {name} is not the file the committed run read (sha256 "
                           f"{recorded[name]['sha256'][:12]} -> {now[name]['sha256'][:12]})")
    return reasons


def comparison_table(committed: list[dict], new: list[dict]) -> str:
    """Per new row: the committed metrics, the new ones and new - committed. ``match`` says whether every metric is
    equal (``exact``), equal as printed (``printed digits``) or not (``differs``)."""
    before = {CHOSEN.sub("", row["label"]): row for row in committed}
    pairs = [(before.get(CHOSEN.sub("", row["label"])), row) for row in new]
    compared = [row for pair in pairs for row in pair if row is not None]
    shown = [column for column in columns(compared) if column not in COSTS]
    lines = ["| row | | " + " | ".join(heading(column) for column in shown) + " | match |",
             "|" + "---|" * (len(shown) + 3)]
    for old, row in pairs:
        lines.append(f"| {row['label']} | committed | " + " | ".join(_cells(old, shown)) + " | |")
        lines.append("| | new | " + " | ".join(_cells(row, shown)) + " | |")
        lines.append("| | difference | " + " | ".join(_difference(old, row, column) for column in shown)
                     + f" | {_match(old, row, shown)} |")
    return "\n".join(lines) + "\n"


def _cells(row: dict | None, shown: list[str]) -> list[str]:
    return [cell(row, column) if row is not None else "–" for column in shown]


def _difference(old: dict | None, row: dict, column: str) -> str:
    if old is None or column not in old["mean"] or column not in row["mean"]:
        return "–"
    difference = row["mean"][column] - old["mean"][column]
    return "0" if difference == 0 else f"{difference:+.{digits(column)}f}"


def _match(old: dict | None, row: dict, shown: list[str]) -> str:
    if old is None:
        return "not in the committed table"
    if all(old["mean"].get(column) == row["mean"].get(column) for column in shown):
        return "exact"
    if all(cell(old, column) == cell(row, column) for column in shown):
        return "printed digits"
    return "differs"
