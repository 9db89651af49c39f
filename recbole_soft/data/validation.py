"""Checks that run before RecBole loads anything, so that bad input fails early with a message that says what to fix."""
from pathlib import Path

from recbole.config import Config


def atomic_file(config: Config, suffix: str) -> Path:
    return Path(config["data_path"]) / f"{config['dataset']}.{suffix}"


def atomic_fields(path: Path, separator: str = "\t") -> list[str]:
    """Field names of a RecBole atomic file, from its header (``name:type``)."""
    with open(path, encoding="utf-8") as file:
        header = file.readline().rstrip("\r\n")
    return [column.split(":")[0] for column in header.split(separator)]


def require_dataset_files(config: Config) -> None:
    """RecBole would try to download an unknown dataset from its server; refuse it here instead."""
    inter_file = atomic_file(config, "inter")
    if not inter_file.is_file():
        raise FileNotFoundError(
            f"Dataset '{config['dataset']}' not found: there is no interaction file {inter_file}. "
            f"Put '{config['dataset']}.inter' (RecBole atomic format) there, or set data_path to the folder that "
            f"holds a '{config['dataset']}/' folder (e.g. --data_path=../shared/datasets)."
        )


def require_item_text_field(config: Config) -> None:
    """LLM models read item titles from the item file; the field must exist there."""
    field = config["item_text_field"]
    item_file = atomic_file(config, "item")
    if not item_file.is_file():
        raise FileNotFoundError(
            f"{config['model']} needs item titles, but dataset '{config['dataset']}' has no item file {item_file}. "
            f"Add one with an item_id column and a title column, and set item_text_field to the title column."
        )
    fields = atomic_fields(item_file, config["field_separator"])
    if field not in fields:
        raise ValueError(
            f"{config['model']} reads item titles from the field item_text_field='{field}', but the item file "
            f"{item_file} has no such field (its fields: {', '.join(fields)}). Set item_text_field to the field "
            f"that holds the titles, e.g. --item_text_field=title."
        )
