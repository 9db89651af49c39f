"""DMPO's pairwise AUC on a run's test rows, for every model of a table (the measure: ``model/pairwise_auc.py``).

An LLM model compares the two titles' log-likelihoods (its ``pairwise_auc``; one that ranks with beams scores the
pairs inside its test pass, from the prompt encoding the beams start from); a classical RecBole model compares its
own full-ranking scores of the two items. The negatives are drawn once per run from the run's seed over the
dataset's titles (never the true item nor an item with its title), so every model of a table meets the same ones.
"""
from logging import getLogger

import torch

from recbole_soft.data import load_item_titles
from recbole_soft.data.negatives import uniform_sampler
from recbole_soft.model.pairwise_auc import PairsScoredInPass, score_pairwise_auc


def pairwise_negatives(model, eval_data, config) -> torch.Tensor:
    """``[rows, pairwise_auc_negatives]``: the negatives of ``eval_data``'s rows, the same at every call of a run."""
    rows = eval_data._dataset.inter_feat
    titles = getattr(model, "titles", None) or load_item_titles(config, eval_data._dataset)
    count = config["pairwise_auc_negatives"]
    return uniform_sampler(titles, config["seed"]).sample(rows[model.ITEM_ID].tolist(), count)


def pairs_for_the_pass(model, eval_data, config) -> PairsScoredInPass | None:
    """The pairs an LLM model that ranks with beams scores inside its pass over ``eval_data``. None when the AUC is
    off, when the model generates its answers, or when two rows share a (user, true item) (a pass could not tell
    them apart): ``with_pairwise_auc`` then measures it in a pass of its own."""
    if not config["pairwise_auc_negatives"] or not getattr(model, "ranking_beams", 0):
        return None
    rows = eval_data._dataset.inter_feat
    pairs = PairsScoredInPass.of(rows, pairwise_negatives(model, eval_data, config), model.USER_ID, model.ITEM_ID)
    if pairs is None:
        getLogger().warning("pairwise AUC: two test rows share a user and a true item; measured in a pass of its own")
    return pairs


def with_pairs_scored_in_pass(result: dict | None, pairs: PairsScoredInPass | None, config) -> dict | None:
    """``result`` plus the ``pairwise_auc`` of the pairs a pass scored, when it scored them all."""
    if result is None or pairs is None:
        return result
    auc = pairs.auc()
    if auc is None:
        getLogger().warning("pairwise AUC: the test pass did not score every test row once; measured in a pass of "
                            "its own")
    else:
        result["pairwise_auc"] = round(auc, config["metric_decimal_place"])
    return result


def with_pairwise_auc(result: dict | None, model, eval_data, config) -> dict | None:
    """``result`` plus ``pairwise_auc`` when ``pairwise_auc_negatives`` > 0, measured on ``eval_data``'s rows (kept
    when the evaluation pass measured it already)."""
    if not config["pairwise_auc_negatives"] or result is None or "pairwise_auc" in result:
        return result
    rows = eval_data._dataset.inter_feat
    negatives = pairwise_negatives(model, eval_data, config)
    if hasattr(model, "pairwise_auc"):
        auc = model.pairwise_auc(rows, negatives, config["show_progress"])
    else:
        auc = score_pairwise_auc(model, rows, negatives, config["eval_batch_size"], config["device"],
                                 config["show_progress"])
    result["pairwise_auc"] = round(auc, config["metric_decimal_place"])
    return result
