"""What every LLM trainer adds to RecBole's evaluation: the prior's weight chosen on validation, what the model
answered, and DMPO's pairwise AUC."""
import torch
from recbole.utils import set_color

from recbole_soft.data.negatives import uniform_sampler
from recbole_soft.model.prior import GAMMA_GRID, with_prior


def finish_evaluation(trainer, result: dict | None, eval_data) -> dict | None:
    """Log (and keep in ``run_info``) how the model's top answers spread over items, then add the pairwise AUC.

    The model's ``answers`` log must have been cleared before RecBole's evaluation pass filled it.
    """
    answers = trainer.model.answers.summary()
    if answers["answers"]:
        trainer.run_info["answers"] = answers
        trainer.logger.info(
            set_color("answers", "blue") + f": {answers['answers']} top answers name {answers['distinct_items']} "
            f"distinct items; {answers['no_item_share']:.1%} name no item, {answers['in_history_share']:.1%} an item "
            f"the user already had"
        )
    return with_pairwise_auc(result, trainer.model, eval_data, trainer.config)


def with_pairwise_auc(result: dict | None, model, eval_data, config) -> dict | None:
    """``result`` plus ``pairwise_auc`` when ``pairwise_auc_negatives`` > 0: is the true next title more likely than
    a uniformly drawn other title, by the model's own log-likelihood? (Bai et al. evaluate DMPO this way; the seeded
    negatives are the same for every model.)"""
    count = config["pairwise_auc_negatives"]
    if not count or result is None:
        return result
    rows = eval_data._dataset.inter_feat
    negatives = uniform_sampler(model.titles, config["seed"]).sample(rows[model.ITEM_ID].tolist(), count)
    auc = model.pairwise_auc(rows, negatives, config["eval_batch_size"], config["show_progress"])
    result["pairwise_auc"] = round(auc, config["metric_decimal_place"])
    return result


@torch.no_grad()
def choose_prior_gamma(trainer, valid_data) -> None:
    """With a prior and ``prior_gamma: auto``, set the model's γ to the grid value with the best ``valid_metric`` on
    the validation split (one generation pass; every γ re-ranks the same scores) and log the grid."""
    model, config = trainer.model, trainer.config
    if model.prior is None or config["prior_gamma"] != "auto" or "prior_grid" in trainer.run_info:
        return
    model.eval()
    metric, k = config["valid_metric"].lower().split("@")
    totals = dict.fromkeys(GAMMA_GRID, 0.0)
    rows = 0
    for interaction, history_index, positive_u, positive_i in valid_data:
        interaction = interaction.to(trainer.device)
        llm = model.llm_scores(interaction)
        prior = model.prior.scores(interaction).to(llm.device)
        llm[:, 0] = -float("inf")
        if history_index is not None:
            llm[history_index] = -float("inf")
        targets = torch.full((len(interaction),), -1, dtype=torch.long)
        targets[positive_u] = positive_i
        for gamma in GAMMA_GRID:
            totals[gamma] += _metric_sum(with_prior(llm, prior, gamma).cpu(), targets, metric, int(k))
        rows += len(interaction)
    grid = {gamma: total / rows for gamma, total in totals.items()}
    model.prior_gamma = max(grid, key=lambda gamma: (grid[gamma], -gamma))  # ties: the weaker prior
    trainer.run_info["prior_grid"] = {"metric": config["valid_metric"], "scores": grid, "chosen": model.prior_gamma}
    listed = ", ".join(f"{gamma:g}: {score:.4f}" for gamma, score in grid.items())
    trainer.logger.info(set_color("prior γ", "blue") + f" on validation {config['valid_metric']}: {listed}; chosen γ = {model.prior_gamma:g}")


def _metric_sum(scores: torch.Tensor, targets: torch.Tensor, metric: str, k: int) -> float:
    """Sum over rows of Hit, NDCG or MRR at k for one relevant item per row (leave-one-out)."""
    target_scores = scores.gather(1, targets.clamp(min=0)[:, None])
    rank = (scores > target_scores).sum(dim=1)  # 0 = first
    found = (rank < k) & (targets >= 0)
    if metric == "hit":
        values = found.float()
    elif metric == "ndcg":
        values = found.float() / torch.log2(rank.float() + 2)
    elif metric == "mrr":
        values = found.float() / (rank.float() + 1)
    else:
        raise ValueError(f"prior_gamma=auto selects on Hit, NDCG or MRR at k; valid_metric={metric}@{k} is none of them.")
    return values.sum().item()
