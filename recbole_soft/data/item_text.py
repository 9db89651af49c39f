"""Item titles aligned with RecBole's internal item ids, as every LLM model reads and writes them.

RecBole's token_seq parsing splits titles on spaces and is lossy, so titles are read from the item file itself.
``title_normalization`` then rewrites them once, so that prompts, targets, the decoding trie and grounding all see
the same text.
"""
import re
from collections import defaultdict
from logging import getLogger

import pandas as pd
from recbole.config import Config
from recbole.data.dataset import Dataset

from recbole_soft.data.validation import atomic_file, require_item_text_field
from recbole_soft.errors import InvalidData, InvalidSetting
from recbole_soft.settings import TITLE_NORMALIZATIONS

PADDING_TITLE = ""

# Articles that library catalogues (MovieLens among them) move behind the name: "Godfather, The".
ARTICLES = ("The", "A", "An", "La", "Le", "Les", "L'", "Il", "Lo", "Gli", "El", "Los", "Las", "Un", "Une",
            "Der", "Die", "Das", "Det", "Den")
_TRAILING_ARTICLE = re.compile(r"^(?P<name>.+), (?P<article>" + "|".join(map(re.escape, ARTICLES)) + r")$")
_TRAILING_PARENTHESES = re.compile(r"^(?P<head>.*?)(?P<groups>(?: \([^()]*\))*)$")


def article_first(title: str) -> str:
    """"Godfather, The" -> "The Godfather", in the name and in each trailing parenthesised part:
    "Horseman on the Roof, The (Hussard sur le toit, Le)" -> "The Horseman on the Roof (Le Hussard sur le toit)";
    a year in parentheses is kept as it is.

    Why: a model writes "The Godfather", and decoding constrained to catalogue titles would otherwise snap every
    answer that starts with "The" onto the few titles whose catalogue form starts with it.
    """
    parts = _TRAILING_PARENTHESES.match(title)
    groups = re.findall(r"\(([^()]*)\)", parts["groups"])
    return " ".join([_article_to_front(parts["head"]), *(f"({_article_to_front(group)})" for group in groups)])


def _article_to_front(text: str) -> str:
    match = _TRAILING_ARTICLE.match(text)
    if match is None:
        return text
    separator = "" if match["article"].endswith("'") else " "
    return f"{match['article']}{separator}{match['name']}"


def normalize_titles(titles: list[str], rule: str) -> list[str]:
    if rule not in TITLE_NORMALIZATIONS:
        raise InvalidSetting(f"title_normalization='{rule}' is not one of {', '.join(TITLE_NORMALIZATIONS)}.")
    return [article_first(title) for title in titles] if rule == "article_first" else list(titles)


def missing_title(token: str) -> str:
    """Text used for an item without a title, so that it can still be generated and grounded."""
    return f"Item {token}"


def load_item_titles(config: Config, dataset: Dataset) -> list[str]:
    """``titles[i]`` is the title of internal item id ``i``; index 0 is RecBole's padding item."""
    require_item_text_field(config)
    field, item_field = config["item_text_field"], config["ITEM_ID_FIELD"]
    raw = _read_titles(config, item_field, field)
    id_to_token = dataset.field2id_token[item_field]
    titles = [PADDING_TITLE] + [raw.get(token, "") for token in id_to_token[1:]]
    missing = [i for i in range(1, len(titles)) if not titles[i]]
    if len(missing) == len(titles) - 1:
        raise InvalidData(
            f"Every item has an empty '{field}' in {atomic_file(config, 'item')}: an LLM model needs item titles. "
            f"Fill the field, or point item_text_field at a field that holds titles."
        )
    if missing:
        getLogger().warning(
            f"{len(missing)} of {len(titles) - 1} items have no '{field}'; they are named "
            f"'{missing_title('<item id>')}' in prompts and grounding."
        )
        for i in missing:
            titles[i] = missing_title(id_to_token[i])
    # a classical model's settings have no title_normalization (the LLM backbone's setting): titles stay as written
    return [PADDING_TITLE] + normalize_titles(titles[1:], config["title_normalization"] or "none")


def _read_titles(config: Config, item_field: str, field: str) -> dict[str, str]:
    frame = read_item_file(config)
    return dict(zip(frame[item_field], frame[field].str.strip()))


def read_item_file(config: Config) -> pd.DataFrame:
    """The dataset's ``.item`` file as raw text, every field (RecBole's ``load_col`` aside), named without its type."""
    frame = pd.read_csv(
        atomic_file(config, "item"),
        sep=config["field_separator"],
        dtype=str,
        keep_default_na=False,
        encoding=config["encoding"],
        engine="python",
    )
    frame.columns = [column.split(":")[0] for column in frame.columns]
    return frame


def items_by_title(titles: list[str]) -> dict[str, list[int]]:
    """Title -> every item id with that title (several items can share one: grounding returns ids, never a title)."""
    groups = defaultdict(list)
    for item, title in enumerate(titles):
        groups[title].append(item)
    return dict(groups)
