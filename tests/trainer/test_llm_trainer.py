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



def test_the_evaluation_hands_each_batchs_masked_items_to_the_beams(build):
    from recbole_soft.quick_start import prepare_data
    from recbole_soft.trainer.llm_trainer import LLMTrainer

    # RecBole keeps 3 history items per row: the test masks more for most users
    config, *_, model = build("BIGRec", ranking_beams=2, exclude_history=True, MAX_ITEM_LIST_LENGTH=3, history_len=3)
    *_, test_data = prepare_data(config)  # the test's loader, masked as a run masks it
    expected = []  # per tested row, the titles of the items the test masks (every earlier item of the user)
    for interaction, (rows, items), *_ in test_data:
        expected += [sorted(model.titles[item] for row, item in zip(rows.tolist(), items.tolist()) if row == r)
                     for r in range(len(interaction))]
    seen = []
    rank = model.generator.rank
    model.generator.rank = lambda prompts, trie, k, tokens, excluded, scored: seen.extend(
        map(sorted, excluded)
    ) or rank(prompts, trie, k, tokens, excluded, scored)
    LLMTrainer(config, model).evaluate(test_data, load_best_model=False)
    assert seen == expected and any(len(titles) > 3 for titles in expected)


def test_the_test_pass_of_a_beam_ranking_model_measures_the_pairwise_auc_a_pass_of_its_own_would(build):
    from recbole_soft.quick_start import evaluate
    from recbole_soft.trainer.llm_trainer import LLMTrainer
    from recbole_soft.trainer.pairwise_auc import pairwise_negatives

    config, _, valid_data, test_data, model = build("BIGRec", ranking_beams=2, pairwise_auc_negatives=3)
    trainer = LLMTrainer(config, model)
    trainer.valid_data = valid_data  # as fit keeps it: the validation pass (the prior's γ) scores no pairs
    own_pass = model.pairwise_auc(test_data._dataset.inter_feat, pairwise_negatives(model, test_data, config))
    model.pairwise_auc = None  # the measure must come from the test pass itself
    result = evaluate(trainer, test_data, saved=False, show_progress=False)
    assert abs(result["pairwise_auc"] - own_pass) < 1e-4 and 0 < own_pass < 1
