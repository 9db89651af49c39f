"""The 4-bit (QLoRA) path without a GPU: the tiny Llama loaded in NF4 on CPU trains, distils, follows the curriculum,
saves its adapter, resumes after a kill and scores, through the real entry point. bitsandbytes' CPU kernels are slow,
so only the tiny model runs here."""
import warnings
from pathlib import Path

import pytest
import torch

from recbole_soft import run_recbole_soft
from tests.trainer.test_resume import SETTINGS, final_metrics, metrics_only, run_driver

NF4 = {"quantization": "nf4", "curriculum_probe_num": 6}


@pytest.fixture
def nf4_config(llm_config) -> dict:
    return {**llm_config, **NF4}


def test_nf4_loads_the_frozen_base_in_4_bit_under_float32_lora(build):
    import bitsandbytes as bnb
    from peft.tuners.lora import LoraLayer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, _, _, _, model = build("BIGRec", quantization="nf4")
    wrapped = [module.get_base_layer() for module in model.llm.modules() if isinstance(module, LoraLayer)]
    assert wrapped and all(isinstance(layer, bnb.nn.Linear4bit) for layer in wrapped)
    assert all(p.dtype == torch.float32 for p in model.parameters() if p.requires_grad)
    assert model.precision == "nf4/float32"


@pytest.mark.parametrize("model", ["BIGRec", "DMPO", "SOFT"])
def test_every_trained_model_runs_end_to_end_in_nf4(model, nf4_config):
    result = run_recbole_soft(model, "tiny", config_dict=nf4_config)
    assert result["llm_precision"] == "nf4/float32"
    assert {"hit@10", "ndcg@10"} <= set(result["test_result"])
    assert any(row["train_loss"] > 0 for row in result["learning_curve"])
    if model == "SOFT":
        assert result["distillation"]["answers"] > 0
        assert [row["epoch"] for row in result["curriculum_curve"]][:2] == [0, 1]
    adapter = Path(result["result_file"]).with_suffix("").with_suffix("")
    assert (adapter / "adapter_model.safetensors").is_file()


def test_training_backpropagates_through_differentiable_4_bit_layers_only(build, recwarn):
    from recbole_soft.trainer.llm_trainer import LLMTrainer

    config, train_data, valid_data, _, model = build("BIGRec", quantization="nf4", epochs=2, stopping_step=5)
    LLMTrainer(config, model).fit(train_data, valid_data, saved=False)  # epoch 2 trains after a no-grad validation
    assert not [w for w in recwarn if "autograd kernel was not registered" in str(w.message)]


def test_a_saved_nf4_adapter_scores_the_same_in_a_fresh_nf4_model(build):
    from recbole_soft.trainer.llm_trainer import LLMTrainer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        config, train_data, valid_data, test_data, trained = build("BIGRec", quantization="nf4")
        trainer = LLMTrainer(config, trained)
        trainer.fit(train_data, valid_data, saved=True)
        _, _, _, _, fresh = build("BIGRec", quantization="nf4")
    users = next(iter(test_data))[0]
    trained.eval(), fresh.eval()
    fresh.load_adapter(trainer.adapter_dir)
    torch.testing.assert_close(fresh.full_sort_predict(users), trained.full_sort_predict(users))


def test_a_killed_nf4_soft_run_resumes_to_the_same_metrics(nf4_config, tmp_path):
    settings = {**nf4_config, **SETTINGS["SOFT"], "model": "SOFT"}
    uninterrupted = final_metrics(run_driver({**settings, "checkpoint_dir": str(tmp_path / "whole")}))
    killed = run_driver({**settings, "checkpoint_dir": str(tmp_path / "run")}, "distillation")
    assert killed.returncode != 0
    resumed = final_metrics(run_driver({**settings, "checkpoint_dir": str(tmp_path / "run"), "resume": True}))
    assert len(list((tmp_path / "run").glob("SOFT-*.resume.pt"))) == 1  # it continued the killed run
    assert metrics_only(resumed) == metrics_only(uninterrupted)
