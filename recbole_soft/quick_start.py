"""run_recbole_soft(): RecBole's quick start for plugin and RecBole models alike, with time and memory measured."""
import json
import resource
import sys
from logging import getLogger
from pathlib import Path
from time import perf_counter

import torch
from recbole.data import create_dataset, data_preparation
from recbole.utils import init_logger, init_seed, set_color

from recbole_soft.compat import FIXED_MODELS
from recbole_soft.config import Config
from recbole_soft.data import require_dataset_files, require_item_text_field
from recbole_soft.data.history import align_history_masking
from recbole_soft.registry import get_model, get_trainer, is_plugin_model


def run_recbole_soft(
    model: str | type | None = None,
    dataset: str | None = None,
    config_file_list: list[str] | None = None,
    config_dict: dict | None = None,
    saved: bool = True,
    command_line: bool = True,
) -> dict:
    """Config -> seed -> dataset -> data_preparation -> model -> trainer -> fit -> evaluate.

    As in RecBole, ``--key=value`` arguments of ``sys.argv`` override the settings unless ``command_line`` is False.
    Returns RecBole's result dict (best_valid_score, valid_score_bigger, best_valid_result, test_result) plus
    train/eval wall time, peak memory, and the path of the JSON file the result was also written to.
    """
    config = Config(model, dataset, config_file_list, config_dict, command_line=command_line)
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    logger = getLogger()
    logger.info(sys.argv)
    logger.info(config)
    check_inputs(config)

    dataset = create_dataset(config)
    logger.info(dataset)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    align_history_masking(config, dataset, valid_data, test_data)

    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    _reset_peak_gpu_memory()
    model = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    logger.info(model)
    if config["model"] in FIXED_MODELS:
        logger.info(set_color("compat", "yellow") + f": {FIXED_MODELS[config['model']]}")
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)

    start = perf_counter()
    best_valid_score, best_valid_result = trainer.fit(
        train_data, valid_data, saved=saved, show_progress=config["show_progress"]
    )
    trained = perf_counter()
    test_result = trainer.evaluate(test_data, load_best_model=saved, show_progress=config["show_progress"])
    evaluated = perf_counter()

    result = {
        "model": config["model"],
        "dataset": config["dataset"],
        "best_valid_score": best_valid_score,
        "valid_score_bigger": trainer.valid_metric_bigger,
        "best_valid_result": best_valid_result,
        "test_result": test_result,
        "train_time_s": trained - start,
        "eval_time_s": evaluated - trained,
        "peak_memory_mb": _peak_memory_mb(),
        "peak_gpu_memory_mb": _peak_gpu_memory_mb(),
        **getattr(trainer, "run_info", {}),
    }
    result["result_file"] = str(_write_result(result, trainer.saved_model_file))
    logger.info(set_color("best valid ", "yellow") + f": {best_valid_result}")
    logger.info(set_color("test result", "yellow") + f": {test_result}")
    logger.info(
        set_color("cost", "yellow") + f": train {result['train_time_s']:.1f}s, eval {result['eval_time_s']:.1f}s, "
        f"peak memory {result['peak_memory_mb']:.0f} MB, result saved to {result['result_file']}"
    )
    return result


def check_inputs(config: Config) -> None:
    """Everything that can be checked before data and models load."""
    require_dataset_files(config)
    if is_plugin_model(config["model"]):
        require_item_text_field(config)


def _write_result(result: dict, saved_model_file: str) -> Path:
    path = Path(saved_model_file).with_suffix(".result.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, default=float))
    return path


def _peak_memory_mb() -> float:
    """Peak resident memory of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak_gpu_memory() -> None:
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def _peak_gpu_memory_mb() -> float | None:
    return torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
