import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from recbole_soft import run_recbole_soft
from recbole_soft.errors import InvalidSetting, MissingInput
from recbole_soft.quick_start import load_data_and_model
from recbole_soft.registry import get_trainer
from tests.conftest import REPOSITORY, write_atomic_dataset

EXPECTED_METRICS = {f"{metric}@{k}" for metric in ("hit", "ndcg", "mrr") for k in (1, 5, 10, 20)}


@pytest.fixture
def classical_config(data_root, tmp_path):
    return {
        "data_path": str(data_root),
        "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
        "checkpoint_dir": str(tmp_path / "saved"),
        "epochs": 1,
        "train_batch_size": 64,
        "show_progress": False,
        "state": "WARNING",
    }


@pytest.mark.parametrize("model", ["SASRec", "GRU4Rec", "CL4SRec"])
def test_recbole_models_train_and_report_every_configured_metric(model, classical_config):
    result = run_recbole_soft(model, "tiny", config_dict=classical_config)
    assert set(result["test_result"]) == EXPECTED_METRICS
    assert set(result["best_valid_result"]) == EXPECTED_METRICS
    assert all(0.0 <= value <= 1.0 for value in result["test_result"].values())
    assert result["train_time_s"] > 0 and result["peak_memory_mb"] > 0
    saved = json.loads(open(result["result_file"]).read())
    assert saved["model"] == model and saved["test_result"] == pytest.approx(dict(result["test_result"]))


def test_unknown_dataset_fails_before_recbole_tries_to_download_it(classical_config):
    with pytest.raises(FileNotFoundError, match="Dataset 'no-such-set' not found.*no-such-set.inter"):
        run_recbole_soft("SASRec", "no-such-set", config_dict=classical_config)


def test_llm_model_on_a_dataset_without_the_title_field_is_refused(llm_config, tmp_path):
    write_atomic_dataset(tmp_path, "named", title_field="name")
    settings = {**llm_config, "data_path": str(tmp_path), "item_text_field": "title"}
    with pytest.raises(ValueError, match="item_text_field='title'.*named.item has no such field.*item_id, name"):
        run_recbole_soft("BIGRec", "named", config_dict=settings)


@pytest.mark.parametrize("model", ["ICL", "BIGRec", "SOFT", "DMPO"])
def test_the_same_seed_gives_the_same_metrics(model, llm_config, tmp_path):
    settings = {**llm_config, "max_new_tokens": 6, "curriculum_probe_num": 4, "icl_demo_num": 1, "pairwise_auc_negatives": 2}
    first, second = (
        run_recbole_soft(model, "tiny", config_dict={**settings, "checkpoint_dir": str(tmp_path / name)})
        for name in ("first", "second")
    )
    assert first["test_result"] == second["test_result"]
    assert first["best_valid_score"] == second["best_valid_score"]


def test_another_seed_trains_another_model(llm_config, tmp_path):
    scores = {
        seed: run_recbole_soft("BIGRec", "tiny", config_dict={**llm_config, "seed": seed, "checkpoint_dir": str(tmp_path / str(seed))})["best_valid_score"]
        for seed in (1, 2)
    }
    assert scores[1] != scores[2]


def model_file(result: dict) -> str:
    """The checkpoint a run wrote beside its result file."""
    return result["result_file"].replace(".result.json", ".pth")


def loaded_test_results(config, model, test_data) -> tuple[dict, dict | None]:
    """The loaded model's test metrics by the trainer its run used, and (with a prior) the LLM's alone."""
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    metrics = dict(trainer.evaluate(test_data, load_best_model=False))
    return metrics, getattr(trainer, "run_info", {}).get("result_without_prior")


def test_a_test_split_of_one_seeded_user_scores_that_user_alone_and_of_every_user_scores_them_all(classical_config):
    settings = {**classical_config, "exclude_history": True}  # the sampled loader is masked as the full one
    every = run_recbole_soft("Pop", "tiny", config_dict=settings)["test_result"]
    assert run_recbole_soft("Pop", "tiny", config_dict={**settings, "test_user_num": 24})["test_result"] == every
    one = run_recbole_soft("Pop", "tiny", config_dict={**settings, "test_user_num": 1})["test_result"]
    assert {one[f"hit@{k}"] for k in (1, 5, 10, 20)} <= {0.0, 1.0}


