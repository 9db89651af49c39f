import csv
import json

import pytest

from recbole_soft.benchmark.report import METRICS, markdown_table, summarise, write_report


def result(scale: float, auc: float | None = None) -> dict:
    test_result = {metric: scale * (index + 1) / 100 for index, metric in enumerate(METRICS)}
    if auc is not None:
        test_result["pairwise_auc"] = auc
    return {"test_result": test_result, "train_time_s": 10 * scale, "eval_time_s": 2.0, "peak_memory_mb": 500.0, "peak_gpu_memory_mb": None}


def test_several_seeds_give_mean_and_sample_standard_deviation():
    row = summarise("SOFT", "SOFT", {1: result(1.0), 2: result(2.0), 3: result(3.0)})
    assert row["seeds"] == [1, 2, 3]
    assert row["mean"]["hit@1"] == pytest.approx(0.02) and row["std"]["hit@1"] == pytest.approx(0.01)
    assert row["mean"]["train_time_s"] == pytest.approx(20.0) and row["std"]["train_time_s"] == pytest.approx(10.0)
    assert row["per_seed"]["hit@1"] == {1: 0.01, 2: 0.02, 3: 0.03}
    assert "peak_gpu_memory_mb" not in row["mean"]  # not measured on CPU, so not shown as 0


def test_the_table_shows_mean_plus_minus_std_for_several_seeds_and_plain_values_for_one():
    rows = [summarise("SASRec", "SASRec", {1: result(1.0)}), summarise("SOFT", "SOFT", {1: result(1.0), 2: result(3.0)})]
    header, _, single, several = markdown_table(rows).splitlines()
    assert header.split(" | ")[1:3] == ["seeds", "hit@1"] and "mrr@10" in header and "peak MB" in header
    assert single.startswith("| SASRec | 1 | 0.0100 | ") and "±" not in single
    assert several.startswith("| SOFT | 2 | 0.0200 ± 0.0141 | ")


def test_pairwise_auc_is_a_column_when_a_model_reports_it_and_a_dash_for_the_others():
    rows = [summarise("SASRec", "SASRec", {1: result(1.0)}), summarise("DMPO", "DMPO", {1: result(1.0, auc=0.75)})]
    header, _, sasrec, dmpo = markdown_table(rows).splitlines()
    position = header.split(" | ").index("pairwise_auc")
    assert sasrec.split(" | ")[position] == "–" and dmpo.split(" | ")[position] == "0.7500"


def test_what_an_llm_answered_is_shown_beside_its_metrics():
    soft = {**result(1.0), "answers": {"answers": 943, "distinct_items": 81, "no_item_share": 0.0, "in_history_share": 0.434},
            "distillation": {"answers": 256, "real_title": 109}}
    rows = [summarise("SASRec", "SASRec", {1: result(1.0)}), summarise("SOFT", "SOFT", {1: soft})]
    header, _, sasrec, soft_row = [line.split(" | ") for line in markdown_table(rows).splitlines()]
    cells = dict(zip(header, soft_row))
    assert (cells["distinct top-1"], cells["top-1 in history"], cells["top-1 no item"]) == ("81", "0.4340", "0.0000")
    assert cells["distilled no item"] == f"{1 - 109 / 256:.4f}"
    assert sasrec[header.index("distinct top-1")] == "–"


def test_write_report_writes_table_csv_json_and_chart(tmp_path):
    rows = [summarise("Pop", "Pop", {1: result(0.5), 2: result(0.7)}), summarise("SOFT", "SOFT", {1: result(1.0)})]
    paths = write_report(tmp_path, "suite on ml-100k", rows)
    assert [path.name for path in paths] == ["table.md", "table.csv", "results.json", "scores.png"]
    assert (tmp_path / "table.md").read_text().startswith("# suite on ml-100k\n")
    with open(tmp_path / "table.csv") as file:
        table = list(csv.DictReader(file))
    assert [row["model"] for row in table] == ["Pop", "SOFT"] and table[0]["seeds"] == "1 2"
    assert float(table[0]["ndcg@10_mean"]) == pytest.approx(rows[0]["mean"]["ndcg@10"]) and table[1]["ndcg@10_std"] == ""
    assert json.loads((tmp_path / "results.json").read_text())[1]["label"] == "SOFT"
    assert (tmp_path / "scores.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_resumed_run_marks_its_train_time_and_the_table_says_why(tmp_path):
    resumed = {**result(1.0), "resumed_time_s": 4.0}
    rows = [summarise("SASRec", "SASRec", {1: resumed, 2: result(1.0)}), summarise("Pop", "Pop", {1: result(1.0)})]
    assert rows[0]["resumed_seeds"] == [1] and rows[1]["resumed_seeds"] == []
    write_report(tmp_path, "t", rows)
    lines = (tmp_path / "table.md").read_text().splitlines()
    sasrec, pop = (next(line for line in lines if line.startswith(f"| {label} |")) for label in ("SASRec", "Pop"))
    assert "| 10 ± 0* |" in sasrec and "*" not in pop
    assert lines[-2] == "" and lines[-1].startswith("\\* resumed after an interruption: train s adds")
    with open(tmp_path / "table.csv") as file:
        assert [row["resumed_seeds"] for row in csv.DictReader(file)] == ["1", ""]


def test_a_run_that_loaded_a_stage_from_another_row_marks_its_train_time_and_the_table_says_why(tmp_path):
    adapter = {"from_run": "runs/BIGRec/seed-1", "file": "BIGRec-*"}
    loaded = {**result(1.0), "plan": {"config": {"sft_adapter_path": adapter, "prior_checkpoint": adapter}}}
    trained = {**result(1.0), "plan": {"config": {"sft_adapter_path": None}}}
    rows = [summarise("SOFT", "SOFT", {1: loaded}), summarise("BIGRec", "BIGRec", {1: trained})]
    assert rows[0]["loaded_stage_seeds"] == [1] and rows[1]["loaded_stage_seeds"] == []
    write_report(tmp_path, "t", rows)
    lines = (tmp_path / "table.md").read_text().splitlines()
    soft, bigrec = (next(line for line in lines if line.startswith(f"| {label} |")) for label in ("SOFT", "BIGRec"))
    assert "| 10‡ |" in soft and "‡" not in bigrec
    assert lines[-1].startswith("‡ loaded a stage's output") and "*" not in "".join(lines[-3:])
    with open(tmp_path / "table.csv") as file:
        assert [row["loaded_stage_seeds"] for row in csv.DictReader(file)] == ["1", ""]
