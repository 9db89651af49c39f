"""What every LLM trainer adds to RecBole's evaluation: the prior's weight chosen on validation and what the model
answered."""
from pathlib import Path

import torch
from recbole.evaluator import Collector
from recbole.utils import set_color

from recbole_soft.distributed import on_main_process
from recbole_soft.model.prior import GAMMA_GRID, with_prior
from recbole_soft.trainer.checkpoint import save_tested_model
from recbole_soft.trainer.pairwise_auc import pairs_for_the_pass, with_pairs_scored_in_pass


def masked_like_recbole(scores: torch.Tensor, history_index) -> torch.Tensor:
    """A copy of ``scores`` with the padding item and the batch's history index at -inf, as RecBole's full-sort
    evaluation masks the scores it ranks (a copy: the same scores are re-ranked under other priors and γ)."""
    scores = scores.clone()
    scores[:, 0] = -float("inf")
    if history_index is not None:
        scores[history_index] = -float("inf")
    return scores


def collected_result(trainer, collector: Collector) -> dict:
    """RecBole's metrics of what ``collector`` gathered, by the trainer's own evaluator."""
    collector.model_collect(trainer.model)
    return dict(trainer.evaluator.evaluate(collector.get_data_struct()))


def start_evaluation(trainer) -> None:
    """Before RecBole's evaluation pass: empty the answer log and the collectors measured beside the first prior."""
    trainer.model.answers.clear()
    trainer.llm_alone = None  # a Collector of the LLM's own scores once a batch was re-weighted by a prior
    trainer.other_priors = {}  # a Collector per prior after the first


def collect_beside_prior(trainer, batched_data, interaction, positive_u, positive_i) -> None:
    """When a prior re-weighted the batch, also collect the LLM's own scores and the scores re-weighted by each other
    prior instead, each masked as RecBole masks the scores it ranks."""
    model = trainer.model
    scores = model.scores_without_prior
    if scores is None:
        return
    model.scores_without_prior = None

    def collect(collector: Collector, ranked: torch.Tensor) -> Collector:
        masked = masked_like_recbole(ranked.view(-1, trainer.tot_item_num), batched_data[1])
        collector.eval_batch_collect(masked, interaction, positive_u, positive_i)
        return collector

    trainer.llm_alone = collect(trainer.llm_alone or Collector(trainer.config), scores)
    for name in list(model.priors)[1:]:
        reweighted = model.scores_with_prior(name, scores, interaction)
        trainer.other_priors[name] = collect(trainer.other_priors.get(name) or Collector(trainer.config), reweighted)


def finish_evaluation(trainer) -> None:
    """Log (and keep in ``run_info``) how the model's top answers spread over items and, with priors, the metrics
    of the LLM alone and with each other prior from the same pass."""
    if trainer.llm_alone is not None:
        record_beside_prior(trainer)
    answers = trainer.model.answers.summary()
    if answers["answers"]:
        trainer.run_info["answers"] = answers
        trainer.logger.info(
            set_color("answers", "blue") + f": {answers['answers']} top answers name {answers['distinct_items']} "
            f"distinct items; {answers['no_item_share']:.1%} name no item, {answers['in_history_share']:.1%} an item "
            f"the user already had"
        )


def record_beside_prior(trainer) -> None:
    """Keep in ``run_info`` and log the metrics of the LLM alone and, under each other prior's name, with that prior
    instead of the first; ``priors`` names them all, the first (the run's test result) first."""
    alone = collected_result(trainer, trainer.llm_alone)
    trainer.run_info.update(priors=list(trainer.model.priors), result_without_prior=alone)
    trainer.logger.info(set_color("without the prior", "blue") + f": {alone}")
    others = {name: collected_result(trainer, collector) for name, collector in trainer.other_priors.items()}
    if others:
        trainer.run_info["result_with_prior"] = others
    for name, other in others.items():
        trainer.logger.info(set_color(f"with the {name} prior instead", "blue") + f": {other}")