@pytest.mark.parametrize("model", ["Pop", "SASRec"])
def test_a_loaded_recbole_model_gives_the_test_metrics_of_the_run_that_saved_it(model, classical_config, monkeypatch):
    result = run_recbole_soft(model, "tiny", config_dict={**classical_config, "exclude_history": True})
    monkeypatch.delattr(np, "float")  # as in a fresh process: RecBole's metrics need the alias its Config sets
    config, loaded, dataset, *_, test_data = load_data_and_model(model_file(result))
    assert (config["model"], type(loaded).__name__, dataset.dataset_name) == (model, model, "tiny")
    assert loaded_test_results(config, loaded, test_data)[0] == dict(result["test_result"])


def test_a_loaded_llm_model_has_its_adapter_and_prior_weight_and_gives_the_test_metrics_of_its_run(llm_config):
    settings = {**llm_config, "exclude_history": True, "prior": "popularity"}  # γ is chosen on validation (auto)
    result = run_recbole_soft("BIGRec", "tiny", config_dict=settings)
    config, loaded, *_, test_data = load_data_and_model(model_file(result))
    assert loaded.prior_gammas == {"popularity": result["prior_grid"]["popularity"]["chosen"]}
    metrics, without_prior = loaded_test_results(config, loaded, test_data)
    assert metrics == dict(result["test_result"])
    assert without_prior == result["result_without_prior"]  # the LLM's own ranking: the trained adapter


def test_an_llm_model_killed_between_the_two_renames_of_an_adapter_save_loads_its_last_adapter(llm_config):
    result = run_recbole_soft("BIGRec", "tiny", config_dict=llm_config)
    adapter = Path(model_file(result)).with_suffix("")
    adapter.rename(adapter.with_name(f"{adapter.name}.previous"))  # what such a kill leaves: the adapter aside
    config, loaded, *_, test_data = load_data_and_model(model_file(result))
    assert loaded_test_results(config, loaded, test_data)[0] == dict(result["test_result"])


def test_a_missing_or_foreign_checkpoint_is_refused_with_what_to_pass(tmp_path):
    with pytest.raises(MissingInput, match="No checkpoint at .*missing.pth: pass the <Model>-<time>.pth file"):
        load_data_and_model(tmp_path / "missing.pth")
    (tmp_path / "notes.pth").write_text("not a checkpoint")
    with pytest.raises(InvalidSetting, match="notes.pth is not a readable checkpoint .*: pass the <Model>-<time>.pth"):
        load_data_and_model(tmp_path / "notes.pth")


def test_output_dir_holds_the_log_the_tensorboard_events_and_the_checkpoints(classical_config, tmp_path):
    settings = {**classical_config, "checkpoint_dir": "saved", "output_dir": "runs/pop"}
    arguments = [f"--{key}={value}" for key, value in settings.items()]
    command = [sys.executable, str(REPOSITORY / "run_recbole_soft.py"), "--model=Pop", "--dataset=tiny", *arguments]
    finished = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr[-2000:]
    run_folder = tmp_path / "runs" / "pop"
    assert list((run_folder / "saved").glob("Pop-*.result.json"))
    assert list((run_folder / "log" / "Pop").glob("Pop-tiny-*.log"))
    assert list((run_folder / "log_tensorboard").glob("Pop-tiny-*/events.out.tfevents.*"))
    assert sorted(path.name for path in tmp_path.iterdir()) == ["runs"]  # nothing in the current directory


def test_recbole_hyper_tuning_runs_the_plugin_through_its_objective_function(classical_config, tmp_path):
    from recbole.trainer.hyper_tuning import HyperTuning

    from recbole_soft.quick_start import objective_function

    fixed = tmp_path / "fixed.yaml"
    fixed.write_text(yaml.safe_dump({**classical_config, "model": "SASRec", "dataset": "tiny"}))
    space = tmp_path / "space.hyper"
    space.write_text("learning_rate choice [0.01,0.0001]\n")
    tuning = HyperTuning(objective_function, params_file=str(space), fixed_config_file_list=[str(fixed)])
    tuning.run()
    assert len(tuning.params2result) == 2 and tuning.best_params["learning_rate"] in (0.01, 0.0001)
    best = tuning.params2result[tuning.params2str(tuning.best_params)]
    assert best["model"] == "SASRec" and best["best_valid_score"] == max(tuning.score_list)


