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
import functools
import re
from pathlib import Path

import yaml

from recbole_soft import compat

compat.apply()

import recbole  # noqa: E402
from recbole.config import Config as RecBoleConfig  # noqa: E402  (needs the numpy aliases of compat)
from recbole.utils import ModelType  # noqa: E402

from recbole_soft.distributed import is_launched, process_device  # noqa: E402
from recbole_soft.errors import InputError, InvalidSetting, MissingInput  # noqa: E402
from recbole_soft.registry import defaults_file, get_model, is_llm_model, model_spelling  # noqa: E402
from recbole_soft.settings import VALUE_RULES, check_names, check_values  # noqa: E402

PACKAGE_PROPERTIES = Path(__file__).resolve().parent / "properties"
PROTOCOL_FILE = PACKAGE_PROPERTIES / "protocol.yaml"
RECBOLE_PROPERTIES = Path(recbole.__file__).resolve().parent / "properties"
# a setting read in code: config["name"], config.get("name") or final_config_dict["name"]
SETTING_READ = re.compile(r"""(?:config|final_config_dict)(?:\[|\.get\()\s*["'](\w+)["']""")
# a setting written in code: config["name"] = ...
SETTING_WRITTEN = re.compile(r"""(?<!\w)config\[\s*["'](\w+)["']\s*\]\s*=(?!=)""")


@functools.cache
def known_settings() -> frozenset[str]:
    """Every setting name a run may be given: RecBole's, those of the package's yaml files and code, and the
    checked plugin settings."""
    return recbole_settings() | _declared_or_read(PACKAGE_PROPERTIES) | set(VALUE_RULES)


@functools.cache
def recbole_settings() -> frozenset[str]:
    """The setting names RecBole itself declares in its yaml files (any model, any dataset) or reads in its code (it
    reads some, such as ``encoding`` or ``tail_ratio``, without declaring them)."""
    return _declared_or_read(RECBOLE_PROPERTIES)


@functools.cache
def recbole_derived_settings() -> frozenset[str]:
    """The setting names RecBole's code writes into a run's config as it runs (the fields its data transforms add,
    such as BERT4Rec's ``MASK_ITEM_SEQ``): derived from other settings, never chosen, and absent from a config that
    has not run yet."""
    return frozenset(_names_in_code(RECBOLE_PROPERTIES.parent, SETTING_WRITTEN))


def _declared_or_read(properties: Path) -> frozenset[str]:
    """The names in the yaml files under ``properties`` and those read by the code of the package holding it."""
    names = set().union(*(_yaml_names(file) for file in properties.glob("**/*.yaml")))
    return frozenset(names | _names_in_code(properties.parent, SETTING_READ))


def _names_in_code(package: Path, pattern: re.Pattern) -> set[str]:
    """The setting names ``pattern`` finds in the Python files under ``package``."""
    return {name for file in package.glob("**/*.py") for name in pattern.findall(file.read_text(encoding="utf-8"))}


def _yaml_names(file: Path) -> set[str]:
    """The top-level keys of a yaml settings file."""
    return set(yaml.safe_load(file.read_text(encoding="utf-8")) or {})


def plugin_defaults(model: str) -> set[str]:
    """The names the package's yaml files set for a run of ``model`` (``default_files``)."""
    return set().union(*(_yaml_names(file) for file in default_files(model, get_model(model))))


def default_files(model: str, model_class: type) -> list[Path]:
    """The package's yaml files a run of ``model`` reads, in order: the protocol, the model files of its class
    hierarchy (base first), then the yaml a model registered from outside the package brought."""
    registered = defaults_file(model)
    return [PROTOCOL_FILE, *model_defaults(model_class), *([Path(registered)] if registered else [])]


def model_defaults(model_class: type) -> list[Path]:
    """The plugin yaml files of every class in ``model_class``'s hierarchy that has one, base class first."""
    files = (PACKAGE_PROPERTIES / "model" / f"{cls.__name__}.yaml" for cls in reversed(model_class.__mro__))
    return [file for file in files if file.is_file()]


def dataset_defaults(dataset: str) -> Path | None:
    file = PACKAGE_PROPERTIES / "dataset" / f"{dataset}.yaml"
    return file if file.is_file() else None


def has_hybrid_prompts(config) -> bool:
    """Whether the run's model is an LLM model with ``item_representation: hybrid``."""
    return is_llm_model(config["model"]) and config["item_representation"] == "hybrid"


def trains_item_encoder(config) -> bool:
    """Whether the run trains the item encoder of its hybrid prompts first: hybrid prompts and no
    ``item_encoder_checkpoint``."""
    return has_hybrid_prompts(config) and not config["item_encoder_checkpoint"]


