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
