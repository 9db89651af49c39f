from pathlib import Path

import pytest
import torch

from recbole_soft import run_recbole_soft
from recbole_soft.data import cap_train_data
from recbole_soft.trainer.dmpo_trainer import DMPOTrainer


@pytest.mark.parametrize("sampler", ["uniform", "popularity", "hard"])
def test_dmpo_trains_against_a_frozen_reference_from_the_sft_adapter(build, sampler):
    config, train_data, valid_data, _, model = build("DMPO", dmpo_neg_sampler=sampler, dmpo_neg_num=2, train_sample_num=8)
    trainer = DMPOTrainer(config, model)
    trainer.fit(train_data, valid_data)
    assert list(trainer.run_info["stage_times_s"]) == ["sft", "negatives", "preference"]
    [record] = trainer.run_info["preference_log"]
    assert 0.0 <= record["accuracy"] <= 1.0 and isinstance(record["reward_margin"], float)

    rows = cap_train_data(train_data, 8, config["seed"])._dataset.inter_feat
    stored = [model.preference[key] for key in model.preference_keys(rows)]
    negatives = torch.stack([negative for negative, _ in stored])
    assert all(p not in row for p, row in zip(rows["item_id"].tolist(), negatives.tolist()))
    model.eval()
    with torch.no_grad():
        model.load_adapter(trainer.adapter_dir)
        policy, _ = model.candidate_log_probs(rows, negatives)
        model.load_adapter(Path(str(trainer.final_adapter_dir) + "-sft"))
        reference_now, _ = model.candidate_log_probs(rows, negatives)
    reference = torch.stack([logps for _, logps in stored])
    assert torch.allclose(reference, reference_now, atol=1e-4)  # the reference did not move
    assert not torch.allclose(policy, reference_now, atol=1e-4)  # the policy did


def test_the_preference_stage_scores_at_most_likelihood_batch_size_sequences_per_pass(build):
    config, train_data, valid_data, _, model = build(
        "DMPO", dmpo_neg_num=2, train_sample_num=8, train_batch_size=4, likelihood_batch_size=6
    )
    sequences_per_pass = []
    scored = model.candidate_log_probs

    def counting(interaction, negatives):
        sequences_per_pass.append(len(interaction) * (1 + negatives.size(1)))
        return scored(interaction, negatives)

    model.candidate_log_probs = counting
    DMPOTrainer(config, model).fit(train_data, valid_data)
    # the reference pass over 8 rows and the two training batches of 4 rows, each in passes of 2 rows x 3 titles
    assert sequences_per_pass == [6] * 4 + [6] * 4


def test_loading_bigrecs_adapter_as_the_sft_stage_gives_the_result_of_training_the_stage(llm_config):
    """What lets a suite's DMPO row load the BIGRec row's adapter instead of training stage 1 again: every draw of
    the later stages (negatives, dropout, shuffling) starts from the run's seed either way."""
    settings = {**llm_config, "dmpo_neg_num": 2}
    bigrec = run_recbole_soft("BIGRec", "tiny", config_dict=settings)
    adapter = Path(bigrec["result_file"]).with_suffix("").with_suffix("")
    trained = run_recbole_soft("DMPO", "tiny", config_dict=settings)
    loaded = run_recbole_soft("DMPO", "tiny", config_dict={**settings, "sft_adapter_path": str(adapter)})
    assert loaded["test_result"] == trained["test_result"] and loaded["preference_log"] == trained["preference_log"]
