"""Seeded subsets of RecBole data.

RecBole's sequential augmentation yields one training sample per prefix of every user's history (about 100k on
ml-100k), far more than an LLM can be tuned on; SOFT's paper uses 4,096. The same seed gives the same subset.
An LLM ranks a few users per second on a CPU, so a large dataset's test split can be a seeded sample of its users.
"""

from logging import getLogger

import numpy as np
import torch
from recbole.data.dataloader import FullSortEvalDataLoader, TrainDataLoader
from recbole.data.dataset import Dataset
from recbole.data.interaction import Interaction

from recbole_soft.errors import InvalidSetting


TEST_USER_SEED = 0  # not the run's seed: every model and seed of a table is tested on the same users


def seeded_indices(total: int, num: int, seed: int) -> np.ndarray:
    """``num`` distinct row indices of ``total``, sorted, drawn with ``seed``; all rows when ``num`` is None or too big."""
    if num is None or num >= total:
        return np.arange(total)
    return np.sort(np.random.default_rng(seed).choice(total, size=num, replace=False))


def batch_indices(total: int, batch_size: int) -> list[torch.Tensor]:
    """Consecutive index tensors covering ``range(total)``, ``batch_size`` at a time (for Interaction rows); a
    list, so that a progress bar knows its length."""
    return [torch.arange(start, min(start + batch_size, total)) for start in range(0, total, batch_size)]


def seeded_rows(dataset: Dataset, num: int | None, seed: int) -> Interaction:
    """A seeded sample of the dataset's interactions (e.g. a probe or validation set)."""
    return dataset.inter_feat[torch.from_numpy(seeded_indices(len(dataset.inter_feat), num, seed))]


def cap_train_data(train_data: TrainDataLoader, num: int | None, seed: int) -> TrainDataLoader:
    """A training dataloader over at most ``num`` seeded samples of ``train_data``."""
    dataset = train_data._dataset
    if num is not None and num > len(dataset.inter_feat):
        raise InvalidSetting(
            f"train_sample_num={num} is larger than the {len(dataset.inter_feat)} training samples of this dataset: "
            f"lower it, or set train_sample_num: ~ to train on all of them."
        )
    if num is None or num == len(dataset.inter_feat):
        return train_data
    capped = dataset.copy(seeded_rows(dataset, num, seed))
    return TrainDataLoader(train_data.config, capped, train_data._sampler, shuffle=train_data.shuffle)


def cap_test_users(test_data: FullSortEvalDataLoader, num: int | None) -> FullSortEvalDataLoader:
    """A full-ranking test loader over the first ``num`` users, with a test row, of a permutation of every user id
    drawn with ``TEST_USER_SEED`` (all their test rows, nothing else changed); ``test_data`` itself when ``num`` is
    None. A user's place in the permutation does not depend on the split, so a general and a sequential model are
    tested on the same users wherever both test them."""
    if num is None:
        return test_data
    if not isinstance(test_data, FullSortEvalDataLoader):
        raise InvalidSetting("test_user_num needs full-ranking evaluation (eval_args: {mode: full}).")
    dataset = test_data._dataset
    tested = dataset.inter_feat[dataset.uid_field].unique()
    if num > len(tested):
        raise InvalidSetting(
            f"test_user_num={num} is larger than the {len(tested)} test users of this dataset: lower it, or set "
            f"test_user_num: ~ to test every user."
        )
    order = torch.from_numpy(np.random.default_rng(TEST_USER_SEED).permutation(dataset.user_num))
    kept = order[torch.isin(order, tested)][:num]
    rows = torch.isin(dataset.inter_feat[dataset.uid_field], kept)
    getLogger().info(f"Test split: {num} of {len(tested)} users (test_user_num, seed {TEST_USER_SEED}), {int(rows.sum())} rows")
    return type(test_data)(test_data.config, dataset.copy(dataset.inter_feat[rows]), test_data._sampler)
