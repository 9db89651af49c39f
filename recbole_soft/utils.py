"""Model and trainer lookup: the plugin's own models first, then RecBole's (RecBole-GNN's get_model/get_trainer idea)."""
import importlib

from recbole.utils import ModelType
from recbole.utils import get_model as get_recbole_model
from recbole.utils import get_trainer as get_recbole_trainer

# model name -> (class name in recbole_soft.model, class name in recbole_soft.trainer)
PLUGIN_MODELS = {
    "BIGRec": ("BIGRec", "LLMTrainer"),
    "ICL": ("ICL", "ICLTrainer"),
    "SOFT": ("SOFT", "SOFTTrainer"),
    "DMPO": ("DMPO", "DMPOTrainer"),
}


def get_model(model_name: str) -> type:
    """The model class called ``model_name``: a plugin model or any RecBole model."""
    if model_name in PLUGIN_MODELS:
        return getattr(importlib.import_module("recbole_soft.model"), PLUGIN_MODELS[model_name][0])
    try:
        return get_recbole_model(model_name)
    except (ValueError, ModuleNotFoundError):  # RecBole's last resort imports its lightgbm/xgboost wrappers
        raise ValueError(
            f"Unknown model '{model_name}'. Plugin models: {', '.join(PLUGIN_MODELS)}; "
            f"RecBole models by their class name, e.g. SASRec, GRU4Rec, BERT4Rec, Pop (names are case-sensitive)."
        ) from None


def get_trainer(model_type: ModelType, model_name: str) -> type:
    """The trainer class for ``model_name``: the plugin's for its models, RecBole's otherwise."""
    if model_name in PLUGIN_MODELS:
        return getattr(importlib.import_module("recbole_soft.trainer"), PLUGIN_MODELS[model_name][1])
    return get_recbole_trainer(model_type, model_name)


def is_plugin_model(model_name: str) -> bool:
    return model_name in PLUGIN_MODELS
