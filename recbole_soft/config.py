"""RecBole's Config, taught the plugin's models, the evaluation protocol and the per-dataset defaults.

Defaults ship inside the package (``recbole_soft/properties/``) and sit between RecBole's own defaults and the
user's settings, in this order (later wins):

1. RecBole's built-in defaults (``overall.yaml``, the model's and the dataset's yaml inside recbole);
2. ``protocol.yaml``: the evaluation protocol every model of the plugin follows, classical ones included;
3. ``model/<Class>.yaml`` for every class of a plugin model's hierarchy, base first (SOFT inherits the backbone's),
   then the yaml a model registered from outside the package brought (``register_model(..., defaults=...)``);
4. ``dataset/<name>.yaml``: which fields to load and which holds the item titles;
5. the user's config files < config dict < command line, exactly as in RecBole.
"""
from pathlib import Path

from recbole_soft import compat

compat.apply()

from recbole.config import Config as RecBoleConfig  # noqa: E402  (needs the numpy aliases of compat)

from recbole_soft.registry import defaults_file, get_model  # noqa: E402
from recbole_soft.settings import check_values  # noqa: E402

PACKAGE_PROPERTIES = Path(__file__).resolve().parent / "properties"
PROTOCOL_FILE = PACKAGE_PROPERTIES / "protocol.yaml"


def model_defaults(model_class: type) -> list[Path]:
    """The plugin yaml files of every class in ``model_class``'s hierarchy that has one, base class first."""
    files = (PACKAGE_PROPERTIES / "model" / f"{cls.__name__}.yaml" for cls in reversed(model_class.__mro__))
    return [file for file in files if file.is_file()]


def dataset_defaults(dataset: str) -> Path | None:
    file = PACKAGE_PROPERTIES / "dataset" / f"{dataset}.yaml"
    return file if file.is_file() else None


class Config(RecBoleConfig):
    """RecBole's Config for plugin and RecBole models alike, with the package's defaults and value checks.

    ``command_line=False`` stops RecBole's habit of reading ``--key=value`` from ``sys.argv``: the plugin's own
    command line passes its overrides as ``config_dict`` instead, so that ``cli.main([...])`` and the command
    behave the same, and a host program's arguments (pytest's, a notebook's) never leak into the settings.
    """

    def __init__(self, model=None, dataset=None, config_file_list=None, config_dict=None, command_line: bool = True):
        self._reads_command_line = command_line
        super().__init__(model, dataset, config_file_list, config_dict)

    def _load_cmd_line(self):
        return super()._load_cmd_line() if self._reads_command_line else {}

    def _get_model_and_dataset(self, model, dataset):
        if model is None:
            model = self.external_config_dict.get("model")
        if isinstance(model, str):
            model = get_model(model)
        return super()._get_model_and_dataset(model, dataset)

    def _load_internal_config_dict(self, model, model_class, dataset):
        super()._load_internal_config_dict(model, model_class, dataset)
        registered = defaults_file(model)
        for file in [PROTOCOL_FILE, *model_defaults(model_class), *([registered] if registered else [])]:
            self._update_internal_config_dict(str(file))
        dataset_file = dataset_defaults(dataset)
        if dataset_file is not None:
            keys = self._update_internal_config_dict(str(dataset_file)) or {}
            self.parameters["Dataset"] += [key for key in keys if key not in self.parameters["Dataset"]]

    def _set_default_parameters(self):
        super()._set_default_parameters()
        check_values(self.final_config_dict)  # a bad yaml or command-line value fails here, before any data loads
