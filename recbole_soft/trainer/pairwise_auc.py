"""DMPO's pairwise AUC, for every model of a table: how often is the true next item ranked above a uniformly drawn
other item (ties count half)? Bai et al. evaluate DMPO this way.

An LLM model compares the two titles' log-likelihoods (its ``pairwise_auc``); a classical RecBole model compares its
own full-ranking scores of the two items. The negatives are drawn once per run from the run's seed over the
dataset's titles (never the true item nor an item with its title), so every model of a table meets the same ones.
"""
import torch
from recbole.data.interaction import Interaction
from tqdm import tqdm

from recbole_soft.data import load_item_titles
from recbole_soft.data.negatives import uniform_sampler


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


@torch.no_grad()
def score_pairwise_auc(
    model, rows: Interaction, negatives: torch.Tensor, batch_size: int, device: torch.device,
    show_progress: bool = False,
) -> float:
    """The pairwise AUC of a RecBole model by its ``full_sort_predict`` scores (the scores it ranks all items by)."""
    was_training = model.training
    model.eval()
    wins = 0.0
    for start in tqdm(range(0, len(rows), batch_size), desc="Pairwise AUC", ncols=100, disable=not show_progress):
        batch = rows[start:start + batch_size].to(device)
        scores = model.full_sort_predict(batch).view(len(batch), -1)
        positive = scores.gather(1, batch[model.ITEM_ID].unsqueeze(1))
        negative = scores.gather(1, negatives[start:start + batch_size].to(scores.device))
        wins += ((positive > negative).sum() + 0.5 * (positive == negative).sum()).item()
    model.train(was_training)
    return wins / negatives.numel()
