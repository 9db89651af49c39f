import json
from pathlib import Path

import torch

from recbole_soft import run_recbole_soft


def test_bigrec_trains_saves_a_peft_adapter_and_tests_with_full_ranking(llm_config):
    result = run_recbole_soft("BIGRec", "tiny", config_dict=llm_config)
    adapter = Path(result["result_file"]).with_suffix("").with_suffix("")
    assert (adapter / "adapter_model.safetensors").is_file() and (adapter / "adapter_config.json").is_file()
    assert json.loads((adapter / "trainer_state.json").read_text())["epoch"] == 0
    assert not list(adapter.parent.glob("*.partial"))
    # RecBole's checkpoint file names the adapter instead of pickling the whole model
    checkpoint = torch.load(adapter.with_suffix(".pth"), weights_only=False)
    assert checkpoint["adapter"] == adapter.name and "state_dict" not in checkpoint
    assert set(result["best_valid_result"]) == {"valid_loss"} and result["valid_score_bigger"] is False
    assert {"hit@10", "ndcg@10", "mrr@10"} <= set(result["test_result"])


def test_training_uses_the_seeded_sample_cap(build):
    from recbole_soft.trainer.llm_trainer import LLMTrainer

    config, train_data, valid_data, _, model = build("BIGRec", train_sample_num=12, train_batch_size=4)
    trainer = LLMTrainer(config, model)
    seen = []
    model.calculate_loss = lambda interaction: seen.append(len(interaction)) or model.real_target_loss(interaction)
    trainer.fit(train_data, valid_data, saved=False)
    assert sum(seen) == 12
    assert [row["samples"] for row in trainer.learning_curve] == [12] * config["epochs"]  # the curve's x axis


def test_icl_is_evaluated_without_training(llm_config):
    result = run_recbole_soft("ICL", "tiny", config_dict={**llm_config, "icl_demo_num": 1})
    assert result["best_valid_result"] is None
    assert {"hit@10", "ndcg@10"} <= set(result["test_result"])