def test_a_second_run_in_the_same_process_logs_into_its_own_output_dir(classical_config, tmp_path):
    settings = {**classical_config, "checkpoint_dir": "saved", "state": "INFO"}
    two_runs = (
        "import sys\nfrom recbole_soft import run_recbole_soft\n"
        f"settings = {settings!r}\n"
        "for folder in ('first', 'second'):\n"
        "    run_recbole_soft('Pop', 'tiny', config_dict={**settings, 'output_dir': folder}, command_line=False)\n"
    )
    finished = subprocess.run([sys.executable, "-c", two_runs], cwd=tmp_path, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr[-2000:]
    for folder in ("first", "second"):
        [log] = (tmp_path / folder / "log" / "Pop").glob("Pop-tiny-*.log")
        assert "test result" in log.read_text()
        assert len(list((tmp_path / folder / "log_tensorboard").glob("Pop-tiny-*/events.out.tfevents.*"))) == 1


def test_a_hybrid_soft_run_trains_its_item_encoder_first_and_a_second_run_reuses_it(llm_config, tmp_path):
    settings = {**llm_config, "item_representation": "hybrid", "item_encoder_config": {"epochs": 1, "train_batch_size": 64},
                "hybrid_curriculum": True, "curriculum_probe_num": 4, "curriculum_epochs": 1}
    first = run_recbole_soft("SOFT", "tiny", config_dict=settings, command_line=False)
    [encoder] = (tmp_path / "saved").glob("SASRec-item-encoder-tiny-*.pth")
    trained_at = encoder.stat().st_mtime_ns
    assert 0.0 <= first["test_result"]["hit@10"] <= 1.0
    assert 0 < first["item_encoder_time_s"] < first["train_time_s"]  # the encoder's training is part of the cost

    # another model, resuming or not, with other LLM settings: none of them is read by the encoder, so none renames it
    second = run_recbole_soft("BIGRec", "tiny", config_dict={**settings, "resume": True, "lora_r": 4, "prior": "popularity"},
                              command_line=False)
    assert list((tmp_path / "saved").glob("SASRec-item-encoder-tiny-*.pth")) == [encoder]
    assert encoder.stat().st_mtime_ns == trained_at and second["item_encoder_time_s"] == 0
    config, loaded, *_, test_data = load_data_and_model(model_file(second))
    assert loaded.hybrid_embedding is not None and config["item_encoder_checkpoint"] == str(encoder)
    assert loaded_test_results(config, loaded, test_data)[0] == dict(second["test_result"])


def test_clclmrec_without_instruction_tuning_trains_its_contrastive_encoder_first_then_one_phase(llm_config, tmp_path):
    settings = {**llm_config, "clclm_instruction_tuning": False, "clclm_sample_num": 6,
                "item_encoder_config": {"epochs": 1, "train_batch_size": 64}}
    result = run_recbole_soft("CLCLMRec", "tiny", config_dict=settings, command_line=False)
    assert [path.name.split("-item-encoder")[0] for path in (tmp_path / "saved").glob("*-item-encoder-*.pth")] == ["CL4SRec"]
    assert list(result["stage_times_s"]) == ["recommendation"]
    assert result["selection"]["samples"] == 6 and 0.0 <= result["test_result"]["hit@10"] <= 1.0


def test_the_embedded_llm_fine_tunes_and_ranks_real_ml_100k_users_with_real_titles(cache_dir, tmp_path):
    settings = {  # the quick suite's data (28 most active users) and tiny budget, 8 of its users ranked with 3 beams
        "user_inter_num_interval": "[300,inf)", "item_inter_num_interval": "[8,inf)", "MAX_ITEM_LIST_LENGTH": 20,
        "epochs": 1, "train_sample_num": 8, "valid_sample_num": 4, "history_len": 5, "max_new_tokens": 12,
        "ranking_beams": 3, "test_user_num": 8, "exclude_history": True, "checkpoint_dir": str(tmp_path),
        "show_progress": False, "state": "INFO",
    }
    result = run_recbole_soft("BIGRec", "ml-100k", config_dict=settings)
    assert set(result["test_result"]) == EXPECTED_METRICS
    answers = result["answers"]
    assert answers["answers"] == 8 and answers["distinct_items"] > 1
    assert answers["no_item_share"] == 0 and answers["in_history_share"] == 0  # the trie, and the masked history
