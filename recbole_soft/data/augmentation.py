"""CL4SRec's augmentations of a user's item sequence (Xie et al., ICDE 2022, section "Data Augmentation"): two
random views of the same history are a positive pair for contrastive learning.

- crop: a random contiguous sub-sequence of ⌊η·n⌋ items (at least one);
- mask: ⌊γ·n⌋ random positions replaced by a mask item;
- reorder: a random contiguous run of ⌊β·n⌋ items shuffled.
Every view keeps its items in their relative order except inside the reordered run, never adds an item of
another sequence, and keeps at least one item.
"""
import numpy as np
import torch
from recbole.data.interaction import Interaction, cat_interactions

AUGMENTATIONS = ("crop", "mask", "reorder")
HIDDEN = -1  # the mask item of views that leave hidden items out


def _random_run(size: int, ratio: float, rng: np.random.Generator) -> tuple[int, int]:
    """Start and length of a random contiguous run of ⌊ratio·size⌋ positions (at least one)."""
    length = max(1, int(ratio * size))
    return int(rng.integers(0, size - length + 1)), length


def crop(items: list[int], eta: float, rng: np.random.Generator) -> list[int]:
    start, length = _random_run(len(items), eta, rng)
    return items[start : start + length]


def mask(items: list[int], gamma: float, mask_item: int, rng: np.random.Generator) -> list[int]:
    masked = list(items)
    for position in rng.choice(len(items), size=int(gamma * len(items)), replace=False):
        masked[position] = mask_item
    return masked


def reorder(items: list[int], beta: float, rng: np.random.Generator) -> list[int]:
    start, length = _random_run(len(items), beta, rng)
    run = items[start : start + length]
    return items[:start] + [run[i] for i in rng.permutation(length)] + items[start + length :]


def augment(items: list[int], rng: np.random.Generator, mask_item: int, ratios: dict[str, float]) -> list[int]:
    """One view of ``items`` by one of the three augmentations drawn uniformly (CL4SRec's random choice per view)."""
    method = AUGMENTATIONS[int(rng.integers(len(AUGMENTATIONS)))]
    if method == "crop":
        return crop(items, ratios["crop"], rng)
    if method == "mask":
        return mask(items, ratios["mask"], mask_item, rng)
    return reorder(items, ratios["reorder"], rng)


def augmented_batch(
    item_seq: torch.Tensor, item_length: torch.Tensor, rng: np.random.Generator, mask_item: int, ratios: dict[str, float]
) -> tuple[torch.Tensor, torch.Tensor]:
    """A view of every row of RecBole's left-aligned, zero-padded ``item_seq`` (and the views' lengths)."""
    views = [augment(row[:length].tolist(), rng, mask_item, ratios) for row, length in zip(item_seq.cpu(), item_length.tolist())]
    padded = torch.zeros_like(item_seq, device="cpu")
    for row, view in enumerate(views):
        padded[row, : len(view)] = torch.tensor(view)
    lengths = torch.tensor([len(view) for view in views], dtype=item_length.dtype)
    return padded.to(item_seq.device), lengths.to(item_length.device)


def augmented_rows(
    rows: Interaction, seq_field: str, length_field: str, views: int, ratios: dict[str, float], seed: int
) -> Interaction:
    """``views`` augmented copies of every row of RecBole's ``rows``: the same user and target, the history replaced
    by a crop, a reorder, or a mask whose hidden items are left out (a prompt cannot show a mask item)."""
    rng = np.random.default_rng(seed)
    copies = []
    for _ in range(views):
        copy = Interaction({name: value.clone() for name, value in rows.interaction.items()})
        sequences, lengths = copy[seq_field], copy[length_field]
        for row in range(len(copy)):
            view = [item for item in augment(sequences[row, : lengths[row]].tolist(), rng, HIDDEN, ratios) if item != HIDDEN]
            view = view or sequences[row, lengths[row] - 1 : lengths[row]].tolist()  # everything hidden: keep the last item
            sequences[row] = 0
            sequences[row, : len(view)] = torch.tensor(view)
            lengths[row] = len(view)
        copies.append(copy)
    return cat_interactions(copies) if copies else rows[:0]
