"""A benchmark suite: one dataset, one protocol, a list of models with their budgets, read from a yaml file.

```yaml
name: ml-100k                 # names the results folder (default: the file name)
extends: other-suite.yaml     # optional: start from another suite (path relative to this file), then merge
dataset: ml-100k
seeds: [2020]
config: {}                    # settings for every model (e.g. data_path, load_col, item_text_field of a dataset)
models:                       # label -> model (default: the label) and its own settings; the table keeps this order
  SASRec: {config: {epochs: 300}}
  SOFT w/o SA: {model: SOFT, config: {curriculum: none}}
  SOFT α=10:                  # a setting may name a file an earlier row wrote, in that row's run of the same seed
    model: SOFT
    config: {curriculum_alpha: 10, sft_adapter_path: {from_row: SOFT w/o SA, file: SOFT-*-sft}}
select:                       # a row with, per seed, the member whose best validation score is best
  SOFT (α on validation): [SOFT w/o SA, SOFT α=10]
```
Merging with ``extends`` is recursive for mappings, so a derived suite can change one model's budget or add a model.
"""
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from recbole_soft.config import read_config_file
from recbole_soft.errors import InvalidSetting

SUITE_KEYS = {"name", "extends", "dataset", "seeds", "config", "models", "select"}
REFERENCE_KEYS = {"from_row", "file"}
MODEL_KEYS = {"model", "config"}


class SuiteError(InvalidSetting):
    """A suite file that cannot run; raised before any model trains."""


class _SettingsLoader(yaml.SafeLoader):
    """Safe yaml that reads ``1e-4`` as a number, as RecBole's own config files do (plain YAML 1.1 needs ``1.0e-4``)."""


_SettingsLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+$"), list("-+0123456789.")
)


def read_yaml(path: Path):
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_SettingsLoader)


def read_settings_files(paths: list[str]) -> dict:
    """The settings of RecBole-style config files, later files winning (as ``--config_files`` does for one run),
    read and refused as one run reads them."""
    settings: dict = {}
    for name in paths:
        settings.update(read_config_file(Path(name), _SettingsLoader))
    return settings


@dataclass(frozen=True)
class SuiteModel:
    label: str
    model: str
    config: dict = field(default_factory=dict)

    @property
    def folder_name(self) -> str:
        return re.sub(r"[^A-Za-z0-9._-]+", "_", self.label)


@dataclass(frozen=True)
class Suite:
    name: str
    dataset: str
    seeds: list[int]
    config: dict
    models: list[SuiteModel]
    path: Path
    selections: dict[str, list[str]] = field(default_factory=dict)

    def run_config(self, model: SuiteModel) -> dict:
        """The settings one model runs with: the suite's, then the model's own."""
        return merge(self.config, model.config)


def merge(base: dict, update: dict) -> dict:
    """``update`` over ``base``, recursively for nested mappings."""
    merged = dict(base)
    for key, value in update.items():
        merged[key] = merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
    return merged


def read_suite_file(path: Path, seen: tuple[Path, ...] = ()) -> dict:
    """The suite's mapping with every ``extends`` resolved."""
    path = path.resolve()
    if path in seen:
        raise SuiteError(f"Suite {seen[0]} extends itself through {path}; remove the cycle of 'extends'.")
    if not path.is_file():
        raise SuiteError(f"Suite file {path} does not exist.")
    try:
        raw = read_yaml(path) or {}
    except yaml.YAMLError as error:
        raise SuiteError(f"Suite file {path} is not valid yaml: {error}") from None
    if not isinstance(raw, dict):
        raise SuiteError(f"Suite file {path} must hold a mapping with the keys {', '.join(sorted(SUITE_KEYS))}.")
    unknown = set(raw) - SUITE_KEYS
    if unknown:
        raise SuiteError(f"Suite file {path} has unknown keys {sorted(unknown)}; allowed: {sorted(SUITE_KEYS)}.")
    base = read_suite_file(path.parent / raw["extends"], (*seen, path)) if "extends" in raw else {}
    own = {key: value for key, value in raw.items() if key != "extends"}
    own.setdefault("name", path.stem)
    return merge(base, own)


