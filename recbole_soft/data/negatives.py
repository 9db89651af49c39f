"""Negative items for preference training: uniform, popularity-weighted, or the model's own top-ranked wrong items.

A negative is never the positive item, never an item with the same title as the positive (the model could not
prefer one of two identical texts), never the padding item, and the k negatives of a row are distinct.
"""
import numpy as np
import torch

from recbole_soft.data.item_text import items_by_title
from recbole_soft.errors import InvalidSetting


class NegativeSampler:
    """Draws k negatives per positive, seeded, with probability proportional to ``weights`` (one per item id)."""

    def __init__(self, titles: list[str], weights: np.ndarray, seed: int):
        self.titles = titles
        self.weights = np.asarray(weights, dtype=np.float64).copy()
        self.weights[0] = 0.0
        self.rng = np.random.default_rng(seed)
        self.same_title = items_by_title(titles)

    def sample(self, positives: list[int], k: int) -> torch.Tensor:
        """``[len(positives), k]`` item ids."""
        return torch.tensor(np.array([self._sample_one(positive, k) for positive in positives]), dtype=torch.long)

    def _sample_one(self, positive: int, k: int) -> np.ndarray:
        weights = self.weights.copy()
        weights[self.same_title[self.titles[positive]]] = 0.0
        eligible = np.count_nonzero(weights)
        if k > eligible:
            raise InvalidSetting(
                f"dmpo_neg_num={k} negatives are asked for, but only {eligible} items can be a negative of item "
                f"{positive} (other titles, non-zero weight). Lower dmpo_neg_num."
            )
        return self.rng.choice(len(weights), size=k, replace=False, p=weights / weights.sum())


def uniform_sampler(titles: list[str], seed: int) -> NegativeSampler:
    return NegativeSampler(titles, np.ones(len(titles)), seed)


def popularity_sampler(titles: list[str], train_items: torch.Tensor, seed: int) -> NegativeSampler:
    """Weights are training interaction counts, so items never seen in training are never drawn."""
    counts = np.bincount(train_items.cpu().numpy(), minlength=len(titles)).astype(np.float64)
    return NegativeSampler(titles, counts, seed)


def hard_negatives(scores: torch.Tensor, positives: torch.Tensor, k: int, titles: list[str]) -> torch.Tensor:
    """The k best-scored items of each row that are not the positive (nor share its title): ``[rows, k]``."""
    masked = scores.clone().float()
    masked[:, 0] = -np.inf
    same_title = items_by_title(titles)
    for row, positive in enumerate(positives.tolist()):
        masked[row, same_title[titles[positive]]] = -np.inf
    if k > int(torch.isfinite(masked).sum(dim=1).min()):
        raise InvalidSetting(f"dmpo_neg_num={k} is larger than the number of items that can be a negative. Lower it.")
    return masked.topk(k, dim=1).indices.cpu()
