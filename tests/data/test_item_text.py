import logging

import pytest
from recbole.data import create_dataset

from recbole_soft.config import Config
from recbole_soft.data import load_item_titles


def _dataset(tmp_path, rows: list[str], **settings):
    folder = tmp_path / "shop"
    folder.mkdir()
    (folder / "shop.inter").write_text(
        "user_id:token\titem_id:token\ttimestamp:float\n" + "".join(f"u1\t{i}\t{t}\n" for t, i in enumerate("bac"))
    )
    (folder / "shop.item").write_text("item_id:token\ttitle:token_seq\n" + "\n".join(rows) + "\n")
    config = Config(
        model="BIGRec",
        dataset="shop",
        config_dict={"data_path": str(tmp_path), "load_col": {"inter": ["user_id", "item_id", "timestamp"]}, **settings},
    )
    return config, create_dataset(config)


def test_titles_are_raw_strings_aligned_with_recbole_item_ids(tmp_path):
    config, dataset = _dataset(tmp_path, ["a\tBig Sleep,  The (1946)", "b\tHeat", "c\tHeat"])
    titles = load_item_titles(config, dataset)
    assert titles[0] == ""
    for token, title in {"a": "Big Sleep,  The (1946)", "b": "Heat", "c": "Heat"}.items():
        assert titles[dataset.token2id("item_id", token)] == title


def test_items_without_a_title_get_a_fallback_and_a_logged_count(tmp_path, caplog):
    config, dataset = _dataset(tmp_path, ["a\tAlpha", "b\t", "c\tGamma"])
    with caplog.at_level(logging.WARNING):
        titles = load_item_titles(config, dataset)
    assert titles[dataset.token2id("item_id", "b")] == "Item b"
    assert "1 of 3 items have no 'title'" in caplog.text


def test_a_dataset_where_every_title_is_empty_is_refused(tmp_path):
    config, dataset = _dataset(tmp_path, ["a\t", "b\t", "c\t"])
    with pytest.raises(ValueError, match="Every item has an empty 'title'.*shop.item"):
        load_item_titles(config, dataset)


def test_a_missing_field_names_the_field_and_the_file(tmp_path):
    config, dataset = _dataset(tmp_path, ["a\tAlpha", "b\tBeta", "c\tGamma"], item_text_field="movie_title")
    with pytest.raises(ValueError, match="item_text_field='movie_title'.*shop.item has no such field"):
        load_item_titles(config, dataset)


@pytest.mark.parametrize(
    "catalogue, written",
    [
        ("Godfather, The (1972)", "The Godfather (1972)"),
        ("Horseman on the Roof, The (Hussard sur le toit, Le)", "The Horseman on the Roof (Le Hussard sur le toit)"),
        ("Good, The Bad and The Ugly, The (1966)", "The Good, The Bad and The Ugly (1966)"),
        ("Appartement, L' (1996)", "L'Appartement (1996)"),
        ("Rock, The", "The Rock"),
        ("Seven (Se7en)", "Seven (Se7en)"),
        ("Toy Story", "Toy Story"),
    ],
)
def test_article_first_moves_a_trailing_article_to_the_front_and_keeps_the_rest(catalogue, written):
    from recbole_soft.data.item_text import article_first

    assert article_first(catalogue) == written


def test_every_ml_100k_title_is_normalised_to_a_text_that_grounds_back_to_its_own_items():
    from collections import defaultdict

    config = Config(model="BIGRec", dataset="ml-100k", config_dict={"state": "WARNING"}, command_line=False)
    dataset = create_dataset(config)
    raw = load_item_titles(Config(model="BIGRec", dataset="ml-100k", config_dict={"state": "WARNING", "title_normalization": "none"}, command_line=False), dataset)
    written = load_item_titles(config, dataset)
    assert config["title_normalization"] == "article_first"
    assert sum(a != b for a, b in zip(raw, written)) > 300  # "..., The" and its kin are common in MovieLens
    items_by = {name: defaultdict(set) for name in ("raw", "written")}
    for item in range(1, len(raw)):
        items_by["raw"][raw[item]].add(item)
        items_by["written"][written[item]].add(item)
    # the same groups of items share a text before and after: nothing merged, nothing split
    assert sorted(map(sorted, items_by["raw"].values())) == sorted(map(sorted, items_by["written"].values()))
    assert all(item in items_by["written"][written[item]] for item in range(1, len(written)))
    assert not any(title.endswith((", The", ", A", ", An")) for title in written)
