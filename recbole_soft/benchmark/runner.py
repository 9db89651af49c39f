"""Run a suite: every model and seed in its own process, finished runs skipped, then one report for all of them.

Each run lives in ``OUT/runs/<label>/seed-<seed>/``: ``plan.json`` (what it runs), ``run.log`` (its output), the
model's checkpoints, ``record.json`` (its resolved settings, data checksums, commit, lock and machine: see
``record.py``) and ``result.json``, written last and atomically, so a run counts as finished only if it ended.
A separate process per run keeps peak memory per model honest and lets a killed suite resume where it stopped.
Paths in plans and results are relative to ``OUT``, so a results folder means the same on any machine. A row run
again with ``--force`` moves its earlier files to ``OUT/replaced/`` first.
"""
import json
import logging
import os
import subprocess
import sys
from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import date, datetime
from logging import getLogger
from pathlib import Path
from time import perf_counter

from recbole.utils.argument_list import training_arguments
from tqdm import tqdm

from recbole_soft.benchmark.environment import environment
from recbole_soft.benchmark.record import checksums, dataset_files, plan_config, read_record
from recbole_soft.benchmark.report import summarise, write_report
from recbole_soft.benchmark.suite import Suite, SuiteError, is_reference, is_run_file
from recbole_soft.registry import is_llm_model
from recbole_soft.settings import prior_names
from recbole_soft.trainer.checkpoint import RESUME_NEUTRAL_KEYS, all_settings, setting_differences


@dataclass(frozen=True)
class Run:
    label: str
    seed: int
    folder: Path
    plan: dict

    @property
    def result_file(self) -> Path:
        return self.folder / "result.json"

    @property
    def log_file(self) -> Path:
        return self.folder / "run.log"

    def result(self) -> dict | None:
        return json.loads(self.result_file.read_text()) if self.result_file.is_file() else None


def default_out(suite: Suite) -> Path:
    return Path("results") / f"{suite.name}-{date.today().isoformat()}"


def file_settings_for(model_name: str, file_settings: dict) -> dict:
    """What of ``file_settings`` (the suite's ``--config_files``) a row of ``model_name`` takes: all of it for an
    LLM model, all but RecBole's training settings (``training_arguments``) for a classical one: a file's budget
    (properties/gpu.yaml: the paper's epochs, learning rate, 8-bit optimiser) is meant for the LLM rows, and the
    classical rows keep RecBole's usual one."""
    if is_llm_model(model_name):
        return file_settings
    return {key: value for key, value in file_settings.items() if key not in training_arguments}


def plan_runs(
    suite: Suite, out: Path, seeds: list[int], overrides: dict, forced: Collection[str] = (),
    file_settings: dict | None = None,
) -> list[Run]:
    """One run per model and seed, with everything it needs to start in a fresh process.

    Precedence, as in one RecBole run (files < config dict): ``file_settings`` (``file_settings_for`` each row) <
    the suite's settings and the row's own < ``overrides`` (the command line, every row). A model killed with the
    suite continues where it stopped (``resume``), unless its row is ``forced`` to start anew.
    """
    runs = []
    for model in suite.models:
        for seed in seeds:
            folder = out / "runs" / model.folder_name / f"seed-{seed}"
            checkpoint_dir = folder.relative_to(out).as_posix()  # the worker resolves it against OUT
            config = {**file_settings_for(model.model, file_settings or {}), **suite.run_config(model), **overrides,
                      "seed": seed, "checkpoint_dir": checkpoint_dir}
            config = {key: run_reference(value, suite, seed) if is_reference(value) else value
                      for key, value in config.items()}
            config.setdefault("show_progress", False)
            config.setdefault("resume", model.label not in forced)
            plan = {
                "label": model.label,
                "model": model.model,
                "dataset": suite.dataset,
                "config_files": [],
                "config": config,
            }
            runs.append(Run(model.label, seed, folder, plan))
    return runs


def run_reference(reference: dict, suite: Suite, seed: int) -> dict:
    """A ``from_row`` setting as the run folder (relative to OUT) and file pattern the worker resolves."""
    row = next(model for model in suite.models if model.label == reference["from_row"])
    return {"from_run": f"runs/{row.folder_name}/seed-{seed}", "file": reference["file"]}


