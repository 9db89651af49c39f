import pytest

from recbole_soft.data import cap_test_users, cap_train_data


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


def pairs(dataset):
    return sorted(zip(dataset.inter_feat["user_id"].tolist(), dataset.inter_feat["item_id"].tolist()))


@pytest.mark.parametrize("model", ["Pop", "SASRec"])  # RecBole's general and sequential full-ranking loaders
def test_a_test_split_of_n_users_holds_all_test_rows_of_the_same_seeded_users_whatever_the_run_seed(build, model):
    test_data = build(model, seed=1)[3]
    capped = cap_test_users(test_data, 5)
    users = {user for user, _ in pairs(capped._dataset)}
    assert len(users) == 5
    assert pairs(cap_test_users(build(model, seed=2)[3], 5)._dataset) == pairs(capped._dataset)
    assert pairs(capped._dataset) == [(user, item) for user, item in pairs(test_data._dataset) if user in users]
    assert sorted(user for batch in capped for user in batch[0]["user_id"].tolist()) == sorted(users)


def test_a_general_and_a_sequential_model_are_tested_on_the_same_seeded_users(build):
    general, sequential = (cap_test_users(build(model)[3], 5)._dataset for model in ("Pop", "SASRec"))
    assert {user for user, _ in pairs(general)} == {user for user, _ in pairs(sequential)}


def test_no_test_user_cap_keeps_the_loader_and_a_cap_above_the_users_is_refused(build):
    test_data = build("SASRec")[3]
    assert cap_test_users(test_data, None) is test_data
    users = len(set(test_data._dataset.inter_feat["user_id"].tolist()))
    with pytest.raises(ValueError, match=f"test_user_num={users + 1} is larger than the {users} test users.*test_user_num: ~"):
        cap_test_users(test_data, users + 1)
