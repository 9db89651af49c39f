"""The measurement scripts under benchmarks/ run end to end on the tiny shape, so that a GPU session only has to run
them (they print measured numbers; nothing here checks a speed)."""
import importlib.util
import json
import subprocess
import sys

from recbole_soft.config import Config
from tests.conftest import REPOSITORY


def test_gpu_memory_speed_measures_training_and_scoring_for_each_precision(tmp_path, embedded_llm_folder):
    out = tmp_path / "figures.json"
    command = [sys.executable, "benchmarks/gpu_memory_speed.py", "--shapes", "tiny", "--device", "cpu", "--steps", "1",
               "--batch", "2", "--tokens", "16", "--users", "3", "--beams", "1", "2", "--out", str(out)]
    process = subprocess.run(command, cwd=REPOSITORY, capture_output=True, text=True)
    assert process.returncode == 0, process.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert figures["gpu"] == "cpu" and figures["peak_bf16_flops"] is None
    assert [(run["shape"], run["precision"]) for run in figures["runs"]] == [("tiny", "nf4"), ("tiny", "bf16")]
    for run in figures["runs"]:
        assert run["train_tokens_per_s"] > 0 and run["score_users_per_s_beams1"] > 0 and run["score_users_per_s_beams2"] > 0
        assert run["parameters"] > 3_000_000  # the tiny Llama's embeddings alone hold 49152 x 64 weights


def test_data_parallel_measures_training_and_scoring_throughput(tmp_path, data_root, tiny_llm, cache_dir):
    settings = tmp_path / "tiny.yaml"
    settings.write_text(json.dumps({
        "data_path": str(data_root), "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
        "item_text_field": "title", "llm_path": str(tiny_llm), "llm_cache_dir": str(cache_dir), "max_new_tokens": 6,
        "train_batch_size": 4,
    }))
    out = tmp_path / "throughput.jsonl"
    command = [sys.executable, "benchmarks/data_parallel.py", "--dataset", "tiny", "--train_batches", "1",
               "--users", "2", "--config_files", str(settings), "--out", str(out)]
    process = subprocess.run(command, cwd=REPOSITORY, capture_output=True, text=True)
    assert process.returncode == 0, process.stderr[-3000:]
    (figures,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert (figures["processes"], figures["train_samples"], figures["users"]) == (1, 4, 2)
    assert figures["train_samples_per_s"] > 0 and figures["users_per_s"] > 0


def test_llm_budget_plots_the_samples_each_epoch_trained_on(tmp_path):
    spec = importlib.util.spec_from_file_location("llm_budget", REPOSITORY / "benchmarks" / "llm_budget.py")
    llm_budget = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(llm_budget)
    counted = {"learning_curve": [{"stage": "sft", "epoch": 0, "samples": 100, "train_loss": 2.0},
                                  {"stage": "sft", "epoch": 1, "samples": 100, "train_loss": 1.5, "valid_score": 3.0}]}
    assert [row["samples_seen"] for row in llm_budget.curve_rows("b", counted, [], ["model=BIGRec"])] == [100, 200]
    recorded_before = {"learning_curve": [{key: value for key, value in row.items() if key != "samples"}
                                          for row in counted["learning_curve"]]}
    default = Config(model="BIGRec", dataset="ml-100k")["train_sample_num"]
    assert [row["samples_seen"] for row in llm_budget.curve_rows("b", recorded_before, [], ["model=BIGRec"])] == [
        default, 2 * default]
    assert llm_budget.curve_rows("b", recorded_before, ["train_sample_num=64"], [])[-1]["samples_seen"] == 128


def test_classical_step_times_a_recbole_model_with_each_allocator_setting(tmp_path):
    out = tmp_path / "step.json"
    command = [sys.executable, "benchmarks/classical_step.py", "--model=Pop", "--dataset=ml-100k", "--steps=2",
               "--out", str(out)]
    process = subprocess.run(command, cwd=REPOSITORY, capture_output=True, text=True)
    assert process.returncode == 0, process.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert {name: run["freed_memory_kept"] for name, run in figures.items()} == {
        "kept for reuse (the plugin's)": True, "glibc's default": False}  # each process got its setting
    for run in figures.values():
        assert run["model"] == "Pop" and len(run["step_s"]) == len(run["page_faults"]) == 2
        assert all(seconds > 0 for seconds in run["step_s"])
