"""BIGRec's collaborative prior: popularity from the training split or a trained model's scores, weighted by γ."""
import numpy as np
import pytest
import torch

from recbole_soft.model.prior import PopularityPrior, with_prior


def test_gamma_zero_leaves_the_llm_scores_unchanged():
    llm = torch.tensor([[-np.inf, 3.0, 1.0, 2.0]])
    assert torch.equal(with_prior(llm, torch.tensor([[0.0, 1.0, 9.0, 5.0]]), 0.0), llm)


def test_a_strong_prior_lifts_popular_items_but_keeps_the_llm_first_item_and_the_padding_out():
    llm = torch.tensor([[-np.inf, 4.0, 3.0, 2.0, 1.0]])
    prior = torch.tensor([[0.0, 0.0, 0.0, 1.0, 10.0]])
    order = with_prior(llm, prior, 10.0)[0].argsort(descending=True).tolist()
    assert order[0] == 1 and order[-1] == 0
    assert order.index(4) < order.index(2)  # the most popular item overtakes the LLM's second choice
    assert torch.equal(with_prior(llm, prior, 1e-9)[0].argsort(descending=True), llm[0].argsort(descending=True))


def test_popularity_counts_the_training_part_of_every_users_sequence(build):
    _, train_data, *_, model = build("BIGRec", prior="popularity")
    dataset = train_data._dataset
    counts = torch.zeros(dataset.item_num)
    users = {}
    for user, items, length, target in zip(dataset.inter_feat["user_id"].tolist(), dataset.inter_feat["item_id_list"],
                                           dataset.inter_feat["item_length"].tolist(), dataset.inter_feat["item_id"].tolist()):
        users.setdefault(user, items[:length].tolist())
        users[user].append(target)
    for sequence in users.values():
        for item in sequence:
            counts[item] += 1
    assert isinstance(model.prior, PopularityPrior) and torch.equal(model.prior.counts, counts)


def test_auto_gamma_is_chosen_on_validation_and_logged(llm_config):
    from recbole_soft import run_recbole_soft
    from recbole_soft.model.prior import GAMMA_GRID

    result = run_recbole_soft("BIGRec", "tiny", config_dict={**llm_config, "prior": "popularity", "ranking_beams": 2}, command_line=False)
    grid = result["prior_grid"]
    assert set(grid["scores"]) == set(GAMMA_GRID) and grid["metric"] == "NDCG@10"
    assert grid["scores"][grid["chosen"]] == max(grid["scores"].values())


def test_a_model_prior_needs_its_checkpoint(build):
    with pytest.raises(FileNotFoundError, match="prior_checkpoint"):
        build("BIGRec", prior="model")


def test_a_model_prior_scores_with_the_restored_recbole_model(llm_config, build):
    from recbole_soft import run_recbole_soft

    settings = {key: value for key, value in llm_config.items() if key in ("data_path", "load_col", "checkpoint_dir", "state")}
    sasrec = run_recbole_soft("SASRec", "tiny", config_dict={**settings, "epochs": 1, "train_batch_size": 64}, command_line=False)
    checkpoint = sasrec["result_file"].replace(".result.json", ".pth")
    *_, test_data, model = build("BIGRec", prior="model", prior_checkpoint=checkpoint)
    interaction = next(iter(test_data))[0]
    restored = model.prior.model
    assert type(restored).__name__ == "SASRec" and not any(p.requires_grad for p in restored.parameters())
    with torch.no_grad():
        assert model.prior.scores(interaction).shape == (len(interaction), model.n_items)


def test_one_evaluation_pass_also_measures_the_llm_without_its_prior(llm_config, tmp_path):
    from recbole_soft import run_recbole_soft

    settings = {**llm_config, "ranking_beams": 2}
    with_popularity = run_recbole_soft("BIGRec", "tiny", config_dict={**settings, "prior": "popularity", "prior_gamma": 1.0,
                                                                      "checkpoint_dir": str(tmp_path / "prior")}, command_line=False)
    alone = run_recbole_soft("BIGRec", "tiny", config_dict={**settings, "checkpoint_dir": str(tmp_path / "alone")}, command_line=False)
    assert with_popularity["result_without_prior"] == pytest.approx(dict(alone["test_result"]))
    assert "result_without_prior" not in alone
