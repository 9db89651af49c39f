"""DMPO's pairwise AUC as an extra test metric for any LLM model: is the true next title more likely than a
uniformly drawn other title, by the model's own log-likelihood? (Bai et al. evaluate DMPO this way.)"""
from recbole_soft.data.negatives import uniform_sampler


def with_pairwise_auc(result: dict | None, model, eval_data, config) -> dict | None:
    """``result`` plus ``pairwise_auc`` when ``pairwise_auc_negatives`` > 0 (seeded negatives, the same for all models)."""
    count = config["pairwise_auc_negatives"]
    if not count or result is None:
        return result
    rows = eval_data._dataset.inter_feat
    negatives = uniform_sampler(model.titles, config["seed"]).sample(rows[model.ITEM_ID].tolist(), count)
    auc = model.pairwise_auc(rows, negatives, config["eval_batch_size"], config["show_progress"])
    result["pairwise_auc"] = round(auc, config["metric_decimal_place"])
    return result
