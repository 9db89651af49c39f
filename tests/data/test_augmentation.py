"""CL4SRec's augmentations: each view keeps the sequence's own items and the length rules."""
from collections import Counter

import numpy as np
import pytest
import torch

from recbole_soft.data.augmentation import augment, augmented_batch, crop, mask, reorder

SEQUENCE = [5, 9, 2, 7, 3, 8, 1, 4, 6, 10]
MASK_ITEM = 99


@pytest.mark.parametrize("ratio", [0.1, 0.6, 1.0])
def test_a_crop_is_a_contiguous_run_of_the_sequence_of_the_ratios_length(ratio):
    rng = np.random.default_rng(0)
    for _ in range(20):
        view = crop(SEQUENCE, ratio, rng)
        assert len(view) == max(1, int(ratio * len(SEQUENCE)))
        start = SEQUENCE.index(view[0])
        assert SEQUENCE[start : start + len(view)] == view


def test_a_crop_of_one_item_keeps_that_item():
    assert crop([4], 0.2, np.random.default_rng(0)) == [4]


def test_a_mask_hides_the_ratios_share_of_positions_and_keeps_the_rest_in_place():
    view = mask(SEQUENCE, 0.3, MASK_ITEM, np.random.default_rng(1))
    assert len(view) == len(SEQUENCE) and view.count(MASK_ITEM) == 3
    assert all(shown == original for shown, original in zip(view, SEQUENCE) if shown != MASK_ITEM)


def test_a_reorder_shuffles_one_run_and_keeps_every_item():
    rng = np.random.default_rng(2)
    for _ in range(20):
        view = reorder(SEQUENCE, 0.6, rng)
        assert Counter(view) == Counter(SEQUENCE)
        moved = [position for position, (a, b) in enumerate(zip(view, SEQUENCE)) if a != b]
        assert not moved or moved[-1] - moved[0] < 6  # only inside one run of 6 items


def test_views_of_a_recbole_batch_are_left_aligned_and_padded_with_their_lengths():
    item_seq = torch.tensor([[1, 2, 3, 4, 0, 0], [5, 6, 0, 0, 0, 0]])
    ratios = {"crop": 0.5, "mask": 0.5, "reorder": 0.5}
    views, lengths = augmented_batch(item_seq, torch.tensor([4, 2]), np.random.default_rng(3), MASK_ITEM, ratios)
    assert views.shape == item_seq.shape
    for row, length, original in zip(views, lengths.tolist(), ([1, 2, 3, 4], [5, 6])):
        assert 1 <= length <= len(original) and (row[length:] == 0).all()
        assert set(row[:length].tolist()) <= set(original) | {MASK_ITEM}


def test_the_same_seed_gives_the_same_views():
    ratios = {"crop": 0.6, "mask": 0.3, "reorder": 0.6}
    first = [augment(SEQUENCE, rng, MASK_ITEM, ratios) for rng in [np.random.default_rng(7)] for _ in range(5)]
    second = [augment(SEQUENCE, rng, MASK_ITEM, ratios) for rng in [np.random.default_rng(7)] for _ in range(5)]
    assert first == second
