import pytest
import torch

from recbole_soft.data.negatives import hard_negatives, popularity_sampler, uniform_sampler

TITLES = ["", "Heat", "Heat", "Alien", "Brazil", "Casino", "Dune", "Fargo"]  # items 1 and 2 share a title


@pytest.mark.parametrize("make", [
    lambda: uniform_sampler(TITLES, seed=0),
    lambda: popularity_sampler(TITLES, torch.tensor([1, 2, 3, 3, 4, 5, 6, 7, 7, 7]), seed=0),
])
def test_samplers_never_return_the_positive_its_title_twins_or_padding(make):
    sampler = make()
    positives = [1, 2, 3, 7] * 25
    negatives = sampler.sample(positives, 3)
    assert negatives.shape == (100, 3)
    for positive, row in zip(positives, negatives.tolist()):
        assert len(set(row)) == 3
        assert 0 not in row and positive not in row
        assert all(TITLES[item] != TITLES[positive] for item in row)


def test_popularity_never_draws_items_unseen_in_training():
    sampler = popularity_sampler(TITLES, torch.tensor([3, 4, 4, 5]), seed=1)
    assert set(sampler.sample([1] * 50, 2).flatten().tolist()) <= {3, 4, 5}


def test_the_same_seed_draws_the_same_negatives():
    assert torch.equal(uniform_sampler(TITLES, 5).sample([3, 4], 2), uniform_sampler(TITLES, 5).sample([3, 4], 2))


def test_more_negatives_than_the_catalogue_allows_is_refused():
    with pytest.raises(ValueError, match="dmpo_neg_num=6 negatives.*only 5 items"):
        uniform_sampler(TITLES, seed=0).sample([1], 6)


def test_hard_negatives_are_the_best_scored_wrong_items():
    scores = torch.tensor([[9.0, 8.0, 7.5, 1.0, 6.0, 5.0, 0.0, 2.0]])
    assert hard_negatives(scores, torch.tensor([1]), 2, TITLES).tolist() == [[4, 5]]
    with pytest.raises(ValueError, match="dmpo_neg_num=6 is larger"):
        hard_negatives(scores, torch.tensor([1]), 6, TITLES)
