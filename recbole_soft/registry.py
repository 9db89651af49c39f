"""The one registry of plugin models: name -> model class and trainer class.

Adding a model touches this table and its yaml (``recbole_soft/properties/model/<Class>.yaml``); a model defined
outside the package is added with ``register_model``. Classes are named by import path and imported on first
use, so looking a name up (e.g. to check a suite file) loads no LLM library. Names that are not plugin models
fall through to RecBole's own models (RecBole-GNN's ``get_model``/``get_trainer`` idea).
"""
import difflib
import importlib
from dataclasses import dataclass
from pathlib import Path

from recbole_soft.errors import InvalidSetting

# RecBole's model packages whose classes run through the plugin's entry point
RECBOLE_MODEL_PACKAGES = ("general_recommender", "sequential_recommender", "context_aware_recommender",
                          "knowledge_aware_recommender")


@dataclass(frozen=True)
class PluginModel:
    model: str | type  # "package.module:Class", or the class itself
    trainer: str | type
    defaults: Path | None = None  # a yaml of the model's own defaults, for a model defined outside the package
    llm: bool = True  # an LLM model (item titles, the LLM backbone's settings); False for a plugin classical model


_MODELS: dict[str, PluginModel] = {
    "BIGRec": PluginModel("recbole_soft.model.bigrec:BIGRec", "recbole_soft.trainer.llm_trainer:LLMTrainer"),
    "ICL": PluginModel("recbole_soft.model.icl:ICL", "recbole_soft.trainer.icl_trainer:ICLTrainer"),
    "SOFT": PluginModel("recbole_soft.model.soft:SOFT", "recbole_soft.trainer.soft_trainer:SOFTTrainer"),
    "DMPO": PluginModel("recbole_soft.model.dmpo:DMPO", "recbole_soft.trainer.dmpo_trainer:DMPOTrainer"),
    "CLCLMRec": PluginModel("recbole_soft.model.clclmrec:CLCLMRec", "recbole_soft.trainer.clclmrec_trainer:CLCLMRecTrainer"),
    "CL4SRec": PluginModel("recbole_soft.model.cl4srec:CL4SRec", "recbole.trainer:Trainer", llm=False),
}


def register_model(
    name: str, model: str | type, trainer: str | type, defaults: str | Path | None = None, llm: bool = True
) -> None:
    """Make ``name`` runnable everywhere (quick start, command line, suites) with this model and trainer class.

    ``defaults`` is a yaml of the model's own settings, loaded after those of the package classes it inherits
    from (a model inside the package keeps its yaml in ``recbole_soft/properties/model/<Class>.yaml`` instead).
    """
    _MODELS[name] = PluginModel(model, trainer, Path(defaults) if defaults is not None else None, llm)


def defaults_file(name: str) -> Path | None:
    """The yaml given with ``register_model`` for ``name``, if any."""
    return _MODELS[name].defaults if name in _MODELS else None


def plugin_models() -> list[str]:
    return list(_MODELS)


def is_plugin_model(name: str) -> bool:
    return name in _MODELS


def is_llm_model(name: str) -> bool:
    """A plugin model built on an LLM (it needs item titles); RecBole's models and CL4SRec are not."""
    return name in _MODELS and _MODELS[name].llm


def get_model(name: str) -> type:
    """The model class called ``name`` (in any letter case): a plugin model or any RecBole model."""
    if name in _MODELS:
        return _resolve(_MODELS[name].model)
    from recbole_soft import compat

    compat.apply()  # recbole's model lookup imports its Config, which needs numpy aliases
    from recbole.utils import get_model as get_recbole_model

    try:
        return get_recbole_model(name)
    except (ValueError, AttributeError, ModuleNotFoundError):  # its last resort imports lightgbm/xgboost wrappers
        spelled = model_spelling(name)
        return get_model(spelled) if spelled != name else get_recbole_model(name)


def model_spelling(name: str) -> str:
    """The exact name of the model called ``name`` in any letter case; an unknown name fails with the closest one."""
    by_lower = {known.lower(): known for known in [*_MODELS, *recbole_model_names()]}
    if name.lower() in by_lower:
        return by_lower[name.lower()]
    close = difflib.get_close_matches(name.lower(), by_lower, n=1, cutoff=0.6)
    hint = f" Did you mean {by_lower[close[0]]}?" if close else ""
    raise InvalidSetting(
        f"Unknown model '{name}'.{hint} Plugin models: {', '.join(_MODELS)}; any RecBole model by its name, "
        f"e.g. SASRec, GRU4Rec, BERT4Rec, Pop."
    )


def recbole_model_names() -> list[str]:
    """The class names of RecBole's models (importing its model packages: only when a name needs matching)."""
    from recbole.model.abstract_recommender import AbstractRecommender

    names = []
    for package in RECBOLE_MODEL_PACKAGES:
        module = importlib.import_module(f"recbole.model.{package}")
        names += [name for name, value in vars(module).items()
                  if isinstance(value, type) and issubclass(value, AbstractRecommender)]
    return names


def get_trainer(model_type, name: str) -> type:
    """The trainer class for ``name``: the plugin's for its models, RecBole's otherwise."""
    if name in _MODELS:
        return _resolve(_MODELS[name].trainer)
    from recbole.utils import get_trainer as get_recbole_trainer

    return get_recbole_trainer(model_type, name)


def _resolve(target: str | type) -> type:
    if isinstance(target, type):
        return target
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)
