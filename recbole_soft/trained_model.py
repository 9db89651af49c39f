"""A classical model trained by an earlier run and tested by this one (``trained_checkpoint``).

Two tables on one dataset often share a classical row: SASRec trained with the same data, split, seed and budget in a
head-to-head suite and in a few-shot suite that only adds an evaluation measure. Such a run need not train again: it
copies the earlier run's checkpoint to its own name, tests the model with its own evaluation settings (pairwise AUC,
tested users) and reports the earlier run's training time, best validation result and peak memory beside its own
evaluation. That is sound only when everything the model's training reads is the same (``training_differences``):
every RecBole setting, and the plugin settings of the protocol and of the model's own yaml files; not the plugin's
other settings (an LLM's budget, prompts, priors), which a classical model never reads, nor the evaluation-only ones.
"""
import json
import shutil
from pathlib import Path

import torch

from recbole_soft.config import plugin_defaults, recbole_settings
from recbole_soft.errors import InvalidSetting, MissingInput
from recbole_soft.registry import is_llm_model
from recbole_soft.trainer.checkpoint import run_settings, setting_differences

# what changes how a trained model is tested, not how it trains
EVALUATION_ONLY_KEYS = {"pairwise_auc_negatives", "test_user_num", "trained_checkpoint"}


def training_differences(model: str, trained: dict, current: dict) -> list[str]:
    """The settings (``run_settings`` of two runs of ``model``) that differ in what its training reads."""
    read = (recbole_settings() | plugin_defaults(model)) - EVALUATION_ONLY_KEYS

    def training(settings: dict) -> dict:
        return {key: value for key, value in settings.items() if key in read}

    return setting_differences(training(trained), training(current))


def earlier_result_file(checkpoint: str | Path) -> Path:
    """The result file the run that wrote ``checkpoint`` left beside it (``<Model>-<time>.result.json``)."""
    return Path(checkpoint).with_suffix(".result.json")


def check_trained_checkpoint(config, saved: dict) -> None:
    """Refuse, before any data loads, a ``trained_checkpoint`` (``saved``: its contents) that this run cannot test as
    its own trained model."""
    path = Path(config["trained_checkpoint"])
    if is_llm_model(config["model"]):
        raise InvalidSetting(
            f"trained_checkpoint tests a classical model trained before; {config['model']} is an LLM model: continue "
            f"its run with resume=True, or load it with recbole_soft.quick_start.load_data_and_model."
        )
    expected = "the <Model>-<time>.pth of an earlier run of run_recbole_soft, with its .result.json beside it"
    if "state_dict" not in saved:
        raise InvalidSetting(f"trained_checkpoint: {path} holds no RecBole model weights; pass {expected}.")
    if not earlier_result_file(path).is_file():
        raise MissingInput(f"trained_checkpoint: {earlier_result_file(path)} does not exist; pass {expected}.")
    differences = training_differences(config["model"], run_settings(saved["config"]), run_settings(config))
    if differences:
        raise InvalidSetting(
            f"trained_checkpoint: {path} was trained with other settings than this run's "
            f"({'; '.join(differences)}): train the model with these settings, or test it with the ones it had."
        )


def adopt_trained_model(trainer, checkpoint: str | Path) -> dict:
    """Give ``trainer`` the model of ``checkpoint`` as the one it trained: the file is copied to the trainer's own
    checkpoint name (what its test loads), the weights are loaded. Returns the earlier run's result."""
    own = Path(trainer.saved_model_file)
    own.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(checkpoint, own)
    saved = torch.load(own, map_location="cpu", weights_only=False)  # RecBole's own pickle, its Config inside
    trainer.model.load_state_dict(saved["state_dict"])
    trainer.model.load_other_parameter(saved.get("other_parameter"))
    trainer.logger.info(f"trained_checkpoint: testing the model of {checkpoint}, trained by an earlier run")
    return json.loads(earlier_result_file(checkpoint).read_text(encoding="utf-8"))


def with_earlier_training(result: dict, earlier: dict, checkpoint: str | Path) -> dict:
    """This run's ``result`` with the training it did not do: the earlier run's training time (and the part of it
    that resumed runs spent), and the larger peak memory of the two runs; ``trained_checkpoint`` names the model."""
    return {
        **result,
        "train_time_s": earlier["train_time_s"],
        "resumed_time_s": earlier.get("resumed_time_s", 0.0),
        "peak_memory_mb": max(result["peak_memory_mb"], earlier["peak_memory_mb"]),
        "trained_checkpoint": str(checkpoint),
    }