def read_config_file(file: Path, loader: type) -> dict:
    """One ``--config_files`` file's settings, read with ``loader`` (one that reads ``1e-4`` as a number, as RecBole's
    does), for one run and for a suite alike; a missing, unreadable or non-mapping file is named with its line."""
    if not file.is_file():
        raise MissingInput(f"Config file {file} does not exist: check the path given to --config_files.")
    try:
        settings = yaml.load(file.read_text(encoding="utf-8"), Loader=loader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or "not valid yaml"
        raise InvalidSetting(f"Config file {file} is not valid yaml{where}: {problem}.") from None
    if settings is not None and not isinstance(settings, dict):
        raise InvalidSetting(f"Config file {file} must hold 'key: value' lines, not a {type(settings).__name__}.")
    return settings or {}


class Config(RecBoleConfig):
    """RecBole's Config for plugin and RecBole models alike, with the package's defaults and value checks.

    ``command_line=False`` stops RecBole's habit of reading ``--key=value`` from ``sys.argv``: the plugin's own
    command line passes its overrides as ``config_dict`` instead, so that ``cli.main([...])`` and the command
    behave the same, and a host program's arguments (pytest's, a notebook's) never leak into the settings.
    """

    def __init__(self, model=None, dataset=None, config_file_list=None, config_dict=None, command_line: bool = True):
        self._reads_command_line = command_line
        try:
            super().__init__(model, dataset, config_file_list, config_dict)
        except InputError:
            raise
        except ValueError as error:  # RecBole's own checks of the settings (topk, metrics, eval_args, ...)
            raise InvalidSetting(str(error)) from error

    def _load_cmd_line(self):
        return super()._load_cmd_line() if self._reads_command_line else {}

    def _load_config_files(self, file_list):
        """RecBole's merge of the config files, with a missing, unreadable or non-mapping file named with its line."""
        settings = {}
        for file in file_list or []:
            settings.update(self._read_config_file(Path(file)))
        return settings

    def _read_config_file(self, file: Path) -> dict:
        return read_config_file(file, self.yaml_loader)

    def _get_model_and_dataset(self, model, dataset):
        if model is None:
            model = self.external_config_dict.get("model")
        if isinstance(model, str):
            model = get_model(model)
        return super()._get_model_and_dataset(model, dataset)

    def _load_internal_config_dict(self, model, model_class, dataset):
        super()._load_internal_config_dict(model, model_class, dataset)
        for file in default_files(model, model_class):
            self._update_internal_config_dict(str(file))
        dataset_file = dataset_defaults(dataset)
        if dataset_file is not None:
            keys = self._update_internal_config_dict(str(dataset_file)) or {}
            self.parameters["Dataset"] += [key for key in keys if key not in self.parameters["Dataset"]]

    def _init_device(self):
        """RecBole's device choice, except under ``accelerate launch``: each process then uses its own device (the
        GPU of its local rank, or the CPU), all GPUs stay visible (RecBole would narrow CUDA_VISIBLE_DEVICES to
        ``gpu_id``), and RecBole's own DDP stays off: the plugin shares the work itself (``distributed``)."""
        if not is_launched():
            return super()._init_device()
        gpu_id = self.final_config_dict["gpu_id"]
        gpu_id = ",".join(map(str, gpu_id)) if isinstance(gpu_id, tuple) else str(gpu_id)
        device = process_device(on_cpu=not gpu_id)  # RecBole: an empty gpu_id means the CPU
        self.final_config_dict.update(gpu_id=gpu_id, single_spec=True, local_rank=0, device=device)

    def _set_default_parameters(self):
        super()._set_default_parameters()
        # a misspelt name or a bad value, in a yaml or on the command line, fails here, before any data loads
        known = known_settings() | set(self.internal_config_dict)
        check_names(self.file_config_dict, known, where="the config files")
        check_names({**self.variable_config_dict, **self.cmd_config_dict}, known, where="the command line or config dict")
        check_values(self.final_config_dict)
        self._check_hybrid_model()
        self._check_item_encoder()

    def _check_hybrid_model(self) -> None:
        """Hybrid prompts need a projector the model trains: a model that trains nothing (ICL) fails here, before a
        run trains its item encoder."""
        if has_hybrid_prompts(self) and not get_model(self["model"]).trains_adapter:
            raise InvalidSetting(
                f"item_representation=hybrid needs a trained projector, and {self['model']} trains nothing: "
                f"use item_representation=text."
            )

    def _check_item_encoder(self) -> None:
        """The encoder a hybrid model trains in the run must be a classical sequential model: a misspelt or other
        name fails here, not once the encoder has been trained (``item_encoder_checkpoint`` brings its own model)."""
        if not trains_item_encoder(self):
            return
        name = self["item_encoder"]
        try:
            spelled = model_spelling(name)
        except InvalidSetting as error:
            raise InvalidSetting(f"item_encoder={name!r} is invalid: {error}") from None
        if is_llm_model(spelled) or getattr(get_model(spelled), "type", None) != ModelType.SEQUENTIAL:
            raise InvalidSetting(
                f"item_encoder={name!r} is invalid: it must be a classical sequential model with an item embedding "
                f"table, e.g. SASRec, GRU4Rec or CL4SRec."
            )
        self["item_encoder"] = spelled  # the registry's spelling names its checkpoint and its run
