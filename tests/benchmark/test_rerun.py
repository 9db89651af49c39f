import hashlib
import json
import shutil
from pathlib import Path

import pytest

from recbole_soft.benchmark import run_suite
from recbole_soft.benchmark import runner
from recbole_soft.benchmark.__main__ import main
from recbole_soft.benchmark.environment import LOCK_FILE, environment, git_state
from recbole_soft.benchmark.record import plan_config
from recbole_soft.benchmark.report import METRICS
from recbole_soft.benchmark.rerun import chosen_labels, comparison_table, plan_rerun, rebased
from recbole_soft.benchmark.runner import Run
from recbole_soft.errors import InvalidSetting
from tests.benchmark.test_runner import tiny_suite


@pytest.fixture(scope="module")
def tiny_results(tmp_path_factory, data_root, tiny_llm, cache_dir) -> Path:
    """A classical and an LLM row on the tiny dataset, run once as a suite."""
    folder = tmp_path_factory.mktemp("tiny-results")
    llm = f"llm_path: '{tiny_llm}', item_text_field: title, train_sample_num: 8, valid_sample_num: 4, max_new_tokens: 6"
    return run_suite(tiny_suite(folder, data_root, f"  Pop: {{}}\n  BIGRec: {{config: {{{llm}}}}}\n"), folder / "out")


@pytest.fixture
def copied_results(tiny_results, tmp_path) -> Path:
    """The tiny results folder, copied so that a test can change its records."""
    return Path(shutil.copytree(tiny_results, tmp_path / "committed"))


def record_of(folder: Path, label: str) -> dict:
    return json.loads((folder / "runs" / label / "seed-2020" / "record.json").read_text())


def rewrite_record(folder: Path, label: str, change) -> None:
    record = record_of(folder, label)
    change(record)
    (folder / "runs" / label / "seed-2020" / "record.json").write_text(json.dumps(record))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_run_records_every_setting_its_data_code_lock_machine_and_files(tiny_results, data_root):
    record = record_of(tiny_results, "Pop")
    plan = json.loads((tiny_results / "runs" / "Pop" / "seed-2020" / "plan.json").read_text())
    assert set(record["settings"]) == set(plan_config(plan).final_config_dict)  # every key, not only the plan's
    assert record["settings"]["checkpoint_dir"] == "runs/Pop/seed-2020"  # relative to the results folder
    assert record["settings"]["eval_args"]["order"] == "TO"  # a protocol default the plan does not name
    assert record["seed"] == record["settings"]["seed"] == 2020
    assert record["data_files"] == {
        name: {"bytes": (data_root / "tiny" / name).stat().st_size, "sha256": sha256(data_root / "tiny" / name)}
        for name in ("tiny.inter", "tiny.item")
    }
    assert record["environment"]["git"] == git_state()
    assert record["environment"]["lock"]["sha256"] == sha256(LOCK_FILE)
    assert record["environment"]["cpu"] == environment()["cpu"] and record["environment"]["cpu_count"] >= 1
    [(checkpoint, checksum)] = [(name, value) for name, value in record["model_files"].items() if name.endswith(".pth")]
    assert checkpoint.startswith("runs/Pop/seed-2020/Pop-") and checksum["sha256"] == sha256(tiny_results / checkpoint)
    adapter_files = record_of(tiny_results, "BIGRec")["model_files"]
    assert any(name.endswith("adapter_model.safetensors") for name in adapter_files)
    assert str(tiny_results.resolve()) not in (tiny_results / "runs" / "BIGRec" / "seed-2020" / "record.json").read_text()


def test_a_rerun_reproduces_the_rows_and_prints_committed_new_and_difference(tiny_results, tmp_path, capsys):
    out = main(["rerun", str(tiny_results), "--out", str(tmp_path / "again")])
    printed = capsys.readouterr().out
    committed = {row["label"]: row for row in json.loads((tiny_results / "results.json").read_text())}
    new = {row["label"]: row for row in json.loads((out / "results.json").read_text())}
    assert {label: new[label]["mean"][metric] for label in new for metric in METRICS} == {
        label: committed[label]["mean"][metric] for label in new for metric in METRICS}
    assert printed.index(f"Rerunning Pop, BIGRec (seed 2020) of {tiny_results}") < printed.index("| row |")
    lines = [[cell.strip() for cell in line.strip("|").split("|")]
             for line in printed.splitlines() if line.startswith("| ")]
    header = lines[0]
    pop = lines.index(next(cells for cells in lines if cells[:2] == ["Pop", "committed"]))
    for metric in METRICS:  # the committed and the new value as the table prints them, and a zero difference
        column = header.index(metric)
        printed_value = f"{committed['Pop']['mean'][metric]:.4f}"
        assert (lines[pop][column], lines[pop + 1][column], lines[pop + 2][column]) == (printed_value, printed_value, "0")
    assert lines[pop + 1][1] == "new" and lines[pop + 2][1] == "difference" and lines[pop + 2][-1] == "exact"
    bigrec = lines.index(next(cells for cells in lines if cells[:2] == ["BIGRec", "committed"]))
    assert lines[bigrec + 2][-1] in ("exact", "printed digits")  # an LLM row: to the last printed digit
    assert printed[printed.index("| row |"):].strip() in (out / "rerun.md").read_text()


