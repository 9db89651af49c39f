import pytest
import torch
from recbole.data.interaction import Interaction

from recbole_soft.model.pairwise_auc import pairwise_wins, score_pairwise_auc


class ScoresAreItemIds(torch.nn.Module):
    """A RecBole-like model that scores item i with i, for every user."""

    ITEM_ID = "item_id"

    def full_sort_predict(self, interaction: Interaction) -> torch.Tensor:
        return torch.arange(10.0).repeat(len(interaction))


def test_a_classical_model_wins_a_pair_when_it_scores_the_true_item_higher_and_half_a_tie():
    rows = Interaction({"item_id": torch.tensor([5, 2, 7])})
    negatives = torch.tensor([[1, 9], [3, 2], [6, 8]])  # wins: 1, 0; 0, tie; 1, 0
    assert score_pairwise_auc(ScoresAreItemIds(), rows, negatives, batch_size=2, device="cpu") == pytest.approx(2.5 / 6)


def test_the_true_item_wins_each_pair_it_is_likelier_in_and_half_of_each_tie():
    positive = torch.tensor([[-1.0], [-3.0]])
    negative = torch.tensor([[-2.0, -1.0, -0.5], [-3.0, -4.0, -9.0]])  # 1, 0.5, 0; 0.5, 1, 1
    assert pairwise_wins(positive, negative).item() == 4.0
