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


class PairsScoredInPass:
    """The pairwise AUC an LLM model measures inside its test pass: each batch's rows are found among the rows the
    negatives were drawn for by (user, true item), and their pairs are scored from the prompt encoding the beams
    start from, so the measure costs no second encoding of the test prompts. Built by ``of``."""

    def __init__(self, negatives: dict[tuple[int, int], list[int]], user_field: str, item_field: str):
        self.negatives, self.user_field, self.item_field = negatives, user_field, item_field
        self.scored: list[tuple[int, int]] = []  # the rows scored so far, once each if the pass is what it should be
        self.missed = False  # a batch had a row that is not one of the pairs': the pass cannot measure the AUC
        self.wins, self.pairs = 0.0, 0

    @classmethod
    def of(
        cls, rows: Interaction, negatives: torch.Tensor, user_field: str, item_field: str
    ) -> "PairsScoredInPass | None":
        """The pairs of ``rows`` (``negatives[i]``: row i's), or None when two rows share a (user, true item) and a
        pass could not tell them apart."""
        keys = cls._keys(rows, user_field, item_field)
        by_row = dict(zip(keys, negatives.tolist()))
        return cls(by_row, user_field, item_field) if len(by_row) == len(keys) else None

    @staticmethod
    def _keys(interaction: Interaction, user_field: str, item_field: str) -> list[tuple[int, int]]:
        return list(zip(interaction[user_field].tolist(), interaction[item_field].tolist()))

    def negatives_of(self, interaction: Interaction) -> torch.Tensor | None:
        """``[rows, k]``: the negatives of each row of a batch; None once a row was not one of the pairs' rows (no
        batch is scored after it, and ``auc`` says the pass did not measure the AUC)."""
        found = [self.negatives.get(key) for key in self._keys(interaction, self.user_field, self.item_field)]
        self.missed = self.missed or any(row is None for row in found)
        return None if self.missed else torch.tensor(found, dtype=torch.long)

    def add(self, interaction: Interaction, log_probs: torch.Tensor) -> None:
        """Count a batch's wins from its rows' ``[rows, 1 + k]`` log-probabilities of [true item, *negatives]."""
        self.scored += self._keys(interaction, self.user_field, self.item_field)
        self.wins += pairwise_wins(log_probs[:, :1], log_probs[:, 1:]).item()
        self.pairs += log_probs[:, 1:].numel()

    def auc(self) -> float | None:
        """The AUC over every pair, or None unless the pass scored every row exactly once."""
        once_each = len(self.scored) == len(self.negatives) and set(self.scored) == self.negatives.keys()
        return self.wins / self.pairs if once_each and not self.missed else None