def trained_earlier(
    runs: list[Run], out: Path, folder: Path, forced: Collection[str] = (),
) -> tuple[list[Run], list[str]]:
    """``runs``, each classical run still to train planned to test the model its row trained in the results folder
    ``folder`` instead (``recbole_soft/trained_model.py``): same label and seed, finished there with the same
    resolved training settings and data files. Also returns, per run not taken, why: the suite log says it."""
    if not (folder / "runs").is_dir():
        raise SuiteError(f"--trained_in {folder} is not a results folder of a suite (it has no runs/ folder).")
    planned, notes = [], []
    for run in runs:
        earlier = folder / run.folder.relative_to(out)
        to_train = run.label in forced or run.result() is None
        if is_llm_model(run.plan["model"]) or not to_train or not (earlier / "result.json").is_file():
            planned.append(run)
            continue
        refused = why_not_taken(run, earlier, fresh=run.label in forced)
        if refused:
            notes.append(f"{run.label} (seed {run.seed}) trains: the model of {earlier} is not taken, {refused}")
            planned.append(run)
            continue
        reference = {"from_run": os.path.relpath(earlier, out), "file": f"{run.plan['model']}-*.pth"}
        planned.append(replace(run, plan={**run.plan, "config": {**run.plan["config"], "trained_checkpoint": reference}}))
    return planned, notes


def why_not_taken(run: Run, earlier: Path, fresh: bool) -> str | None:
    """Why the finished run in the folder ``earlier`` cannot stand for ``run``'s training; None if it can. Unless the
    run starts ``fresh`` (forced: its files are set aside first), a training it began itself is continued instead."""
    from recbole_soft.trained_model import training_differences

    model = run.plan["model"]
    trained = list(earlier.glob(f"{model}-*.pth"))
    if len(trained) != 1:
        return f"as it holds {len(trained)} {model}-*.pth files, not one"
    own_files = [*run.folder.glob(f"{model}-*.pth"), *run.folder.glob(f"{model}-*.resume.pt")]
    if not fresh and any(path.name != trained[0].name for path in own_files):
        return f"as {run.folder} holds a training of its own, which continues"
    record = read_record(earlier)
    if record is None:
        return "as it has no record.json of its settings and data"
    config = plan_config(run.plan)
    differences = training_differences(model, record["settings"], all_settings(config))
    if differences:
        return f"as it was trained with other settings ({'; '.join(differences)})"
    if record["data_files"] != checksums(dataset_files(config), Path(config["data_path"])):
        return "as it was trained on other data files (their checksums differ)"
    return None


def check_runs(runs: list[Run], forced: Collection[str] = ()) -> None:
    """Fail before anything trains: bad settings, missing data or titles, or finished runs made with other settings."""
    from recbole_soft.quick_start import check_inputs

    for key in PROTOCOL_KEYS:
        if len({protocol_value(run.plan, key) for run in runs}) > 1:
            raise SuiteError(f"{key} must be the same for every model of a suite: one table, one protocol.")
    checked = set()
    for run in runs:
        if run.label not in checked:
            checked.add(run.label)
            try:
                check_inputs(plan_config(run.plan))
            except (ValueError, FileNotFoundError) as error:
                raise SuiteError(f"Model '{run.label}' cannot run: {error}") from None
        finished = run.result()
        changed = setting_differences(_comparable(finished["plan"]), _comparable(run.plan)) if finished else []
        if changed and run.label not in forced:
            raise SuiteError(
                f"{run.result_file} was made with other settings than the suite now asks for ({', '.join(changed)}). "
                f"Rerun it with --force, or write to another --out."
            )


PROTOCOL_KEYS = ("exclude_history", "test_user_num")  # what every model of one table must share


def protocol_value(plan: dict, key: str):
    """A protocol setting of the run (the protocol's default, False or ~, when the suite does not set it)."""
    return plan["config"].get(key) or None


def protocol_title(plan: dict) -> str:
    """How the table's models were tested, for its title."""
    masking = "earlier items excluded" if protocol_value(plan, "exclude_history") else "earlier items not excluded"
    users = protocol_value(plan, "test_user_num")
    return f"all items ranked ({masking}), " + (f"test split of {users:,} seeded users" if users else "test split")


