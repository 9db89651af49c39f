"""RecBole's Config, taught the plugin's models and their yaml defaults."""
from pathlib import Path

from recbole.config import Config as RecBoleConfig

from recbole_soft.utils import get_model

PLUGIN_PROPERTIES = Path(__file__).resolve().parent / "properties"


class Config(RecBoleConfig):
    """Resolves plugin model names and loads the plugin's model yaml.

    A plugin model's defaults are ``recbole_soft/properties/model/<Class>.yaml`` for every class of its hierarchy that
    has one, base first, so SOFT inherits the backbone's defaults from ``LLMRecommender.yaml``. Precedence stays
    RecBole's: built-in defaults < plugin yaml < config files < config dict < command line.
    """

    def _get_model_and_dataset(self, model, dataset):
        if model is None:
            model = self.external_config_dict.get("model")
        if isinstance(model, str):
            model = get_model(model)
        return super()._get_model_and_dataset(model, dataset)

    def _load_internal_config_dict(self, model, model_class, dataset):
        super()._load_internal_config_dict(model, model_class, dataset)
        for cls in reversed(model_class.__mro__):
            model_file = PLUGIN_PROPERTIES / "model" / f"{cls.__name__}.yaml"
            if model_file.is_file():
                self._update_internal_config_dict(str(model_file))
