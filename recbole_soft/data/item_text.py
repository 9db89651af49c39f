"""Raw item titles aligned with RecBole's internal item ids.

RecBole's token_seq parsing splits titles on spaces and is lossy, so titles are read from the item file itself.
"""
from logging import getLogger

import pandas as pd
from recbole.config import Config
from recbole.data.dataset import Dataset

from recbole_soft.data.validation import atomic_file, require_item_text_field

PADDING_TITLE = ""


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
        raise ValueError(
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
    return titles


def _read_titles(config: Config, item_field: str, field: str) -> dict[str, str]:
    path = atomic_file(config, "item")
    frame = pd.read_csv(
        path,
        sep=config["field_separator"],
        dtype=str,
        keep_default_na=False,
        encoding=config["encoding"],
        engine="python",
    )
    frame.columns = [column.split(":")[0] for column in frame.columns]
    return dict(zip(frame[item_field], frame[field].str.strip()))