# a run tested from a model its row trained in another folder gives that row's results: it compares as trained here
HOW_TRAINED_KEYS = {"trained_checkpoint"}


def _comparable(plan: dict) -> dict:
    """A plan as one flat mapping, without what does not change results (where it ran, whether it resumed)."""
    settings = {key: value for key, value in plan["config"].items() if key not in {*RESUME_NEUTRAL_KEYS, *HOW_TRAINED_KEYS}}
    config_files = [Path(file).name for file in plan["config_files"]]
    return {**settings, "model": plan["model"], "dataset": plan["dataset"], "config_files": config_files}


def execute(run: Run) -> bool:
    """Run one model in a fresh Python process; True if it finished and wrote its result."""
    run.folder.mkdir(parents=True, exist_ok=True)
    (run.folder / "plan.json").write_text(json.dumps(run.plan, indent=2))
    out = run.folder.parents[2]  # OUT/runs/<label>/seed-<seed>
    command = [sys.executable, "-m", "recbole_soft.benchmark.worker", str(out.resolve()), run.folder.relative_to(out).as_posix()]
    with open(run.log_file, "w", encoding="utf-8") as log:
        log.write(" ".join(command) + "\n")
        log.flush()
        process = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT)
    return process.returncode == 0 and run.result_file.is_file()


def run_suite(
    suite: Suite, out: str | Path | None = None, seeds: list[int] | None = None, force: bool = False,
    overrides: dict | None = None, rows: list[str] | None = None, trained_in: str | Path | None = None,
    file_settings: dict | None = None,
) -> Path:
    """Run every model of ``suite`` that has not finished in ``out`` and report them all.

    ``overrides`` apply to every model (e.g. ``{"llm_path": ...}``); ``file_settings`` (read from settings files)
    apply under each row's own settings, RecBole's training budget among them to the LLM rows only
    (``file_settings_for``). ``rows`` (model or ``select`` labels) runs only
    those rows and the rows whose files they reuse; the report still shows every finished row. ``force`` runs the
    asked rows (default: all) again, not the finished rows they reuse. ``trained_in`` (another results folder): a
    classical row that finished there with the same training settings is tested, not trained again
    (``trained_earlier``). Returns the results folder.
    """
    out = Path(out) if out is not None else default_out(suite)
    asked = asked_rows(suite, rows)
    forced = set(asked) if force else set()
    runs = plan_runs(suite, out, seeds or suite.seeds, overrides or {}, forced, file_settings)
    notes = []
    if trained_in is not None:
        runs, notes = trained_earlier(runs, out, Path(trained_in), forced)
    check_runs(runs, forced)
    check_forced_readers(out, runs, forced)
    return run_planned(suite, out, runs, with_reused_rows(out, runs, asked), forced, notes)


def check_forced_readers(out: Path, runs: list[Run], forced: Collection[str]) -> None:
    """Refuse to run a row again whose files (an adapter, a prior's checkpoint) a finished row that is not run again
    read: that row would keep results made from the files the forced row replaces."""
    label_of_folder = _label_of_folder(out, runs)
    readers = {}
    for run in runs:
        if run.label not in forced and run.result() is not None:
            for source in _rows_read(run, label_of_folder):
                if source in forced:
                    readers.setdefault(run.label, source)
    if readers:
        named = ", ".join(f"'{label}' (reads '{source}')" for label, source in readers.items())
        raise SuiteError(
            f"--force would replace files that finished rows read: {named}. Run them again too (name them in "
            f"--rows), or they keep results made from the replaced files."
        )


def asked_rows(suite: Suite, rows: list[str] | None) -> list[str]:
    """The model rows ``rows`` names, a ``select`` label standing for its members; every row when None."""
    labels = [model.label for model in suite.models]
    if rows is None:
        return labels
    unknown = [row for row in rows if row not in labels and row not in suite.selections]
    if unknown:
        raise SuiteError(f"Suite {suite.path} has no row {unknown[0]!r}; its rows: {', '.join([*labels, *suite.selections])}.")
    return list(dict.fromkeys(member for row in rows for member in suite.selections.get(row, [row])))


