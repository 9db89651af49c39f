import pytest
import torch
from recbole.data.interaction import Interaction

from recbole_soft.model.pairwise_auc import PairsScoredInPass, pairwise_wins, score_pairwise_auc


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


def rows(users: list[int], items: list[int]) -> Interaction:
    return Interaction({"user_id": torch.tensor(users), "item_id": torch.tensor(items)})


def test_a_pass_finds_each_rows_negatives_by_user_and_true_item_in_any_order():
    pairs = PairsScoredInPass.of(rows([1, 2, 3], [5, 6, 7]), torch.tensor([[8], [9], [4]]), "user_id", "item_id")
    assert pairs.negatives_of(rows([3, 1], [7, 5])).tolist() == [[4], [8]]
    assert pairs.negatives_of(rows([3, 1], [7, 6])) is None  # user 1's true item is 5: not one of the rows


def test_the_pass_measures_the_auc_only_when_it_scored_every_row_exactly_once():
    pairs = PairsScoredInPass.of(rows([1, 2], [5, 6]), torch.tensor([[8, 9], [7, 3]]), "user_id", "item_id")
    pairs.add(rows([2], [6]), torch.tensor([[-1.0, -2.0, -1.0]]))  # a win and a tie
    assert pairs.auc() is None
    pairs.add(rows([1], [5]), torch.tensor([[-3.0, -1.0, -4.0]]))  # a loss and a win
    assert pairs.auc() == pytest.approx(2.5 / 4)
    pairs.add(rows([1], [5]), torch.tensor([[-3.0, -1.0, -4.0]]))
    assert pairs.auc() is None


def test_rows_a_pass_could_not_tell_apart_are_not_scored_in_the_pass():
    assert PairsScoredInPass.of(rows([1, 1], [5, 5]), torch.tensor([[8], [9]]), "user_id", "item_id") is None
