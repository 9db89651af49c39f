"""BIGRec's collaborative prior: popularity from the training split or a trained model's scores, weighted by γ."""
import re

import numpy as np
import pytest
import torch

from recbole_soft.model.prior import PopularityPrior, with_prior
from tests.conftest import write_atomic_dataset


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


def test_a_prior_too_strong_for_any_float_still_orders_the_items_below_the_llm_first_one():
    items = 2000
    llm = torch.arange(items, 0, -1, dtype=torch.float).unsqueeze(0)  # the LLM ranks item 0 first, then 1, 2, ...
    prior = torch.linspace(0.0, 1.0, items).unsqueeze(0)  # the prior ranks them the other way round
    order = with_prior(llm, prior, 10000.0)[0].argsort(descending=True).tolist()
    assert order[0] == 0
    assert order[1:] == list(range(items - 1, 0, -1))  # (1 + P)^γ is inf in float32 and float64 here


def test_ties_of_the_prior_keep_the_llm_order():
    llm = torch.tensor([[5.0, 4.0, 3.0, 2.0, 1.0]])
    prior = torch.tensor([[0.0, 1.0, 1.0, 1.0, 0.0]])
    assert with_prior(llm, prior, 3.0)[0].argsort(descending=True).tolist() == [0, 1, 2, 3, 4]


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
    prior = model.priors["popularity"]
    assert isinstance(prior, PopularityPrior) and torch.equal(prior.counts, counts)


def test_auto_gamma_is_chosen_on_validation_for_each_prior_and_logged(llm_config, trained_checkpoint):
    from recbole_soft import run_recbole_soft
    from recbole_soft.model.prior import GAMMA_GRID

    settings = {**llm_config, "prior": ["popularity", "model"], "prior_checkpoint": trained_checkpoint("SASRec"),
                "ranking_beams": 2}
    result = run_recbole_soft("BIGRec", "tiny", config_dict=settings, command_line=False)
    assert list(result["prior_grid"]) == result["priors"] == ["popularity", "SASRec"]
    for grid in result["prior_grid"].values():
        assert set(grid["scores"]) == set(GAMMA_GRID) and grid["metric"] == "NDCG@10"
        assert grid["scores"][grid["chosen"]] == max(grid["scores"].values())


def test_auto_gamma_is_chosen_on_validation_when_the_run_saves_nothing_too(llm_config):
    from recbole_soft import run_recbole_soft

    settings = {**llm_config, "prior": "popularity", "ranking_beams": 2}
    result = run_recbole_soft("BIGRec", "tiny", config_dict=settings, command_line=False, saved=False)
    grid = result["prior_grid"]["popularity"]
    assert grid["scores"][grid["chosen"]] == max(grid["scores"].values())


def test_a_model_prior_needs_its_checkpoint(build):
    with pytest.raises(FileNotFoundError, match="prior_checkpoint"):
        build("BIGRec", prior="model")


def test_a_model_prior_scores_with_the_restored_recbole_model_and_is_named_after_it(build, trained_checkpoint):
    *_, test_data, model = build("BIGRec", prior="model", prior_checkpoint=trained_checkpoint("SASRec"))
    interaction = next(iter(test_data))[0]
    restored = model.priors["SASRec"].model
    assert type(restored).__name__ == "SASRec" and not any(p.requires_grad for p in restored.parameters())
    with torch.no_grad():
        assert model.priors["SASRec"].scores(interaction).shape == (len(interaction), model.n_items)


@pytest.mark.parametrize("prior", [["popularity", "popularity"], ["none", "popularity"], "popularity,sasrec", 3, [],
                                   {"popularity": 1}, [["popularity"]]])
def test_the_priors_must_be_distinct_known_names(build, prior):
    from recbole_soft.errors import InvalidSetting

    with pytest.raises(InvalidSetting, match="prior="):
        build("BIGRec", prior=prior)


def test_a_checkpoint_written_with_one_prior_weight_gives_it_to_the_first_prior(build):
    *_, model = build("BIGRec", prior="popularity")
    model.load_other_parameter({"prior_gamma": 3.0})
    assert model.prior_gammas == {"popularity": 3.0}


def test_priors_may_be_named_on_the_command_line_joined_by_commas():
    from recbole_soft.settings import prior_names

    assert prior_names("popularity,model") == ("popularity", "model") and prior_names("none") == ()


def test_one_evaluation_pass_also_measures_the_llm_without_its_prior(llm_config, tmp_path):
    from recbole_soft import run_recbole_soft

    settings = {**llm_config, "ranking_beams": 2}
    with_popularity = run_recbole_soft("BIGRec", "tiny", config_dict={**settings, "prior": "popularity", "prior_gamma": 1.0,
                                                                      "checkpoint_dir": str(tmp_path / "prior")}, command_line=False)
    alone = run_recbole_soft("BIGRec", "tiny", config_dict={**settings, "checkpoint_dir": str(tmp_path / "alone")}, command_line=False)
    assert with_popularity["result_without_prior"] == pytest.approx(dict(alone["test_result"]))
    assert "result_without_prior" not in alone


def test_a_second_prior_is_measured_beside_the_first_as_if_it_ranked_the_run(llm_config, trained_checkpoint, tmp_path):
    from recbole_soft import run_recbole_soft

    settings = {**llm_config, "ranking_beams": 2, "prior_gamma": 1.0, "prior_checkpoint": trained_checkpoint("SASRec")}
    runs = {
        order[0]: run_recbole_soft("BIGRec", "tiny", command_line=False, config_dict={
            **settings, "prior": list(order), "checkpoint_dir": str(tmp_path / order[0])})
        for order in (("popularity", "model"), ("model", "popularity"))
    }
    popularity_first, model_first = runs["popularity"], runs["model"]
    assert popularity_first["result_with_prior"]["SASRec"] == pytest.approx(dict(model_first["test_result"]))
    assert model_first["result_with_prior"]["popularity"] == pytest.approx(dict(popularity_first["test_result"]))
    assert popularity_first["result_without_prior"] == pytest.approx(model_first["result_without_prior"])
    assert popularity_first["test_result"] != model_first["test_result"]  # the two priors rank differently


@pytest.mark.parametrize("name, items, says", [
    ("other", 30, "holds a SASRec trained on tiny; this run's dataset is other"),
    ("tiny", 12, "was trained on other tiny data than this run's"),
])
def test_a_checkpoint_of_another_dataset_or_of_other_items_is_refused_with_what_to_give(
    tmp_path, trained_checkpoint, name, items, says
):
    from recbole.data import create_dataset

    from recbole_soft.config import Config
    from recbole_soft.errors import InvalidSetting
    from recbole_soft.model.restored import restore_recbole_model

    write_atomic_dataset(tmp_path, name, n_items=items)
    config = Config(model="SASRec", dataset=name, command_line=False, config_dict={
        "data_path": str(tmp_path), "load_col": {"inter": ["user_id", "item_id", "timestamp"]}, "state": "WARNING"})
    with pytest.raises(InvalidSetting, match=re.escape(says)):
        restore_recbole_model(trained_checkpoint("SASRec"), create_dataset(config), torch.device("cpu"), "prior_checkpoint")
