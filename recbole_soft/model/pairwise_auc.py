"""DMPO's pairwise AUC (Bai et al.): the share of (true next item, other item) pairs a model ranks the right way round,
ties counting half. One measure for every model: an LLM compares the two titles' log-likelihoods, a classical RecBole
model its own full-ranking scores of the two items."""
import torch
from recbole.data.interaction import Interaction
from tqdm import tqdm


def pairwise_wins(positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
    """How many pairs the true item wins, ties counting half: ``positive`` is ``[rows, 1]``, ``negative``
    ``[rows, k]``; a 0-d float64 tensor on their device, to be summed over batches (and processes)."""
    return (positive > negative).sum(dtype=torch.float64) + 0.5 * (positive == negative).sum(dtype=torch.float64)


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
        wins += pairwise_wins(positive, negative).item()
    model.train(was_training)
    return wins / negatives.numel()
