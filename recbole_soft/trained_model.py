"""A classical model trained by an earlier run and tested by this one (``trained_checkpoint``).

Two tables on one dataset often share a classical row: SASRec trained with the same data, split, seed and budget in a
head-to-head suite and in a few-shot suite that only adds an evaluation measure. Such a run need not train again: it
saves the earlier run's model as its own (with its own settings, so that loading it rebuilds this run's test), tests
it with its own evaluation settings (pairwise AUC, tested users) and reports the earlier run's training time and best
validation result beside its own evaluation. That is sound only when every resolved setting the model's training reads
is the same (``training_differences``): RecBole's settings, and the plugin's of the protocol and of the model's own
yaml files (CL4SRec's contrastive loss); not the plugin's other settings (an LLM's budget, prompts, priors), which a
classical model never reads, nor the evaluation-only ones, nor where files are. A suite also compares the data files'
checksums (``benchmark/runner.py``).
"""
import json
import os
from pathlib import Path

from recbole_soft.config import plugin_defaults, recbole_derived_settings, recbole_settings
from recbole_soft.errors import InvalidSetting, MissingInput
from recbole_soft.registry import is_llm_model
from recbole_soft.trainer.checkpoint import (
    LOCATION_KEYS, all_settings, atomic_save, load_state, result_file, setting_differences,
)

# what changes how a trained model is tested, not how it trains
EVALUATION_ONLY_KEYS = {"pairwise_auc_negatives", "test_user_num", "trained_checkpoint"}
EXPECTED = "the <Model>-<time>.pth of an earlier run of run_recbole_soft, with its .result.json beside it"


def training_differences(model: str, trained: dict, current: dict) -> list[str]:
    """The settings (all of them, as ``all_settings`` gives them) of two runs of the classical ``model`` that differ
    in what its training reads."""
    read = (recbole_settings() | plugin_defaults(model)) - recbole_derived_settings() - EVALUATION_ONLY_KEYS - LOCATION_KEYS

    def training(settings: dict) -> dict:
        return {key: value for key, value in settings.items() if key in read}

    return setting_differences(training(trained), training(current))


def check_trained_checkpoint(config) -> dict:
    """The contents of ``trained_checkpoint``, refused before any data loads if this run cannot test it as its own
    trained model."""
    path = Path(config["trained_checkpoint"])
    model = config["model"]
    if is_llm_model(model):
        raise InvalidSetting(
            f"trained_checkpoint tests a classical model trained before; {model} is an LLM model: continue its run "
            f"with resume=True, or load it with recbole_soft.quick_start.load_data_and_model."
        )
    for needed in (path, result_file(path)):
        if not needed.is_file():
            raise MissingInput(f"trained_checkpoint: {needed} does not exist; pass {EXPECTED}.")
    try:
        saved = load_state(path)
    except Exception as error:  # torch.load fails with many types on a file that is not its pickle
        raise InvalidSetting(f"trained_checkpoint: {path} is not readable ({type(error).__name__}); pass {EXPECTED}.") from None
    if not isinstance(saved, dict) or "state_dict" not in saved or "config" not in saved:
        raise InvalidSetting(f"trained_checkpoint: {path} holds no RecBole model and its settings; pass {EXPECTED}.")
    if saved["config"]["model"] != model:
        raise InvalidSetting(f"trained_checkpoint: {path} holds a {saved['config']['model']} model; this run is {model}.")
    differences = training_differences(model, all_settings(saved["config"]), all_settings(config))
    if differences:
        raise InvalidSetting(
            f"trained_checkpoint: {path} was trained with other settings than this run's "
            f"({'; '.join(differences)}): train the model with these settings, or test it with the ones it had."
        )
    return saved


def adopt_trained_model(trainer, checkpoint: str | Path, saved: dict) -> dict:
    """Give ``trainer`` the model ``saved`` (read from ``checkpoint``) as the one it trained: saved as this run's
    checkpoint with this run's settings (named as the earlier file, unless that is the earlier file itself), weights
    loaded. Returns the earlier run's result."""
    own = Path(trainer.config["checkpoint_dir"]) / Path(checkpoint).name
    if own.resolve() != Path(checkpoint).resolve():  # a name of its own: a retried run writes the same file again
        trainer.saved_model_file = str(own)
    own = Path(trainer.saved_model_file)
    own.parent.mkdir(parents=True, exist_ok=True)
    atomic_save({**saved, "config": trainer.config}, own)
    trainer.model.load_state_dict(saved["state_dict"])
    trainer.model.load_other_parameter(saved.get("other_parameter"))
    trainer.logger.info(f"trained_checkpoint: testing the model of {checkpoint}, trained by an earlier run")
    return json.loads(result_file(checkpoint).read_text(encoding="utf-8"))


def with_earlier_training(result: dict, earlier: dict, checkpoint: str | Path) -> dict:
    """This run's ``result`` with the training it did not do: the earlier run's training time (and the part of it
    that resumed runs spent), the larger peak memory of the two runs (GPU too); ``trained_checkpoint`` names the
    model it tested."""
    return {
        **result,
        "train_time_s": earlier["train_time_s"],
        "resumed_time_s": earlier.get("resumed_time_s", 0.0),
        "peak_memory_mb": max(result["peak_memory_mb"], earlier["peak_memory_mb"]),
        "peak_gpu_memory_mb": _larger(result.get("peak_gpu_memory_mb"), earlier.get("peak_gpu_memory_mb")),
        "trained_checkpoint": os.fspath(checkpoint),
    }


def _larger(first: float | None, second: float | None) -> float | None:
    present = [value for value in (first, second) if value is not None]
    return max(present) if present else None