def load_suite(path: str | Path) -> Suite:
    """Read and check a suite file; every mistake in it is reported here, before anything trains."""
    path = Path(path)
    raw = read_suite_file(path)
    if not raw.get("dataset") or not isinstance(raw["dataset"], str):
        raise SuiteError(f"Suite {path} names no dataset: add e.g. 'dataset: ml-100k'.")
    seeds = raw.get("seeds", [2020])
    if not isinstance(seeds, list) or not seeds or not all(_is_int(seed) for seed in seeds):
        raise SuiteError(f"Suite {path}: seeds must be a non-empty list of integers, got {seeds!r}.")
    config = raw.get("config") or {}
    if not isinstance(config, dict):
        raise SuiteError(f"Suite {path}: config must be a mapping of RecBole settings, got {config!r}.")
    models = _suite_models(path, raw.get("models"))
    _check_references(path, config, models)
    return Suite(
        name=str(raw["name"]),
        dataset=raw["dataset"],
        seeds=seeds,
        config=config,
        models=models,
        path=path.resolve(),
        selections=_selections(path, raw.get("select") or {}, models),
    )


def is_reference(value) -> bool:
    """A setting that names a file an earlier row writes: ``{from_row: LABEL, file: GLOB}``."""
    return isinstance(value, dict) and set(value) == REFERENCE_KEYS


def is_run_file(value) -> bool:
    """The same setting in a run's plan, where the row is a run folder: ``{from_run: runs/<label>/seed-<seed>,
    file: GLOB}`` (the worker resolves it against the results folder)."""
    return isinstance(value, dict) and set(value) == {"from_run", "file"}


def _check_references(path: Path, config: dict, models: list[SuiteModel]) -> None:
    if any(is_reference(value) for value in config.values()):
        raise SuiteError(f"Suite {path}: a from_row setting belongs to one model's config, not to the suite's.")
    for position, model in enumerate(models):
        earlier = {other.label for other in models[:position]}
        for key, value in model.config.items():
            if is_reference(value) and value["from_row"] not in earlier:
                raise SuiteError(
                    f"Suite {path}, model '{model.label}': {key} comes from row '{value['from_row']}', which is not a "
                    f"row above it; rows run in order, so list it first."
                )
            if key == "sft_adapter_path" and is_reference(value):
                _check_same_first_stage(path, model, next(other for other in models if other.label == value["from_row"]))


def _check_same_first_stage(path: Path, model: SuiteModel, source: SuiteModel) -> None:
    """A row that loads another row's adapter as its SFT stage must have every setting that row trains with."""
    differing = sorted(name for name, setting in source.config.items() if model.config.get(name) != setting)
    if differing:
        raise SuiteError(
            f"Suite {path}, model '{model.label}': sft_adapter_path loads the adapter of row '{source.label}' as its "
            f"SFT stage, but that row trains with other settings ({', '.join(differing)}). Give '{model.label}' the "
            f"same settings, or drop its sft_adapter_path to train the stage itself."
        )


def _selections(path: Path, select, models: list[SuiteModel]) -> dict[str, list[str]]:
    labels = {model.label for model in models}
    if not isinstance(select, dict):
        raise SuiteError(f"Suite {path}: select must map a row label to a list of model labels.")
    for label, members in select.items():
        if not isinstance(members, list) or len(members) < 2 or set(members) - labels:
            raise SuiteError(
                f"Suite {path}, select '{label}': expected a list of at least two model labels of this suite, "
                f"got {members!r}."
            )
    return {str(label): members for label, members in select.items()}


def _suite_models(path: Path, models) -> list[SuiteModel]:
    from recbole_soft.registry import get_model, is_plugin_model

    if not isinstance(models, dict) or not models:
        raise SuiteError(f"Suite {path} has no models: add a 'models' mapping, e.g. 'models: {{SASRec: {{}}}}'.")
    parsed = []
    for label, entry in models.items():
        entry = entry or {}
        if not isinstance(entry, dict) or set(entry) - MODEL_KEYS:
            raise SuiteError(f"Suite {path}, model '{label}': expected a mapping with the keys 'model' and 'config'.")
        name = entry.get("model", label)
        try:
            if not is_plugin_model(name):  # a plugin name needs no import of the LLM libraries to be known
                get_model(name)
        except ValueError as error:
            raise SuiteError(f"Suite {path}, model '{label}': {error}") from None
        config = entry.get("config") or {}
        if not isinstance(config, dict):
            raise SuiteError(f"Suite {path}, model '{label}': config must be a mapping, got {config!r}.")
        parsed.append(SuiteModel(label=str(label), model=name, config=config))
    folders = [model.folder_name for model in parsed]
    clashing = sorted({folder for folder in folders if folders.count(folder) > 1})
    if clashing:
        raise SuiteError(f"Suite {path}: labels that differ only in punctuation share the result folders {clashing}.")
    return parsed


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
