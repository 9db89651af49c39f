import json

import pytest

from recbole_soft import run_recbole_soft
from tests.conftest import write_atomic_dataset

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


@pytest.mark.parametrize("model", ["SASRec", "GRU4Rec"])
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
