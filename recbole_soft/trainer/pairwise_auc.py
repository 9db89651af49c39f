"""DMPO's pairwise AUC on a run's test rows, for every model of a table (the measure: ``model/pairwise_auc.py``).

An LLM model compares the two titles' log-likelihoods (its ``pairwise_auc``); a classical RecBole model compares its
own full-ranking scores of the two items. The negatives are drawn once per run from the run's seed over the
dataset's titles (never the true item nor an item with its title), so every model of a table meets the same ones.
"""
from recbole_soft.data import load_item_titles
from recbole_soft.data.negatives import uniform_sampler
from recbole_soft.model.pairwise_auc import score_pairwise_auc


def with_pairwise_auc(result: dict | None, model, eval_data, config) -> dict | None:
    """``result`` plus ``pairwise_auc`` when ``pairwise_auc_negatives`` > 0, measured on ``eval_data``'s rows."""
    count = config["pairwise_auc_negatives"]
    if not count or result is None:
        return result
    rows = eval_data._dataset.inter_feat
    titles = getattr(model, "titles", None) or load_item_titles(config, eval_data._dataset)
    negatives = uniform_sampler(titles, config["seed"]).sample(rows[model.ITEM_ID].tolist(), count)
    if hasattr(model, "pairwise_auc"):
        auc = model.pairwise_auc(rows, negatives, config["show_progress"])
    else:
        auc = score_pairwise_auc(model, rows, negatives, config["eval_batch_size"], config["device"],
                                 config["show_progress"])
    result["pairwise_auc"] = round(auc, config["metric_decimal_place"])
    return result
