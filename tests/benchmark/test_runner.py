import json

import pytest

from recbole_soft.benchmark import SuiteError, load_suite, run_suite
from recbole_soft.benchmark import runner
from recbole_soft.benchmark.report import METRICS
from tests.benchmark.test_suite import HEAD_TO_HEAD, SUITES

ARTEFACTS = ["table.md", "table.csv", "results.json", "scores.png", "environment.json", "suite.log"]
LLM_MODELS = {"ICL", "BIGRec", "DMPO", "SOFT"}


@pytest.fixture(scope="module")
def quick_overrides(tiny_llm) -> dict:
    """The tiny Llama in place of the embedded LLM: the suite's 8 LLM rows are about its plumbing, and with the
    embedded LLM their 16 ranking passes took 13 of the test suite's 31 minutes (test_quick_start runs the embedded
    LLM on the same ml-100k users)."""
    return {"llm_path": str(tiny_llm)}


@pytest.fixture(scope="module")
def quick_results(tmp_path_factory, cache_dir, quick_overrides):
    """The shipped quick suite, run once: every model on 28 ml-100k users."""
    return run_suite(load_suite(SUITES / "quick.yaml"), tmp_path_factory.mktemp("quick"), overrides=quick_overrides)


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
    assert set(environment["models"]) == HEAD_TO_HEAD
    assert environment["report_environment"]["packages"]["recbole"] == "1.2.1"
    assert environment["models"]["SOFT w/o SA"]["plan"]["config"]["curriculum"] == "none"


def test_the_quick_suites_soft_and_dmpo_rows_load_the_bigrec_rows_adapter_as_their_first_stage(quick_results):
    (bigrec_adapter,) = (quick_results / "runs/BIGRec/seed-2020").glob("BIGRec-*[0-9]")
    table = (quick_results / "table.md").read_text()
    for label, folder in [("DMPO", "DMPO"), ("SOFT w/o SA", "SOFT_w_o_SA"), ("SOFT", "SOFT")]:
        plan = json.loads((quick_results / "runs" / folder / "seed-2020/plan.json").read_text())
        assert plan["config"]["sft_adapter_path"] == {"from_run": "runs/BIGRec/seed-2020", "file": "BIGRec-*[0-9]"}
        assert not list((quick_results / "runs" / folder / "seed-2020").glob("*-sft"))  # no SFT adapter of its own
        row = next(line for line in table.splitlines() if line.startswith(f"| {label} |"))
        assert row.split(" | ")[-3].endswith("‡")  # train s
    assert (bigrec_adapter / "adapter_model.safetensors").is_file()


def test_the_quick_suite_table_has_one_row_per_model_with_every_metric(quick_results):
    rows = json.loads((quick_results / "results.json").read_text())
    suite = load_suite(SUITES / "quick.yaml")
    with_priors = ("", " + popularity prior", " + SASRec prior")  # an LLM row: alone, then with each of its priors
    expected = [model.label + prior for model in suite.models
                for prior in (with_priors if model.model in LLM_MODELS else with_priors[:1])]
    assert [row["label"] for row in rows][:len(expected)] == expected
    (chosen,) = {label for row in rows[len(expected):] for label in row["chosen"].values()}
    assert [row["label"] for row in rows[len(expected):]] == [f"SOFT (α on validation) [{chosen}]{prior}" for prior in with_priors]
    for row in rows:
        assert set(METRICS) <= set(row["mean"]) and all(0 <= row["mean"][metric] <= 1 for metric in METRICS)
        assert row["mean"]["train_time_s"] >= 0 and row["mean"]["peak_memory_mb"] > 0
        assert ("pairwise_auc" in row["mean"]) == (row["model"] in LLM_MODELS)
    table = (quick_results / "table.md").read_text().splitlines()
    assert "all items ranked (earlier items excluded)" in table[0]
    assert len([line for line in table if line.startswith("| ")]) == 1 + len(rows)  # the header, then one per row
    assert all(f"| {row['label']} | 1 |" in "\n".join(table) for row in rows)
    assert table[-1].startswith("‡ loaded a stage's output")  # SOFT's and DMPO's rows load BIGRec's adapter


def test_the_quick_suite_is_a_smoke_test_whose_classical_rows_learn_something(quick_results):
    rows = {row["label"]: row["mean"] for row in json.loads((quick_results / "results.json").read_text())}
    assert rows["Pop"]["hit@10"] > 0 and rows["SASRec"]["hit@10"] > 0
    last_line = (quick_results / "suite.log").read_text().strip().splitlines()[-1]
    assert f"suite quick: all {len(load_suite(SUITES / 'quick.yaml').models)} runs finished (" in last_line


