import json
from pathlib import Path

import pytest

from recbole_soft import run_recbole_soft
from recbole_soft.errors import InvalidSetting, MissingInput
from recbole_soft.quick_start import load_data_and_model
from recbole_soft.trained_model import training_differences


@pytest.fixture
def gru4rec_settings(data_root, tmp_path) -> dict:
    return {
        "data_path": str(data_root),
        "load_col": {"inter": ["user_id", "item_id", "timestamp"], "item": ["item_id", "title"]},
        "item_text_field": "title",
        "checkpoint_dir": str(tmp_path / "trained"),
        "epochs": 2,
        "train_batch_size": 64,
        "show_progress": False,
        "state": "WARNING",
    }


@pytest.fixture
def trained(gru4rec_settings) -> dict:
    return run_recbole_soft("GRU4Rec", "tiny", config_dict=gru4rec_settings)


def checkpoint_of(result: dict) -> str:
    return result["result_file"].removesuffix(".result.json") + ".pth"


def test_a_model_trained_before_is_tested_with_the_runs_own_evaluation_settings_and_its_earlier_training(
    trained, gru4rec_settings, tmp_path
):
    # the LLM models' settings and the test's own (pairwise AUC, tested users) do not change a classical model's training
    settings = {**gru4rec_settings, "checkpoint_dir": str(tmp_path / "tested"), "train_sample_num": 64,
                "pairwise_auc_negatives": 1, "trained_checkpoint": checkpoint_of(trained)}
    tested = run_recbole_soft("GRU4Rec", "tiny", config_dict=settings)
    assert {key: value for key, value in tested["test_result"].items() if key != "pairwise_auc"} == trained["test_result"]
    assert 0.0 <= tested["test_result"]["pairwise_auc"] <= 1.0
    assert tested["best_valid_result"] == trained["best_valid_result"]
    assert tested["train_time_s"] == trained["train_time_s"]
    assert tested["trained_checkpoint"] == checkpoint_of(trained)
    # the tested run keeps the model as its own checkpoint (a later row of its suite may read it), named as the
    # earlier one, beside its own result file; the earlier run's files are left as they were
    own = Path(checkpoint_of(tested))
    assert own == tmp_path / "tested" / Path(checkpoint_of(trained)).name
    assert json.loads(Path(trained["result_file"]).read_text())["test_result"] == trained["test_result"]
    # loading it rebuilds this run's test, without the earlier run's files
    Path(checkpoint_of(trained)).unlink()
    config, model, *_ = load_data_and_model(own)
    assert type(model).__name__ == "GRU4Rec" and config["pairwise_auc_negatives"] == 1


def test_the_llm_models_settings_do_not_change_a_classical_models_training(trained, gru4rec_settings, tmp_path):
    # what lets training_differences leave them out
    settings = {**gru4rec_settings, "checkpoint_dir": str(tmp_path / "again"), "train_sample_num": 8,
                "curriculum_probe_num": 4, "prior": "popularity"}
    again = run_recbole_soft("GRU4Rec", "tiny", config_dict=settings)
    assert again["best_valid_result"] == trained["best_valid_result"] and again["test_result"] == trained["test_result"]


@pytest.mark.parametrize("setting, value", [("learning_rate", 0.01), ("exclude_history", True), ("seed", 7)])
def test_a_model_trained_with_other_training_settings_is_refused_naming_them(trained, gru4rec_settings, setting, value):
    settings = {**gru4rec_settings, setting: value, "trained_checkpoint": checkpoint_of(trained)}
    with pytest.raises(InvalidSetting, match=f"trained with other settings than this run's \\({setting}: "):
        run_recbole_soft("GRU4Rec", "tiny", config_dict=settings)


def test_a_checkpoint_of_another_model_or_without_its_result_file_or_for_an_llm_model_is_refused(
    trained, gru4rec_settings, llm_config
):
    checkpoint = checkpoint_of(trained)
    with pytest.raises(InvalidSetting, match=r"holds a GRU4Rec model; this run is SASRec"):
        run_recbole_soft("SASRec", "tiny", config_dict={**gru4rec_settings, "trained_checkpoint": checkpoint})
    with pytest.raises(InvalidSetting, match="BIGRec is an LLM model: continue its run with resume=True"):
        run_recbole_soft("BIGRec", "tiny", config_dict={**llm_config, "trained_checkpoint": checkpoint})
    Path(trained["result_file"]).unlink()
    with pytest.raises(MissingInput, match=r"trained_checkpoint: .*\.result\.json does not exist; pass the <Model>-<time>\.pth"):
        run_recbole_soft("GRU4Rec", "tiny", config_dict={**gru4rec_settings, "trained_checkpoint": checkpoint})


def test_only_what_a_classical_models_training_reads_counts_as_a_difference():
    trained = {"model": "SASRec", "epochs": 30, "curriculum_probe_num": 256, "pairwise_auc_negatives": 0}
    same_training = {"model": "SASRec", "epochs": 30, "train_sample_num": 64, "pairwise_auc_negatives": 1,
                     "test_user_num": 100}
    assert training_differences("SASRec", trained, same_training) == []
    assert training_differences("SASRec", trained, {**same_training, "epochs": 5}) == ["epochs: 30 -> 5"]
    # a classical model of the plugin reads its own yaml's settings
    assert training_differences("CL4SRec", {"cl_weight": 0.1}, {"cl_weight": 0.5}) == ["cl_weight: 0.1 -> 0.5"]
    # the field names RecBole's data transforms write into a trained BERT4Rec's config are not settings
    written = {"MASK_INDEX": "MASK_INDEX", "MASK_ITEM_SEQ": "Mask_item_id_list", "POS_ITEMS": "Pos_item_id"}
    assert training_differences("BERT4Rec", {"epochs": 30, **written}, {"epochs": 30}) == []