def test_a_rerun_says_before_running_that_the_code_is_another_commit(copied_results, tmp_path, capsys, monkeypatch):
    rewrite_record(copied_results, "Pop", lambda record: record["environment"]["git"].update(commit="0" * 40))

    def run_as_before(run: Run) -> bool:  # instead of a run: the committed result, once the reason was printed
        assert "code: the committed run ran at commit 0000000" in capsys.readouterr().out
        run.folder.mkdir(parents=True)
        shutil.copy(copied_results / "runs" / "Pop" / "seed-2020" / "result.json", run.result_file)
        return True

    monkeypatch.setattr(runner, "execute", run_as_before)
    main(["rerun", str(copied_results), "--rows", "Pop", "--out", str(tmp_path / "again")])
    assert f"this checkout is at {git_state()['commit'][:7]}" in (tmp_path / "again" / "rerun.md").read_text()


def test_changed_settings_data_and_machine_are_named(copied_results, tmp_path, monkeypatch):
    def change(record):
        record["settings"]["learning_rate"] = 0.5
        record["data_files"]["tiny.inter"]["sha256"] = "f" * 64
        record["environment"].update(cpu="Another CPU", gpu=["NVIDIA Imaginary"])

    rewrite_record(copied_results, "Pop", change)
    reasons = "\n".join(plan_rerun(copied_results, ["Pop"], tmp_path / "again").reasons)
    assert "settings: 1 resolve differently now (learning_rate: 0.5 -> 0.001)" in reasons
    assert "data: tiny.inter is not the file the committed run read (sha256 ffffffffffff -> " in reasons
    assert f"machine: CPU Another CPU -> {environment()['cpu']}" in reasons
    assert "machine: GPU NVIDIA Imaginary -> " in reasons
    assert not (tmp_path / "again").exists()  # planning runs nothing


def test_a_folder_made_before_records_reruns_from_its_plans_and_says_what_is_unknown(copied_results, tmp_path):
    for record in copied_results.glob("runs/*/seed-*/record.json"):
        record.unlink()
    rerun = plan_rerun(copied_results, ["Pop"], tmp_path / "again")
    assert [run.plan for run in rerun.runs] == [json.loads((copied_results / "runs/Pop/seed-2020/plan.json").read_text())]
    assert any(reason.startswith("records: the committed run predates record.json") for reason in rerun.reasons)


def test_an_unknown_row_is_refused_with_the_rows_of_the_folder(tiny_results, tmp_path):
    with pytest.raises(InvalidSetting, match=r"has no finished row 'SASRec'; its rows: Pop, BIGRec"):
        plan_rerun(tiny_results, ["SASRec"], tmp_path / "again")


def test_a_row_brings_the_rows_whose_files_it_reuses(tmp_path):
    def run(label: str, config: dict) -> Run:
        return Run(label, 1, tmp_path / "runs" / label / "seed-1", {"config": config})

    runs = [run("SOFT", {}), run("SOFT_10", {"sft_adapter_path": {"from_run": "runs/SOFT/seed-1", "file": "SOFT-*-sft"}}),
            run("Pop", {})]
    assert chosen_labels(tmp_path, runs, ["SOFT_10"]) == {"SOFT_10", "SOFT"}
    assert chosen_labels(tmp_path, runs, None) == {"SOFT", "SOFT_10", "Pop"}


def test_the_comparison_tells_exact_printed_digit_and_real_differences():
    def row(label: str, hit: float) -> dict:
        return {"label": label, "mean": {metric: 0.25 for metric in METRICS} | {"hit@10": hit},
                "std": {metric: None for metric in METRICS}}

    committed = [row("Pop", 0.25), row("SOFT", 0.25), row("BIGRec", 0.25), row("SOFT (α) [SOFT α=10]", 0.25)]
    new = [row("Pop", 0.25), row("SOFT", 0.250001), row("BIGRec", 0.2), row("SOFT (α) [SOFT]", 0.25)]
    differences = [line for line in comparison_table(committed, new).splitlines() if "| difference |" in line]
    assert [line.rsplit(" | ", 1)[1] for line in differences] == ["exact |", "printed digits |", "differs |", "exact |"]
    assert "+0.0000" in differences[1] and "-0.0500" in differences[2]  # new - committed


def test_a_rerun_elsewhere_takes_a_model_trained_in_another_results_folder_from_the_same_place(tmp_path):
    committed, h2h = tmp_path / "results" / "few-shot", tmp_path / "results" / "head-to-head"
    plan = {"config": {"trained_checkpoint": {"from_run": "../head-to-head/runs/SASRec/seed-2020", "file": "SASRec-*.pth"},
                       "prior_checkpoint": {"from_run": "runs/SASRec/seed-2020", "file": "SASRec-*.pth"}, "seed": 2020}}
    for out in (tmp_path / "results" / "few-shot-rerun", tmp_path / "elsewhere" / "deeper" / "rerun"):
        config = rebased(plan, committed, out)["config"]
        assert (out / config["trained_checkpoint"]["from_run"]).resolve() == (h2h / "runs/SASRec/seed-2020").resolve()
        assert config["prior_checkpoint"] == plan["config"]["prior_checkpoint"]  # the rerun's own row
        assert config["seed"] == 2020