def with_reused_rows(out: Path, runs: list[Run], rows: list[str]) -> set[str]:
    """``rows`` and, transitively, the rows whose files they reuse (``from_row`` settings, resolved against ``out``)."""
    label_of_folder = _label_of_folder(out, runs)
    chosen, pending = set(rows), list(rows)
    while pending:
        label = pending.pop()
        for run in runs:
            if run.label == label:
                for reused in _rows_read(run, label_of_folder) - chosen:
                    chosen.add(reused)
                    pending.append(reused)
    return chosen


def _label_of_folder(out: Path, runs: list[Run]) -> dict[str, str]:
    """Each run's folder, as a ``from_run`` names it, and its row."""
    return {run.folder.relative_to(out).as_posix(): run.label for run in runs}


def _rows_read(run: Run, label_of_folder: dict[str, str]) -> set[str]:
    """The rows of the suite whose files ``run`` reads (its ``from_row`` settings)."""
    return {label_of_folder[value["from_run"]] for value in run.plan["config"].values()
            if is_run_file(value) and value["from_run"] in label_of_folder}


def run_planned(
    suite: Suite, out: Path, runs: list[Run], rows: Collection[str] | None = None, forced: Collection[str] = (),
    notes: list[str] = (),
) -> Path:
    """Run every planned run of ``rows`` (default: all) that has not finished in ``out`` (or whose row is
    ``forced``), each in its own process, rewriting the report of every finished run after each; ``suite.log`` says
    what ran, what was kept and what failed, after the planning's ``notes``."""
    out.mkdir(parents=True, exist_ok=True)
    logger = getLogger()
    handler = _log_to(out / "suite.log")
    failed, kept, started = [], 0, perf_counter()
    try:
        for note in notes:
            logger.info(note)
        report(suite, out, runs)
        asked = [run for run in runs if rows is None or run.label in rows]
        progress = tqdm(asked, desc=f"suite {suite.name}", unit="run")
        for run in progress:
            progress.set_postfix_str(f"{run.label} seed {run.seed}")
            if run.result_file.is_file() and run.label not in forced:
                logger.info(f"{run.label} (seed {run.seed}): finished before, kept ({run.result_file})")
                kept += 1
                continue
            if run.label in forced and (replaced := set_aside(run, out)) is not None:
                logger.info(f"{run.label} (seed {run.seed}): the earlier run's files moved to {replaced}")
            trained_in = run.plan["config"].get("trained_checkpoint")
            testing = f", testing the model trained in {trained_in['from_run']}" if is_run_file(trained_in) else ""
            logger.info(f"{run.label} (seed {run.seed}): running{testing}, log in {run.log_file}")
            if not execute(run):
                failed.append(run)
                logger.error(f"{run.label} (seed {run.seed}) failed; its output is in {run.log_file}")
            report(suite, out, runs)
        outcome = f"{len(failed)} of {len(asked)} runs failed" if failed else f"all {len(asked)} runs finished ({kept} kept from before)"
        logger.info(f"suite {suite.name}: {outcome} in {perf_counter() - started:.0f} s; report in {out}")
    finally:
        logger.removeHandler(handler)
        handler.close()
    if failed:
        raise RuntimeError(
            "Runs failed (the others are in the report): "
            + "; ".join(f"{run.label} seed {run.seed}: see {run.log_file}" for run in failed)
        )
    return out


def set_aside(run: Run, out: Path) -> Path | None:
    """Move the files of an earlier run of a forced row to ``OUT/replaced/<label>/seed-<seed>-<time>/``: the new run
    starts from an empty folder (a row that reuses its checkpoint finds exactly one), and nothing saved is lost.
    None when there was nothing to move."""
    if not run.folder.is_dir() or not any(run.folder.iterdir()):
        return None
    moved = datetime.now().strftime("%Y-%m-%dT%H-%M-%S-%f")
    target = out / "replaced" / run.folder.parent.name / f"{run.folder.name}-{moved}"
    target.parent.mkdir(parents=True, exist_ok=True)
    run.folder.rename(target)
    return target


