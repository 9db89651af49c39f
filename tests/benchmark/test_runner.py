import json

import pytest

from recbole_soft.benchmark import SuiteError, load_suite, run_suite
from recbole_soft.benchmark import runner
from recbole_soft.benchmark.report import METRICS
from tests.benchmark.test_suite import REQUIRED_MODELS, SUITES

ARTEFACTS = ["table.md", "table.csv", "results.json", "scores.png", "environment.json", "suite.log"]
LLM_MODELS = {"ICL", "BIGRec", "BIGRec + popularity", "SOFT", "SOFT + popularity", "SOFT w/o SA", "DMPO"}


@pytest.fixture(scope="module")
def quick_results(tmp_path_factory, cache_dir):
    """The shipped quick suite, run once: every model on 16 ml-100k users with the embedded LLM."""
    return run_suite(load_suite(SUITES / "quick.yaml"), tmp_path_factory.mktemp("quick"))


def tiny_suite(tmp_path, data_root, models: str, seeds: str = "[2020]"):
    text = (
        f"dataset: tiny\nseeds: {seeds}\n"
        f"config: {{data_path: '{data_root}', load_col: {{inter: [user_id, item_id, timestamp]}}, epochs: 1, "
        f"train_batch_size: 64, state: WARNING}}\nmodels:\n{models}"
    )
    path = tmp_path / "tiny-suite.yaml"
    path.write_text(text)
    return load_suite(path)


def test_the_quick_suite_writes_every_artefact(quick_results):
    assert all((quick_results / name).is_file() for name in ARTEFACTS)
    for run_folder in (quick_results / "runs").glob("*/seed-2020"):
        assert {"plan.json", "run.log", "result.json"} <= {path.name for path in run_folder.iterdir()}
    environment = json.loads((quick_results / "environment.json").read_text())
    assert set(environment["models"]) == REQUIRED_MODELS
    assert environment["report_environment"]["packages"]["recbole"] == "1.2.1"
    assert environment["models"]["SOFT w/o SA"]["plan"]["config"]["curriculum"] == "none"


def test_the_quick_suite_table_has_one_row_per_model_with_every_metric(quick_results):
    rows = json.loads((quick_results / "results.json").read_text())
    assert [row["label"] for row in rows] == [model.label for model in load_suite(SUITES / "quick.yaml").models]
    for row in rows:
        assert set(METRICS) <= set(row["mean"]) and all(0 <= row["mean"][metric] <= 1 for metric in METRICS)
        assert row["mean"]["train_time_s"] >= 0 and row["mean"]["peak_memory_mb"] > 0
        assert ("pairwise_auc" in row["mean"]) == (row["label"] in LLM_MODELS)
    table = (quick_results / "table.md").read_text().splitlines()
    assert "all items ranked (earlier items excluded)" in table[0]
    assert len(table) == 4 + len(rows) and all(f"| {row['label']} | 1 |" in "\n".join(table) for row in rows)


def test_a_finished_suite_is_not_run_again(quick_results, monkeypatch):
    before = (quick_results / "results.json").read_text()
    monkeypatch.setattr(runner, "execute", lambda run: pytest.fail(f"{run.label} ran again"))
    run_suite(load_suite(SUITES / "quick.yaml"), quick_results)
    assert (quick_results / "results.json").read_text() == before
    assert "finished before, kept" in (quick_results / "suite.log").read_text()


def test_finished_results_made_with_other_settings_are_not_mixed_in(quick_results, monkeypatch):
    monkeypatch.setattr(runner, "execute", lambda run: pytest.fail(f"{run.label} ran"))
    with pytest.raises(SuiteError, match=r"other settings.*train_sample_num: 8 -> 4.*--force"):
        run_suite(load_suite(SUITES / "quick.yaml"), quick_results, overrides={"train_sample_num": 4})


def test_several_seeds_are_run_and_reported_as_mean_and_std(tmp_path, data_root):
    out = run_suite(tiny_suite(tmp_path, data_root, "  GRU4Rec: {}\n"), tmp_path / "out", seeds=[1, 2])
    (row,) = json.loads((out / "results.json").read_text())
    assert row["seeds"] == [1, 2] and row["std"]["ndcg@10"] is not None
    assert sorted(path.name for path in (out / "runs" / "GRU4Rec").iterdir()) == ["seed-1", "seed-2"]
    assert " ± " in (out / "table.md").read_text()


def test_force_runs_a_finished_model_again(tmp_path, data_root):
    suite = tiny_suite(tmp_path, data_root, "  Pop: {}\n")
    out = run_suite(suite, tmp_path / "out")
    result_file = out / "runs" / "Pop" / "seed-2020" / "result.json"
    first = json.loads(result_file.read_text())
    result_file.write_text(json.dumps({**first, "finished": "earlier"}))
    run_suite(suite, out, force=True)
    assert json.loads(result_file.read_text())["finished"] != "earlier"


def test_a_failing_model_does_not_stop_the_others_and_is_reported(tmp_path, data_root):
    suite = tiny_suite(tmp_path, data_root, "  Broken: {model: GRU4Rec, config: {embedding_size: -1}}\n  Pop: {}\n")
    with pytest.raises(RuntimeError, match=r"Broken seed 2020: see .*Broken/seed-2020/run.log"):
        run_suite(suite, tmp_path / "out")
    rows = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [row["label"] for row in rows] == ["Pop"]
    assert "Traceback" in (tmp_path / "out" / "runs" / "Broken" / "seed-2020" / "run.log").read_text()


@pytest.mark.parametrize(
    "models, message",
    [
        ("  SASRec: {config: {data_path: /no/such/folder}}\n", r"Model 'SASRec' cannot run: Dataset 'tiny' not found"),
        ("  BIGRec: {config: {item_text_field: name}}\n", r"Model 'BIGRec' cannot run: .*item_text_field='name'"),
        ("  SOFT: {config: {num_beams: 0}}\n", r"Model 'SOFT' cannot run: .*num_beams"),
    ],
)
def test_a_suite_that_cannot_run_fails_before_any_training(tmp_path, data_root, models, message, monkeypatch):
    monkeypatch.setattr(runner, "execute", lambda run: pytest.fail(f"{run.label} ran"))
    with pytest.raises(SuiteError, match=message):
        run_suite(tiny_suite(tmp_path, data_root, "  Pop: {}\n" + models), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_plans_and_results_hold_paths_relative_to_the_results_folder(tmp_path, data_root):
    out = run_suite(tiny_suite(tmp_path, data_root, "  Pop: {}\n"), tmp_path / "out")
    run_folder = out / "runs" / "Pop" / "seed-2020"
    plan = json.loads((run_folder / "plan.json").read_text())
    result_text = (run_folder / "result.json").read_text()
    result = json.loads(result_text)
    assert plan["config"]["checkpoint_dir"] == "runs/Pop/seed-2020"
    assert result["result_file"].startswith("runs/Pop/seed-2020/Pop-") and (out / result["result_file"]).is_file()
    assert str(out.resolve()) not in result_text and str(out.resolve()) not in (out / "environment.json").read_text()


def test_models_of_one_suite_cannot_differ_in_history_masking(tmp_path, data_root, monkeypatch):
    monkeypatch.setattr(runner, "execute", lambda run: pytest.fail(f"{run.label} ran"))
    suite = tiny_suite(tmp_path, data_root, "  Pop: {config: {exclude_history: True}}\n  GRU4Rec: {}\n")
    with pytest.raises(SuiteError, match="exclude_history must be the same for every model of a suite"):
        run_suite(suite, tmp_path / "out")
