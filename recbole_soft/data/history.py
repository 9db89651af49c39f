"""The same history masking for every model of a run: ``exclude_history``.

RecBole 1.2.1 never masks a user's earlier items at full-ranking evaluation for sequential models (SASRec and every
LLM model), and masks them for general models (Pop, BPR, ...) only when ``repeatable`` is False, so one table can
mix two protocols. On datasets without repeat interactions (MovieLens ratings) an earlier item can never be the
next one, and recommending it wastes a slot. With ``exclude_history: True`` every model's scores of the user's
earlier items (every item before the evaluated one, not only the last ``MAX_ITEM_LIST_LENGTH``) are set to -inf;
with ``False`` no model's are. The evaluated item itself is never masked, even when the user had it before.
"""
from collections import defaultdict

import numpy as np
import torch
from recbole.data.dataloader import FullSortEvalDataLoader
from recbole.data.dataset import Dataset

from recbole_soft.errors import InvalidSetting


def user_sequences(dataset: Dataset) -> dict[int, list[int]]:
    """Each user's items in time order, from the dataset before it is split (for a sequential dataset, rebuilt from
    its augmented rows: the first row's one-item history, then every row's target)."""
    feat, uid, iid = dataset.inter_feat, dataset.uid_field, dataset.iid_field
    sequences: dict[int, list[int]] = defaultdict(list)
    list_field = getattr(dataset, "item_id_list_field", None)
    if list_field is not None and list_field in feat:
        for user, item, history, length in zip(
            feat[uid].tolist(), feat[iid].tolist(), feat[list_field], feat[dataset.item_list_length_field].tolist()
        ):
            if not sequences[user]:
                sequences[user] = history[:length].tolist()
            sequences[user].append(item)
        return dict(sequences)
    order = np.lexsort((feat[dataset.time_field].numpy(), feat[uid].numpy()))
    for user, item in zip(feat[uid][order].tolist(), feat[iid][order].tolist()):
        sequences[user].append(item)
    return dict(sequences)


def align_history_masking(config, dataset: Dataset, valid_data, test_data) -> None:
    """Make the evaluation loaders mask (or not) each user's earlier items, the same way for every model.

    Leave-one-out in time order (``split: {LS: valid_and_test}``) makes a user's validation item the second-last
    of their sequence and the test item the last, so the earlier items are everything before those positions.
    """
    exclude = config["exclude_history"]
    if exclude and "LS" not in config["eval_args"]["split"]:
        raise InvalidSetting(
            "exclude_history=True needs the leave-one-out split (eval_args: {split: {LS: valid_and_test}}): "
            "only there is every user's evaluated item the last of their sequence."
        )
    sequences = user_sequences(dataset) if exclude else None
    for loader, kept_at_end in ((valid_data, 2), (test_data, 1)):
        if isinstance(loader, FullSortEvalDataLoader):  # sampled evaluation ranks given candidates: nothing to mask
            _mask_with(loader, sequences, kept_at_end, dataset.uid_field)


def _mask_with(loader, sequences: dict[int, list[int]] | None, kept_at_end: int, uid_field: str) -> None:
    """Replace the history index RecBole's collate gives with the earlier items of ``sequences`` (None: no mask)."""
    collate = loader.collate_fn

    def collate_with_history(index):
        interaction, _, positive_u, positive_i = collate(index)
        history = None
        if sequences is not None:
            history = history_index(interaction[uid_field].tolist(), positive_u, positive_i, sequences, kept_at_end)
        return interaction, history, positive_u, positive_i

    loader.collate_fn = collate_with_history


def history_index(
    users: list[int], positive_u: torch.Tensor, positive_i: torch.Tensor, sequences: dict[int, list[int]], kept_at_end: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(rows, items)`` of every row's earlier items, the row's own evaluated items left out."""
    targets: dict[int, set[int]] = defaultdict(set)
    for row, item in zip(positive_u.tolist(), positive_i.tolist()):
        targets[row].add(item)
    rows, items = [], []
    for row, user in enumerate(users):
        earlier = set(sequences[user][:-kept_at_end]) - targets[row]
        rows += [row] * len(earlier)
        items += sorted(earlier)
    return torch.tensor(rows, dtype=torch.long), torch.tensor(items, dtype=torch.long)
