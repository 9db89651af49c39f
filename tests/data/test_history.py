"""exclude_history masks exactly each user's earlier items, for every kind of model, or for none."""
import csv

import numpy as np
import pytest
import torch
from recbole.data import create_dataset, data_preparation
from recbole.utils import init_seed

from recbole_soft.config import Config
from recbole_soft.data.history import align_history_masking
from recbole_soft.registry import get_model, get_trainer


def raw_earlier_items(data_root, dataset) -> dict[int, tuple[set[int], set[int]]]:
    """From the .inter file itself: internal user id -> (earlier items of the validation row, of the test row)."""
    with open(data_root / "tiny" / "tiny.inter") as file:
        rows = list(csv.reader(file, delimiter="\t"))[1:]
    by_user = {}
    for user, item, timestamp in rows:
        by_user.setdefault(user, []).append((float(timestamp), item))
    earlier = {}
    for user, events in by_user.items():
        items = [dataset.token2id("item_id", item) for _, item in sorted(events)]
        earlier[dataset.token2id("user_id", user)] = (set(items[:-2]) - {items[-2]}, set(items[:-1]) - {items[-1]})
    return earlier


def prepared(model_name, settings, exclude):
    config = Config(model=model_name, dataset="tiny", config_dict={**settings, "exclude_history": exclude}, command_line=False)
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    align_history_masking(config, dataset, valid_data, test_data)
    return config, dataset, train_data, valid_data, test_data


def masked_items(loader, phase_user) -> dict[int, set[int]]:
    masked = {}
    for interaction, history, *_ in loader:
        users = phase_user(interaction)
        for row, user in enumerate(users):
            masked[user] = set() if history is None else set(history[1][history[0] == row].tolist())
    return masked


@pytest.mark.parametrize("model_name", ["SASRec", "BIGRec"])
def test_a_sequential_model_masks_exactly_the_earlier_items(model_name, llm_config, data_root):
    _, dataset, _, valid_data, test_data = prepared(model_name, llm_config, exclude=True)
    expected = raw_earlier_items(data_root, dataset)
    users = lambda interaction: interaction["user_id"].tolist()  # noqa: E731
    assert masked_items(valid_data, users) == {user: pair[0] for user, pair in expected.items()}
    assert masked_items(test_data, users) == {user: pair[1] for user, pair in expected.items()}


def test_without_exclusion_no_model_masks_a_general_model_included(llm_config):
    users = lambda interaction: interaction["user_id"].tolist()  # noqa: E731
    for model_name in ("SASRec", "Pop"):
        *_, valid_data, test_data = prepared(model_name, llm_config, exclude=False)
        assert all(not items for items in masked_items(test_data, users).values())


def test_a_general_model_masks_the_same_items_as_a_sequential_one(llm_config, data_root):
    *_, test_data = prepared("Pop", llm_config, exclude=True)
    _, dataset, *_ = prepared("SASRec", llm_config, exclude=True)
    expected = raw_earlier_items(data_root, dataset)
    masked = masked_items(test_data, lambda interaction: interaction["user_id"].tolist())
    assert masked == {user: pair[1] for user, pair in expected.items()}


def test_masked_items_score_minus_infinity_in_the_trainer(llm_config):
    config, dataset, train_data, _, test_data = prepared("BIGRec", llm_config, exclude=True)
    model = get_model("BIGRec")(config, train_data._dataset)
    trainer = get_trainer(config["MODEL_TYPE"], "BIGRec")(config, model)
    trainer.tot_item_num = test_data._dataset.item_num  # as RecBole's evaluate sets it
    model.eval()
    batch = next(iter(test_data))
    with torch.no_grad():
        _, scores, *_ = trainer._full_sort_batch_eval(batch)
    rows, items = batch[1]
    assert len(rows) > 0 and torch.all(scores[rows, items] == -np.inf)
    targets = batch[0]["item_id"]
    assert torch.isfinite(scores[torch.arange(len(targets)), targets]).all()


def test_exclusion_needs_the_leave_one_out_split(llm_config):
    settings = {**llm_config, "eval_args": {"split": {"RS": [0.8, 0.1, 0.1]}, "order": "TO", "mode": "full"}}
    with pytest.raises(ValueError, match="exclude_history=True needs the leave-one-out split"):
        prepared("SASRec", settings, exclude=True)