def test_a_finished_suite_is_not_run_again(quick_results, quick_overrides, monkeypatch):
    before = (quick_results / "results.json").read_text()
    monkeypatch.setattr(runner, "execute", lambda run: pytest.fail(f"{run.label} ran again"))
    run_suite(load_suite(SUITES / "quick.yaml"), quick_results, overrides=quick_overrides)
    assert (quick_results / "results.json").read_text() == before
    assert "finished before, kept" in (quick_results / "suite.log").read_text()


def test_finished_results_made_with_other_settings_are_not_mixed_in(quick_results, quick_overrides, monkeypatch):
    monkeypatch.setattr(runner, "execute", lambda run: pytest.fail(f"{run.label} ran"))
    with pytest.raises(SuiteError, match=r"other settings.*train_sample_num: 8 -> 4.*--force"):
        run_suite(
            load_suite(SUITES / "quick.yaml"), quick_results, overrides={**quick_overrides, "train_sample_num": 4}
        )


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


def test_force_moves_the_earlier_run_aside_so_its_checkpoint_is_not_found_twice(tmp_path, data_root):
    suite = tiny_suite(tmp_path, data_root, "  Pop: {}\n")
    out = run_suite(suite, tmp_path / "out")
    folder = out / "runs" / "Pop" / "seed-2020"
    earlier = sorted(path.name for path in folder.glob("Pop-*.pth"))
    run_suite(suite, out, force=True)
    assert len(list(folder.glob("Pop-*.pth"))) == 1
    [replaced] = (out / "replaced" / "Pop").iterdir()
    assert replaced.name.startswith("seed-2020-")
    assert sorted(path.name for path in replaced.glob("Pop-*.pth")) == earlier
    assert (replaced / "result.json").is_file()


def test_rows_runs_only_the_rows_asked_for_and_reports_every_finished_one(tmp_path, data_root):
    suite = tiny_suite(tmp_path, data_root, "  Pop: {}\n  GRU4Rec: {}\n")
    out = run_suite(suite, tmp_path / "out", rows=["GRU4Rec"])
    assert [row["label"] for row in json.loads((out / "results.json").read_text())] == ["GRU4Rec"]
    assert not (out / "runs" / "Pop" / "seed-2020" / "result.json").exists()
    gru4rec = (out / "runs" / "GRU4Rec" / "seed-2020" / "result.json").read_text()
    run_suite(suite, out, rows=["Pop"])
    assert [row["label"] for row in json.loads((out / "results.json").read_text())] == ["Pop", "GRU4Rec"]
    assert (out / "runs" / "GRU4Rec" / "seed-2020" / "result.json").read_text() == gru4rec
    with pytest.raises(SuiteError, match=r"has no row 'SASRec'; its rows: Pop, GRU4Rec"):
        run_suite(suite, out, rows=["SASRec"])


def test_force_with_rows_runs_only_the_rows_asked_for_again(tmp_path, data_root):
    suite = tiny_suite(tmp_path, data_root, "  Pop: {}\n  GRU4Rec: {}\n")
    out = run_suite(suite, tmp_path / "out")
    files = {label: out / "runs" / label / "seed-2020" / "result.json" for label in ("Pop", "GRU4Rec")}
    for file in files.values():
        file.write_text(json.dumps({**json.loads(file.read_text()), "finished": "earlier"}))
    run_suite(suite, out, force=True, rows=["Pop"])
    assert [json.loads(file.read_text()).get("finished") for file in files.values()] != ["earlier", "earlier"]
    assert json.loads(files["GRU4Rec"].read_text())["finished"] == "earlier"


def test_forcing_a_row_whose_files_a_finished_row_read_is_refused_unless_that_row_runs_again_too(tmp_path):
    def run(label: str, config: dict, finished: bool = True) -> runner.Run:
        folder = tmp_path / "runs" / label / "seed-1"
        folder.mkdir(parents=True)
        if finished:
            (folder / "result.json").write_text("{}")
        return runner.Run(label, 1, folder, {"config": config})

    adapter = {"from_run": "runs/BIGRec/seed-1", "file": "BIGRec-*[0-9]"}
    runs = [run("BIGRec", {}), run("SOFT", {"sft_adapter_path": adapter}),
            run("DMPO", {"sft_adapter_path": adapter}, finished=False), run("Pop", {})]
    with pytest.raises(SuiteError, match=r"finished rows read: 'SOFT' \(reads 'BIGRec'\)\. Run them again too"):
        runner.check_forced_readers(tmp_path, runs, {"BIGRec"})
    runner.check_forced_readers(tmp_path, runs, {"BIGRec", "SOFT"})  # the reader runs again too
    runner.check_forced_readers(tmp_path, runs, {"SOFT", "Pop"})  # no row reads their files


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


