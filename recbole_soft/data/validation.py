"""Checks that run before RecBole loads anything, so that bad input fails early with a message that says what to fix."""
from pathlib import Path

import pandas as pd
from recbole.config import Config

from recbole_soft.errors import InvalidData, MissingInput


def atomic_file(config: Config, suffix: str) -> Path:
    return Path(config["data_path"]) / f"{config['dataset']}.{suffix}"


def atomic_header(path: Path, separator: str = "\t") -> dict[str, str]:
    """Field name -> RecBole type of an atomic file, from its header (``name:type``)."""
    with open(path, encoding="utf-8") as file:
        header = file.readline().rstrip("\r\n")
    return dict((column.split(":") + [""])[:2] for column in header.split(separator) if column)


def atomic_fields(path: Path, separator: str = "\t") -> list[str]:
    """Field names of a RecBole atomic file, from its header (``name:type``)."""
    return list(atomic_header(path, separator))


def require_dataset_files(config: Config) -> None:
    """The interaction file exists, has rows, has the user and item fields, and numbers in its ``:float`` fields.

    RecBole would try to download an unknown dataset from its server, and fails deep inside pandas on the rest.
    """
    inter_file = atomic_file(config, "inter")
    if not inter_file.is_file():
        raise MissingInput(
            f"Dataset '{config['dataset']}' not found: there is no interaction file {inter_file}. "
            f"Put '{config['dataset']}.inter' (RecBole atomic format) there, or set data_path to the folder that "
            f"holds a '{config['dataset']}/' folder (e.g. --data_path=../shared/datasets)."
        )
    header = atomic_header(inter_file, config["field_separator"])
    if not header or not _has_rows(inter_file):
        raise InvalidData(
            f"{inter_file} has {'no header and ' if not header else ''}no interactions: it needs a header line "
            f"(e.g. user_id:token, item_id:token, timestamp:float, tab-separated) and one line per interaction."
        )
    for key in ("USER_ID_FIELD", "ITEM_ID_FIELD"):
        if config[key] not in header:
            raise InvalidData(
                f"{inter_file} has no field {config[key]} (its fields: {', '.join(header)}): rename the column, "
                f"or set {key} to the field that holds it."
            )
    loaded = (config["load_col"] or {}).get("inter") if isinstance(config["load_col"], dict) else None
    numbers = [field for field, kind in header.items() if kind == "float" and (loaded is None or field in loaded)]
    _require_numbers(inter_file, numbers, config["field_separator"], config["encoding"])


def _has_rows(path: Path) -> bool:
    with open(path, encoding="utf-8") as file:
        file.readline()
        return any(line.strip() for line in file)


def _require_numbers(path: Path, fields: list[str], separator: str, encoding: str) -> None:
    """RecBole reads the ``:float`` fields it loads as numbers; name the first line where one is not."""
    if not fields:
        return
    columns = pd.read_csv(path, sep=separator, usecols=lambda column: column.split(":")[0] in fields, dtype=str,
                          keep_default_na=False, skip_blank_lines=False, encoding=encoding)
    for column in columns:
        values = columns[column]
        bad = pd.to_numeric(values, errors="coerce").isna() & (values != "")
        if bad.any():
            row = int(bad.idxmax())
            raise InvalidData(
                f"{path} line {row + 2}: {column.split(':')[0]}={values[row]!r} is not a number, but the header "
                f"declares the field ':float'. Write numbers there (timestamps as Unix seconds), or declare it ':token'."
            )


def require_item_text_field(config: Config, need: str = "needs item titles") -> None:
    """LLM models read item titles from the item file (and so does any model's pairwise AUC, ``need`` says which);
    the field must exist there."""
    field = config["item_text_field"]
    item_file = atomic_file(config, "item")
    if not item_file.is_file():
        raise MissingInput(
            f"{config['model']} {need}, but dataset '{config['dataset']}' has no item file {item_file}. "
            f"Add one with an item_id column and a title column, and set item_text_field to the title column."
        )
    fields = atomic_fields(item_file, config["field_separator"])
    if field not in fields:
        raise InvalidData(
            f"{config['model']} {need}, read from the field item_text_field='{field}', but the item file "
            f"{item_file} has no such field (its fields: {', '.join(fields)}). Set item_text_field to the field "
            f"that holds the titles, e.g. --item_text_field=title."
        )