@torch.no_grad()
def choose_prior_gamma(trainer, valid_data) -> None:
    """With priors and ``prior_gamma: auto``, set each prior's γ to the grid value with the best ``valid_metric`` on
    the validation split (one generation pass; every prior and γ re-ranks the same scores, as the test does: the
    prior first, then RecBole's masking) and log the grids."""
    model, config = trainer.model, trainer.config
    if not model.priors or config["prior_gamma"] != "auto" or "prior_grid" in trainer.run_info:
        return
    model.eval()
    collectors = {name: {gamma: Collector(config) for gamma in GAMMA_GRID} for name in model.priors}
    for interaction, history_index, positive_u, positive_i in valid_data:
        interaction = interaction.to(trainer.device)
        with model.masking(history_index):
            llm = model.llm_scores(interaction)
        for name, prior in model.priors.items():
            scores = prior.scores(interaction).to(llm.device)
            for gamma, collector in collectors[name].items():
                ranked = masked_like_recbole(with_prior(llm, scores, gamma), history_index)
                collector.eval_batch_collect(ranked, interaction, positive_u, positive_i)
    trainer.run_info["prior_grid"] = {name: chosen_gamma(trainer, name, by_gamma) for name, by_gamma in collectors.items()}


def chosen_gamma(trainer, name: str, collectors: dict[float, Collector]) -> dict:
    """Set the prior ``name``'s γ to the one whose collected validation scores are best, log the grid and return it."""
    metric = trainer.config["valid_metric"]
    grid = {gamma: collected_result(trainer, collector)[metric.lower()] for gamma, collector in collectors.items()}
    best = max(grid, key=lambda gamma: (grid[gamma], -gamma))  # ties: the weaker prior
    trainer.model.prior_gammas[name] = best
    listed = ", ".join(f"{gamma:g}: {score:.4f}" for gamma, score in grid.items())
    trainer.logger.info(set_color(f"{name} prior γ", "blue") + f" on validation {metric}: {listed}; chosen γ = {best:g}")
    return {"metric": metric, "scores": grid, "chosen": best}


class LLMEvaluation:
    """RecBole's evaluation as every LLM trainer runs it (mixed in before RecBole's Trainer): the best weights are
    loaded (``load_best``), each prior's γ is chosen on validation, the model so tested is saved as RecBole's
    checkpoint file (``save_tested_model``), and what ``finish_evaluation`` adds is added."""

    valid_data = None  # the trainer's fit keeps it: the priors' γ are chosen on it before the test

    def tested_adapter(self, model_file: str | None) -> Path | None:
        """The adapter folder ``load_best`` loads; None for a model without one (an untrained model)."""
        return None

    def load_best(self, model_file: str | None) -> None:
        """Load the weights to test; nothing by default (an untrained model)."""

    def evaluate(self, eval_data, load_best_model=True, model_file=None, show_progress=False):
        if load_best_model:
            self.load_best(model_file)
        if self.valid_data is not None and eval_data is not self.valid_data:  # the test, with the best or last weights
            choose_prior_gamma(self, self.valid_data)
        if load_best_model:
            adapter = self.tested_adapter(model_file)
            on_main_process(lambda: save_tested_model(self.saved_model_file, self.config, self.model, adapter))
        start_evaluation(self)
        pairs = pairs_for_the_pass(self.model, eval_data, self.config) if eval_data is not self.valid_data else None
        with self.model.scoring_pairs(pairs):
            result = super().evaluate(eval_data, load_best_model=False, show_progress=show_progress)
        finish_evaluation(self)
        return with_pairs_scored_in_pass(result, pairs, self.config)

    def _full_sort_batch_eval(self, batched_data):
        with self.model.masking(batched_data[1]):
            interaction, scores, positive_u, positive_i = super()._full_sort_batch_eval(batched_data)
        collect_beside_prior(self, batched_data, interaction, positive_u, positive_i)
        return interaction, scores, positive_u, positive_i