def test_a_classical_row_trained_in_another_results_folder_with_the_same_training_is_tested_there_not_trained(
    tmp_path, data_root
):
    first = run_suite(tiny_suite(tmp_path, data_root, "  Pop: {}\n  GRU4Rec: {}\n"), tmp_path / "head-to-head")
    # another table on the same split: an LLM budget does not change GRU4Rec's training; Pop's own epochs change its own
    second = tiny_suite(tmp_path, data_root, "  Pop: {config: {epochs: 2}}\n  GRU4Rec: {config: {train_sample_num: 64}}\n")
    out = run_suite(second, tmp_path / "few-shot", trained_in=first)
    trained, tested = (json.loads((folder / "runs/GRU4Rec/seed-2020/result.json").read_text()) for folder in (first, out))
    assert tested["test_result"] == trained["test_result"] and tested["train_time_s"] == trained["train_time_s"]
    assert tested["trained_checkpoint"].startswith("../head-to-head/runs/GRU4Rec/seed-2020/GRU4Rec-")
    assert "training [time" not in (out / "runs/GRU4Rec/seed-2020/run.log").read_text()
    assert "trained_checkpoint" not in json.loads((out / "runs/Pop/seed-2020/result.json").read_text())
    assert "† trained by the same row of another results folder" in (out / "table.md").read_text()
    log = (out / "suite.log").read_text()
    assert "GRU4Rec (seed 2020): running, testing the model trained in ../head-to-head" in log
    assert "Pop (seed 2020) trains: the model of" in log and "trained with other settings (epochs: 1 -> 2)" in log
    # finished, with or without --trained_in: kept, not refused
    assert run_suite(second, out) == run_suite(second, out, trained_in=first) == out
    assert json.loads((out / "runs/GRU4Rec/seed-2020/result.json").read_text()) == tested


@pytest.mark.parametrize("setting", ["exclude_history: True", "test_user_num: 5"])
def test_models_of_one_suite_cannot_differ_in_the_protocol(tmp_path, data_root, monkeypatch, setting):
    monkeypatch.setattr(runner, "execute", lambda run: pytest.fail(f"{run.label} ran"))
    suite = tiny_suite(tmp_path, data_root, f"  Pop: {{config: {{{setting}}}}}\n  GRU4Rec: {{}}\n")
    key = setting.split(":")[0]
    with pytest.raises(SuiteError, match=f"{key} must be the same for every model of a suite"):
        run_suite(suite, tmp_path / "out")


def test_the_table_title_says_how_many_seeded_users_were_tested():
    plan = {"config": {"exclude_history": True, "test_user_num": 1000}}
    assert runner.protocol_title(plan) == "all items ranked (earlier items excluded), test split of 1,000 seeded users"
    assert runner.protocol_title({"config": {}}) == "all items ranked (earlier items not excluded), test split"


def test_a_model_ranked_with_a_prior_is_reported_alone_and_with_the_prior_from_the_same_runs():
    plan = {"model": "BIGRec", "config": {"prior": "popularity"}}
    with_prior = {"hit@10": 0.08, "ndcg@10": 0.04, "pairwise_auc": 0.6}
    results = {
        2020: {"test_result": with_prior, "result_without_prior": {"hit@10": 0.02, "ndcg@10": 0.01}},
        2021: {"test_result": {"hit@10": 0.03, "ndcg@10": 0.02, "pairwise_auc": 0.7}, "prior_grid": {"popularity": {"chosen": 0.0}}},
    }
    alone, combined = runner.model_rows("BIGRec", plan, results)
    assert (alone["label"], combined["label"]) == ("BIGRec", "BIGRec + popularity prior")
    assert alone["per_seed"]["hit@10"] == {2020: 0.02, 2021: 0.03}  # γ = 0 chosen: the test result is the LLM's own
    assert combined["per_seed"]["hit@10"] == {2020: 0.08, 2021: 0.03}
    assert alone["per_seed"]["pairwise_auc"] == {2020: 0.6, 2021: 0.7}  # a likelihood measure, the prior plays no part
    assert runner.model_rows("Pop", {"model": "Pop", "config": {}}, {2020: {"test_result": with_prior}})[0]["label"] == "Pop"


def test_a_model_ranked_with_two_priors_is_reported_alone_and_with_each_prior_by_its_name():
    plan = {"model": "BIGRec", "config": {"prior": ["popularity", "model"]}}
    result = {"test_result": {"hit@10": 0.08, "pairwise_auc": 0.6}, "result_without_prior": {"hit@10": 0.02},
              "priors": ["popularity", "SASRec"], "result_with_prior": {"SASRec": {"hit@10": 0.2}}}
    rows = runner.model_rows("BIGRec", plan, {2020: result})
    assert [row["label"] for row in rows] == ["BIGRec", "BIGRec + popularity prior", "BIGRec + SASRec prior"]
    assert [row["per_seed"]["hit@10"][2020] for row in rows] == [0.02, 0.08, 0.2]
    assert {row["per_seed"]["pairwise_auc"][2020] for row in rows} == {0.6}


