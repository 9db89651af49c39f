"""RecBole's Config, taught the plugin's models and their yaml defaults."""
from pathlib import Path

from recbole.config import Config as RecBoleConfig

from recbole_soft.data.negatives import SAMPLERS
from recbole_soft.llm.grounding import POOLINGS
from recbole_soft.llm.loading import QUANTIZATIONS
from recbole_soft.trainer.curriculum import SCHEDULES
from recbole_soft.trainer.llm_trainer import VALIDATIONS
from recbole_soft.utils import get_model

PLUGIN_PROPERTIES = Path(__file__).resolve().parent / "properties"


def _number(minimum: float, *, integer: bool = False, strict: bool = False, below: float | None = None):
    """A check for a (bool-free) number >= minimum (> with ``strict``), an integer if asked, < ``below`` if given."""
    kinds = int if integer else (int, float)

    def check(value) -> bool:
        if not isinstance(value, kinds) or isinstance(value, bool):
            return False
        above = value > minimum if strict else value >= minimum
        return above and (below is None or value < below)

    return check


def _optional(check):
    return lambda value: value is None or check(value)


_positive_int = _number(1, integer=True)
_non_negative_int = _number(0, integer=True)
_non_negative_number = _number(0)


# plugin key -> (check, what a valid value is); checked only when the key is set
VALUE_RULES = {
    "history_len": (_positive_int, "a positive integer"),
    "num_beams": (_positive_int, "an integer >= 1"),
    "max_new_tokens": (_positive_int, "a positive integer"),
    "generation_batch_size": (_positive_int, "a positive integer"),
    "embedding_batch_size": (_positive_int, "a positive integer"),
    "lora_r": (_positive_int, "a positive integer"),
    "lora_alpha": (_non_negative_number, "a number >= 0"),
    "lora_dropout": (_number(0, below=1), "a number in [0, 1)"),
    "gradient_accumulation_steps": (_positive_int, "a positive integer"),
    "warmup_steps": (_non_negative_int, "an integer >= 0"),
    "train_sample_num": (_optional(_positive_int), "a positive integer, or ~ for all samples"),
    "valid_sample_num": (_optional(_positive_int), "a positive integer, or ~ for all validation users"),
    "icl_demo_num": (_non_negative_int, "an integer >= 0"),
    "curriculum_alpha": (_non_negative_number, "a number >= 0 (the paper tunes it over 100, 10, 1, 0.1)"),
    "curriculum_epochs": (_positive_int, "a positive integer"),
    "curriculum_probe_num": (_positive_int, "a positive integer"),
    "distill_num_beams": (_positive_int, "an integer >= 1"),
    "dmpo_neg_num": (_positive_int, "a positive integer (the paper: up to 5)"),
    "dmpo_neg_sampler": (lambda value: value in SAMPLERS, f"one of {', '.join(SAMPLERS)}"),
    "dmpo_beta": (_number(0, strict=True), "a number > 0 (the paper: 0.1)"),
    "dmpo_gamma": (_non_negative_number, "a number >= 0"),
    "dmpo_epochs": (_positive_int, "a positive integer"),
    "pairwise_auc_negatives": (_non_negative_int, "an integer >= 0 (0 = off)"),
    "quantization": (lambda value: value in QUANTIZATIONS, f"one of {', '.join(QUANTIZATIONS)}"),
    "grounding_pooling": (lambda value: value in POOLINGS, f"one of {', '.join(POOLINGS)}"),
    "resume": (lambda value: isinstance(value, bool), "True or False"),
    "llm_valid_by": (lambda value: value in VALIDATIONS, f"one of {', '.join(VALIDATIONS)}"),
    "curriculum": (lambda value: value in SCHEDULES, f"one of {', '.join(SCHEDULES)}"),
}


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

    def _set_default_parameters(self):
        super()._set_default_parameters()
        self._check_plugin_values()

    def _check_plugin_values(self) -> None:
        """A bad yaml or command-line value fails here, before any data or model is loaded."""
        for key, (is_valid, expected) in VALUE_RULES.items():
            if key in self.final_config_dict and not is_valid(self.final_config_dict[key]):
                raise ValueError(f"{key}={self.final_config_dict[key]!r} is invalid: it must be {expected}.")
        history, kept = self.final_config_dict.get("history_len"), self.final_config_dict.get("MAX_ITEM_LIST_LENGTH")
        if history is not None and kept is not None and history > kept:
            raise ValueError(
                f"history_len={history} is longer than the MAX_ITEM_LIST_LENGTH={kept} items RecBole keeps per user: "
                f"lower history_len or raise MAX_ITEM_LIST_LENGTH."
            )

    def _load_internal_config_dict(self, model, model_class, dataset):
        super()._load_internal_config_dict(model, model_class, dataset)
        for cls in reversed(model_class.__mro__):
            model_file = PLUGIN_PROPERTIES / "model" / f"{cls.__name__}.yaml"
            if model_file.is_file():
                self._update_internal_config_dict(str(model_file))
