"""BIGRec's grounding with statistics: a collaborative prior re-weights an LLM model's ranking of all items.

BIGRec (Bao et al.; its ``adjust_pda.py`` and ``adjust_ci.py``) divides each item's normalised distance to the
generated answer by ``(1 + P̃_i)^γ``, where P̃_i is a prior min-max normalised to [0, 1]: the item's popularity on
the training data, or a trained classical model's score for the user (the "CI" variant); smaller is better.
γ = 0 leaves the LLM's ranking exactly as it was. Several priors may be named: the first ranks the model's scores,
each other one is measured beside it from the same generation pass, each with its own γ.

Deliberate differences: BIGRec normalises L2 distances. Here the LLM's ranking may put the beam search's items first
by log-probability and the rest by distance, two scales that cannot be min-max normalised together, so the LLM's
distance of an item is its normalised rank instead: 0 for the LLM's first item, 1 for its last. As in BIGRec, the
LLM's first item (distance 0) stays first at any γ. BIGRec's γ grid ends at 99; on ml-100k the validation split
chose the largest γ offered for every LLM model, so the grid goes on to 10^4, where (1 + P̃)^γ overflows any float:
the ranking is computed from its logarithm, ``log D̂ - γ log(1 + P̃)``, which orders items exactly as the ratio does.
"""
from pathlib import Path

import torch
from recbole.data.interaction import Interaction

from recbole_soft.data.history import user_sequences
from recbole_soft.errors import InvalidSetting
from recbole_soft.model.restored import restore_recbole_model
from recbole_soft.settings import PRIORS, prior_names

# γ values tried on the validation split when ``prior_gamma`` is "auto" (BIGRec searched 0.01-0.99 and 1-99; the
# larger ones let a prior whose top scores lie close together, as a model's do, order the items below the LLM's first)
GAMMA_GRID = (0.0, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0, 10000.0)


class PopularityPrior:
    """How often each item occurs in the training part of the users' sequences."""

    name = "popularity"

    def __init__(self, dataset):
        counts = torch.zeros(dataset.item_num)
        for sequence in user_sequences(dataset).values():
            counts.index_add_(0, torch.tensor(sequence), torch.ones(len(sequence)))
        counts[0] = 0.0
        self.counts = counts

    def scores(self, interaction: Interaction) -> torch.Tensor:
        return self.counts.expand(len(interaction), -1)


class ModelPrior:
    """The full-ranking scores of a RecBole model restored from its checkpoint (e.g. SASRec's ``.pth``), frozen;
    named after that model."""

    def __init__(self, checkpoint: str | Path, dataset, device: torch.device):
        self.model = restore_recbole_model(checkpoint, dataset, device, setting="prior_checkpoint (for prior=model)")
        self.name = type(self.model).__name__
        self.device = device

    @torch.no_grad()
    def scores(self, interaction: Interaction) -> torch.Tensor:
        # RecBole's evaluation hands the model a copy of the batch on its device and keeps the batch itself on the CPU
        interaction = interaction.to(self.device)
        return self.model.full_sort_predict(interaction).view(len(interaction), -1).float()


Prior = PopularityPrior | ModelPrior


def build_priors(config, dataset, device: torch.device) -> dict[str, Prior]:
    """The priors ``prior`` names, by their names ("popularity", or the model's, e.g. "SASRec"), in its order: the
    first ranks the model's scores, the others are measured beside it."""
    priors = [_build_prior(kind, config, dataset, device) for kind in prior_names(config["prior"])]
    return {prior.name: prior for prior in priors}


def _build_prior(kind: str, config, dataset, device: torch.device) -> Prior:
    if kind == "popularity":
        return PopularityPrior(dataset)
    if kind == "model":
        return ModelPrior(config["prior_checkpoint"], dataset, device)
    raise InvalidSetting(f"prior='{kind}' is not one of {', '.join(PRIORS)}.")


def with_prior(llm_scores: torch.Tensor, prior_scores: torch.Tensor, gamma: float) -> torch.Tensor:
    """Scores (higher is better) ranking items by ``D̂ / (1 + P̃)^γ`` (BIGRec's grounding with statistics), smallest
    first; the LLM's scores unchanged when γ = 0. The scores are the items' places from the last (the first item
    scores n - 1), computed in float64 from ``log D̂ - γ log(1 + P̃)`` so that no γ of the grid overflows."""
    if gamma == 0:
        return llm_scores
    items = llm_scores.size(1)
    ranks = llm_scores.argsort(dim=1, descending=True).argsort(dim=1).double()
    distance = ranks / max(1, items - 1)
    prior = prior_scores.double().clone()
    prior[~torch.isfinite(prior)] = float("nan")
    low, high = prior.nan_to_num(float("inf")).min(dim=1, keepdim=True).values, prior.nan_to_num(-float("inf")).max(dim=1, keepdim=True).values
    normalised = ((prior - low) / (high - low).clamp(min=1e-12)).nan_to_num(0.0)
    log_ratio = distance.log() - gamma * normalised.log1p()  # -inf for the LLM's first item: first at any γ
    places = log_ratio.argsort(dim=1, descending=True, stable=True).argsort(dim=1)
    return places.to(llm_scores.dtype).masked_fill(~torch.isfinite(llm_scores), -float("inf"))