def test_results_saved_with_one_prior_are_reported_with_the_prior_they_ran_with():
    plan = {"model": "BIGRec", "config": {"prior": ["popularity", "model"]}}  # the suite's now
    old = {"plan": {"config": {"prior": "popularity"}}, "test_result": {"hit@10": 0.08},
           "result_without_prior": {"hit@10": 0.02}}
    assert [row["label"] for row in runner.model_rows("BIGRec", plan, {2020: old})] == ["BIGRec", "BIGRec + popularity prior"]


def test_a_selection_whose_members_share_no_seed_yet_has_no_row():
    plans = {"A": {"model": "Pop", "config": {}}, "B": {"model": "Pop", "config": {}}}
    by_label = {"A": {1: {"test_result": {}, "best_valid_score": 0.1}}, "B": {2: {"test_result": {}, "best_valid_score": 0.2}}}
    assert runner.selected_rows("best", ["A", "B"], plans, by_label) == []


def test_a_row_reuses_an_earlier_rows_files_and_a_selection_picks_by_validation(tmp_path, data_root, tiny_llm):
    llm = (f"llm_path: '{tiny_llm}', item_text_field: title, train_sample_num: 8, valid_sample_num: 4, "
           f"max_new_tokens: 6, curriculum_probe_num: 4, curriculum_epochs: 1")
    models = (
        f"  SOFT: {{config: {{{llm}}}}}\n"
        f"  SOFT α=10: {{model: SOFT, config: {{{llm}, curriculum_alpha: 10,"
        f" sft_adapter_path: {{from_row: SOFT, file: SOFT-*-sft}}, distill_dir: {{from_row: SOFT, file: distilled}}}}}}\n"
        f"select:\n  SOFT (α on validation): [SOFT, SOFT α=10]\n"
    )
    out = run_suite(tiny_suite(tmp_path, data_root, models), tmp_path / "out")
    reused = json.loads((out / "runs" / "SOFT_10" / "seed-2020" / "result.json").read_text())
    assert reused["plan"]["config"]["sft_adapter_path"] == {"from_run": "runs/SOFT/seed-2020", "file": "SOFT-*-sft"}
    assert {row["stage"] for row in reused["learning_curve"]} == {"curriculum"}  # stage 1: the SOFT row's adapter
    rows = {row["label"].split(" [")[0]: row for row in json.loads((out / "results.json").read_text())}
    selected = rows["SOFT (α on validation)"]
    scores = {label: json.loads((out / "runs" / folder / "seed-2020" / "result.json").read_text())["best_valid_score"]
              for label, folder in [("SOFT", "SOFT"), ("SOFT α=10", "SOFT_10")]}
    assert selected["chosen"] == {"2020": min(scores, key=scores.get)}  # valid loss: lower is better


def test_a_reference_to_a_row_below_is_refused(tmp_path, data_root):
    models = "  BIGRec: {config: {sft_adapter_path: {from_row: SOFT, file: x}}}\n  SOFT: {}\n"
    with pytest.raises(SuiteError, match="comes from row 'SOFT', which is not a row above it"):
        tiny_suite(tmp_path, data_root, models)


def test_settings_files_go_under_each_rows_own_settings_and_their_training_budget_to_the_llm_rows_only(tmp_path):
    suite = load_suite(SUITES / "ml-100k.yaml")
    files = {"epochs": 7, "learning_rate": 1e-4, "learner": "paged_adamw_8bit", "curriculum_probe_num": 8,
             "data_path": "shared"}
    plans = {run.label: run.plan["config"] for run in runner.plan_runs(suite, tmp_path, [2020], {}, (), files)}
    assert {key: plans["SASRec"].get(key) for key in files} == {
        "epochs": None, "learning_rate": None, "learner": None, "curriculum_probe_num": 256, "data_path": "shared"}
    assert (plans["BIGRec"]["epochs"], plans["BIGRec"]["learning_rate"], plans["BIGRec"]["data_path"]) == (7, 1e-4, "shared")
    assert plans["SOFT w/o SA"]["curriculum_probe_num"] == 32 and plans["SOFT"]["curriculum_probe_num"] == 256
    command_line = runner.plan_runs(suite, tmp_path, [2020], {"epochs": 1}, (), files)
    assert {run.plan["config"]["epochs"] for run in command_line} == {1}
