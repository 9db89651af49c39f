"""CLCLMRec's data selection: few samples that cover the space of user representations."""
import torch

from recbole_soft.data.selection import covering_samples


def clustered_points(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Six well-separated clusters of 20 points each, and each point's cluster."""
    generator = torch.Generator().manual_seed(seed)
    centres = torch.eye(6) * 50
    labels = torch.arange(6).repeat_interleave(20)
    return centres[labels] + torch.randn(120, 6, generator=generator), labels


def test_one_sample_is_chosen_in_every_cluster():
    points, labels = clustered_points()
    chosen = covering_samples(points, 6, seed=2020)
    assert len(set(chosen)) == 6 and sorted(labels[chosen].tolist()) == list(range(6))


def test_the_selection_is_deterministic_per_seed():
    points, _ = clustered_points()
    assert covering_samples(points, 10, seed=1) == covering_samples(points, 10, seed=1)
    spread = torch.randn(200, 4, generator=torch.Generator().manual_seed(5))
    assert covering_samples(spread, 10, seed=1) != covering_samples(spread, 10, seed=2)


def test_asking_for_more_samples_than_rows_gives_every_row():
    points, _ = clustered_points()
    assert covering_samples(points[:5], 8, seed=0) == [0, 1, 2, 3, 4]
