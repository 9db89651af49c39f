import re
import subprocess
import sys
from pathlib import Path

import pytest

from recbole_soft import run_recbole_soft
from recbole_soft.quick_start import load_data_and_model
from recbole_soft.recommend import console_main, item_names, recommend
from recbole_soft.trainer.evaluation import masked_like_recbole
from tests.conftest import GENRES

COMMAND = Path(sys.executable).parent / "recommend_recbole_soft"


def trained(model: str, data_root: Path, folder: Path, **settings) -> str:
    """The checkpoint of ``model`` trained for one epoch on the tiny dataset, every user's history masked."""
    config = {
        "data_path": str(data_root), "load_col": {"inter": ["user_id", "item_id", "timestamp"]}, "exclude_history": True,
        "checkpoint_dir": str(folder), "epochs": 1, "train_batch_size": 64, "show_progress": False, "state": "WARNING",
        **settings,
    }
    result = run_recbole_soft(model, "tiny", config_dict=config)
    return result["result_file"].replace(".result.json", ".pth")


@pytest.fixture(scope="module")
def pop_with_titles(data_root, tmp_path_factory) -> str:
    return trained("Pop", data_root, tmp_path_factory.mktemp("pop"), item_text_field="title")


def ranking_in_the_test(model_file: str, user_token: str):
    """Every item's score for the user as the run's test ranked them: the test loader's batch, masked as RecBole
    masks it (the padding item, and the user's earlier items with ``exclude_history``)."""
    config, model, dataset, *_, test_data = load_data_and_model(model_file)
    user = dataset.token2id(dataset.uid_field, user_token)
    for interaction, history, _, _ in test_data:
        rows = (interaction[dataset.uid_field] == user).nonzero().flatten().tolist()
        if rows:
            scores = model.full_sort_predict(interaction.to(config["device"])).view(len(interaction), -1)
            return masked_like_recbole(scores, history)[rows[0]], item_names(config, test_data._dataset)


@pytest.mark.parametrize("model, titles", [("Pop", True), ("SASRec", False)])
def test_recommendations_are_the_top_of_the_users_ranking_in_the_test(model, titles, data_root, tmp_path):
    checkpoint = trained(model, data_root, tmp_path, **({"item_text_field": "title"} if titles else {}))
    [(user, ranked)] = recommend(checkpoint, ["u3"], k=5).items()
    scores, names = ranking_in_the_test(checkpoint, "u3")
    assert user == "u3" and len(ranked) == 5
    # one user alone or in the test's batch: the same scores up to float32 rounding
    assert [score for _, score in ranked] == pytest.approx(scores.topk(5).values.tolist(), rel=1e-5)
    assert [scores[names.index(name)].item() for name, _ in ranked] == pytest.approx([score for _, score in ranked], rel=1e-5)
    assert all(name.split()[0] in GENRES if titles else name.startswith("i") for name, _ in ranked)


def test_a_run_tested_on_a_sample_of_users_recommends_to_every_user(data_root, tmp_path):
    checkpoint = trained("Pop", data_root, tmp_path, test_user_num=1)
    tested = load_data_and_model(checkpoint)[-1]._dataset
    [tested_user] = [tested.id2token(tested.uid_field, user) for user in tested.inter_feat[tested.uid_field].tolist()]
    others = [f"u{user}" for user in range(1, 25) if f"u{user}" != tested_user]
    assert len(recommend(checkpoint, others, k=3)) == 23


def test_the_command_prints_k_ranked_titles_with_scores_for_each_user(pop_with_titles):
    process = subprocess.run(
        [COMMAND, "--checkpoint", pop_with_titles, "--user", "u1", "--user", "u2", "--k", "4"],
        capture_output=True, text=True,
    )
    assert process.returncode == 0, process.stderr[-2000:]
    tables = process.stdout.strip().split("\n\n")
    expected = recommend(pop_with_titles, ["u1", "u2"], k=4)
    for table, (user, ranked) in zip(tables, expected.items(), strict=True):
        heading, columns, *rows = table.splitlines()
        assert heading == f"user {user}" and columns.split() == ["rank", "item", "score"]
        assert [row.split()[0] for row in rows] == ["1", "2", "3", "4"]
        assert [" ".join(row.split()[1:-1]) for row in rows] == [title for title, _ in ranked]
        assert [float(row.split()[-1]) for row in rows] == pytest.approx([score for _, score in ranked], rel=1e-5)


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--user", "u1", "--user", "nobody"], r"Unknown user 'nobody': not a user of tiny's test split\. User ids are "
                                               r"the user_id tokens of tiny\.inter, e\.g\. u\d+, u\d+, u\d+\."),
        (["--user", "u1", "--k", "0"], r"k=0 is out of range: the dataset has 30 items; pass --k between 1 and 30\."),
    ],
)
def test_a_wrong_user_or_k_is_one_line_and_a_non_zero_exit(arguments, message, pop_with_titles, capsys):
    with pytest.raises(SystemExit) as exit:
        console_main(["--checkpoint", pop_with_titles, *arguments])
    out, err = capsys.readouterr()
    assert exit.value.code == 2 and out == ""
    assert err.count("\n") == 1 and re.fullmatch(f"recommend_recbole_soft: error: {message}\n", err)


def test_a_missing_checkpoint_is_one_line_and_a_non_zero_exit(tmp_path):
    process = subprocess.run(
        [COMMAND, "--checkpoint", tmp_path / "Pop-missing.pth", "--user", "196"], capture_output=True, text=True
    )
    assert process.returncode == 2 and process.stdout == ""
    assert process.stderr == (
        f"recommend_recbole_soft: error: No checkpoint at {tmp_path / 'Pop-missing.pth'}: pass the <Model>-<time>.pth "
        f"file a finished run wrote in its checkpoint_dir (saved/ by default).\n"
    )