def report(suite: Suite, out: Path, runs: list[Run]) -> list[Path]:
    """The table, CSV, JSON and chart of every finished run, and the environment and settings they ran with."""
    by_label: dict[str, dict[int, dict]] = {}
    for run in runs:
        result = run.result()
        if result is not None:
            by_label.setdefault(run.label, {})[run.seed] = result
    plans = {run.label: run.plan for run in runs}
    rows = [row for label, results in by_label.items() for row in model_rows(label, plans[label], results)]
    rows += [row for label, members in suite.selections.items() if all(member in by_label for member in members)
             for row in selected_rows(label, members, plans, by_label)]
    paths = write_report(out, f"{suite.name}: {suite.dataset}, {protocol_title(runs[0].plan)}", rows) if rows else []
    described = {
        "suite": os.path.relpath(suite.path, out),
        "dataset": suite.dataset,
        "select": suite.selections,  # a rerun of this folder rebuilds its selected rows
        "report_environment": environment(),
        "models": {
            label: {
                "plan": plans[label],
                "environment": {seed: result.get("environment") for seed, result in results.items()},
            }
            for label, results in by_label.items()
        },
    }
    (out / "environment.json").write_text(json.dumps(described, indent=2))
    return [*paths, out / "environment.json"]


def model_rows(label: str, plan: dict, results: dict[int, dict]) -> list[dict]:
    """The row of a model; a model ranked with priors gives more from the same runs: the LLM alone (its scores
    before any prior, measured in the same evaluation pass) as ``label``, then ``label + <prior> prior`` for each
    prior in order (the first is the runs' test result, the others were measured beside it, shown when every seed
    measured them)."""
    names = prior_labels(plan, results)
    if not names:
        return [summarise(label, plan["model"], results)]
    rows = [summarise(label, plan["model"], with_test_result(results, llm_alone))]
    rows.append(summarise(f"{label} + {names[0]} prior", plan["model"], results))
    for name in names[1:]:
        beside = with_test_result(results, lambda result: {**result["test_result"], **result["result_with_prior"][name]})
        rows.append(summarise(f"{label} + {name} prior", plan["model"], beside))
    return rows


def with_test_result(results: dict[int, dict], test_result) -> dict[int, dict]:
    """``results`` with each seed's ``test_result`` replaced by ``test_result(result)``."""
    return {seed: {**result, "test_result": test_result(result)} for seed, result in results.items()}


def prior_labels(plan: dict, results: dict[int, dict]) -> list[str]:
    """The names of the runs' priors, the first first, the others where every seed measured them: as the results
    name them ("SASRec" for a model prior), else as their settings do (results saved before several priors could be
    named)."""
    first = next(iter(results.values()))
    named = first.get("priors") or list(prior_names(first.get("plan", plan)["config"].get("prior", "none")))
    return [name for index, name in enumerate(named)
            if index == 0 or all(name in result.get("result_with_prior", {}) for result in results.values())]


def selected_rows(label: str, members: list[str], plans: dict, by_label: dict[str, dict[int, dict]]) -> list[dict]:
    """Per seed, the result of the member with the best validation score (the test split is never consulted), as
    ``model_rows`` reports it; ``chosen`` names the member per seed."""
    seeds = set.intersection(*(set(by_label[member]) for member in members))
    if not seeds:  # the members finished on different seeds so far: nothing to choose between yet
        return []
    chosen = {}
    for seed in sorted(seeds):
        results = {member: by_label[member][seed] for member in members}
        bigger = next(iter(results.values()))["valid_score_bigger"]
        pick = max if bigger else min
        chosen[seed] = pick(results, key=lambda member: results[member]["best_valid_score"])
    named = f"{label} [{', '.join(sorted(set(chosen.values())))}]"
    rows = model_rows(named, plans[members[0]], {seed: by_label[chosen[seed]][seed] for seed in chosen})
    return [{**row, "chosen": chosen} for row in rows]


def llm_alone(result: dict) -> dict:
    """The test metrics of the LLM's own scores: measured beside the prior, or (results saved before the LLM alone
    was always measured) the test result when γ = 0 was chosen."""
    return {**result["test_result"], **result.get("result_without_prior", {})}


def _log_to(path: Path) -> logging.Handler:
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger = getLogger()
    logger.addHandler(handler)
    if not logger.isEnabledFor(logging.INFO):
        logger.setLevel(logging.INFO)
    return handler
