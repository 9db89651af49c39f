"""What every LLM trainer adds to RecBole's evaluation: the prior's weight chosen on validation, what the model
answered, and DMPO's pairwise AUC."""
import torch
from recbole.evaluator import Collector
from recbole.utils import set_color

from recbole_soft.data.negatives import uniform_sampler
from recbole_soft.model.prior import GAMMA_GRID, with_prior


def start_evaluation(trainer) -> None:
    """Before RecBole's evaluation pass: empty the answer log and the collector of the scores without prior."""
    trainer.model.answers.clear()
    trainer.without_prior = Collector(trainer.config)
    trainer.without_prior_used = False


def collect_without_prior(trainer, batched_data, interaction, positive_u, positive_i) -> None:
    """When the prior re-weighted the batch, also collect the LLM's own scores, masked as RecBole masks the others."""
    scores = trainer.model.scores_without_prior
    if scores is None:
        return
    trainer.model.scores_without_prior = None
    scores = scores.view(-1, trainer.tot_item_num)
    scores[:, 0] = -float("inf")
    if batched_data[1] is not None:
        scores[batched_data[1]] = -float("inf")
    trainer.without_prior.eval_batch_collect(scores, interaction, positive_u, positive_i)
    trainer.without_prior_used = True


def finish_evaluation(trainer, result: dict | None, eval_data) -> dict | None:
    """Log (and keep in ``run_info``) how the model's top answers spread over items and, with a prior, the metrics
    of the LLM alone from the same pass; then add the pairwise AUC."""
    if trainer.without_prior_used:
        trainer.without_prior.model_collect(trainer.model)
        alone = trainer.evaluator.evaluate(trainer.without_prior.get_data_struct())
        trainer.run_info["result_without_prior"] = dict(alone)
        trainer.logger.info(set_color("without the prior", "blue") + f": {dict(alone)}")
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


class LLMEvaluation:
    """RecBole's evaluation as every LLM trainer runs it (mixed in before RecBole's Trainer): the best weights are
    loaded (``load_best``), the prior's γ is chosen on validation, and what ``finish_evaluation`` adds is added."""

    valid_data = None  # the trainer's fit keeps it: the prior's γ is chosen on it before the test

    def load_best(self, model_file: str | None) -> None:
        """Load the weights to test; nothing by default (an untrained model)."""

    def evaluate(self, eval_data, load_best_model=True, model_file=None, show_progress=False):
        if load_best_model:
            self.load_best(model_file)
            choose_prior_gamma(self, self.valid_data)
        start_evaluation(self)
        result = super().evaluate(eval_data, load_best_model=False, show_progress=show_progress)
        return finish_evaluation(self, result, eval_data)

    def _full_sort_batch_eval(self, batched_data):
        interaction, scores, positive_u, positive_i = super()._full_sort_batch_eval(batched_data)
        collect_without_prior(self, batched_data, interaction, positive_u, positive_i)
        return interaction, scores, positive_u, positive_i
