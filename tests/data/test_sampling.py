import pytest

from recbole_soft.data import cap_train_data


def test_the_cap_is_a_seeded_subset_of_the_training_samples(build):
    _, train_data, _, _, _ = build("SASRec", epochs=1)
    full = train_data._dataset.inter_feat
    capped = cap_train_data(train_data, 10, seed=3)
    again = cap_train_data(train_data, 10, seed=3)
    other = cap_train_data(train_data, 10, seed=4)
    users = capped._dataset.inter_feat["user_id"].tolist()
    assert len(users) == 10
    assert users == again._dataset.inter_feat["user_id"].tolist()
    assert capped._dataset.inter_feat["item_id"].tolist() != other._dataset.inter_feat["item_id"].tolist() or (
        users != other._dataset.inter_feat["user_id"].tolist()
    )
    assert set(zip(users, capped._dataset.inter_feat["item_length"].tolist())) <= set(
        zip(full["user_id"].tolist(), full["item_length"].tolist())
    )


def test_no_cap_keeps_everything_and_a_cap_above_the_data_is_refused(build):
    _, train_data, _, _, _ = build("SASRec", epochs=1)
    assert cap_train_data(train_data, None, seed=1) is train_data
    total = len(train_data._dataset.inter_feat)
    assert cap_train_data(train_data, total, seed=1) is train_data
    with pytest.raises(ValueError, match=f"train_sample_num={total + 1} is larger than the {total} training samples.*train_sample_num: ~"):
        cap_train_data(train_data, total + 1, seed=1)
