"""run_recbole_soft(): RecBole's quick start for plugin and RecBole models alike, with time and memory measured."""
import contextlib
import hashlib
import json
import logging
import os
import resource
import sys
from logging import getLogger
from pathlib import Path
from time import perf_counter

import colorlog
import torch
from recbole.data import create_dataset, data_preparation
from recbole.utils import dict2str, init_logger, init_seed, set_color
from recbole.utils.argument_list import training_arguments

from recbole_soft.atomic import current_folder, write_atomically
from recbole_soft.compat import FIXED_MODELS, is_run_log, keep_freed_memory_for_reuse
from recbole_soft.config import Config, plugin_defaults, recbole_settings, trains_item_encoder
from recbole_soft.data import cap_test_users, require_dataset_files, require_item_text_field
from recbole_soft.data.history import align_history_masking
from recbole_soft.distributed import (
    gather,
    is_main_process,
    main_process_value,
    on_main_process,
    process_count,
    process_index,
    single_cpu_launch_note,
    work_alone,
)
from recbole_soft.errors import InvalidSetting, MissingInput
from recbole_soft.registry import get_model, get_trainer, is_llm_model
from recbole_soft.trainer.checkpoint import RESUME_NEUTRAL_KEYS, claim_run_file, release_claim, result_file
from recbole_soft.trainer.classical import fit_resumably, not_resumable_note, resumable
from recbole_soft.trainer.pairwise_auc import with_pairwise_auc
from recbole_soft.trained_model import adopt_trained_model, check_trained_checkpoint, with_earlier_training


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

    Under ``accelerate launch`` an LLM model's work is shared by the processes and every process returns the same
    result (peak memory: the largest process's); a classical RecBole model runs in the main process alone and the
    others return None.
    """
    started = perf_counter()
    config = Config(model, dataset, config_file_list, config_dict, command_line=command_line)
    check_inputs(config)
    place_outputs(config)
    logger = getLogger()
    logger.info(sys.argv)
    logger.info(config)
    note = single_cpu_launch_note()
    if note:
        logger.warning(note)
    if process_count() > 1 and not is_llm_model(config["model"]):
        logger.warning(
            f"{config['model']} is a classical RecBole model: it runs in the main process only, the other "
            f"{process_count() - 1} process(es) skip it."
        )
        with work_alone() as main:
            return run_configured(config, saved, started) if main else None
    return run_configured(config, saved, started)


def run_configured(config: Config, saved: bool, started: float) -> dict:
    """The run of ``run_recbole_soft`` once its settings are resolved and its log is open."""
    logger = getLogger()
    if not is_llm_model(config["model"]):
        keep_freed_memory_for_reuse()  # RecBole's models train faster on a CPU; the LLM models' speed did not gain
    trained_before = check_trained_checkpoint(config) if config["trained_checkpoint"] else None
    encoder_s = provide_item_encoder(config)

    dataset, train_data, valid_data, test_data = prepare_data(config)
    logger.info(dataset)
    _reset_peak_gpu_memory()
    model = build_model(config, train_data)
    logger.info(model)
    if config["model"] in FIXED_MODELS:
        logger.info(set_color("compat", "yellow") + f": {FIXED_MODELS[config['model']]}")
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)

    start = perf_counter()
    if trained_before is not None:
        earlier = adopt_trained_model(trainer, config["trained_checkpoint"], trained_before)
        best_valid_score, best_valid_result = earlier["best_valid_score"], earlier["best_valid_result"]
    else:
        best_valid_score, best_valid_result = fit(trainer, train_data, valid_data, saved, config["show_progress"])
    trained = perf_counter()
    resumed_s = trainer.run_state.seconds_before if keeps_run_state(trainer) else 0.0
    test_result = evaluate(trainer, test_data, saved, config["show_progress"])
    evaluated = perf_counter()

    result = {
        "model": config["model"],
        "dataset": config["dataset"],
        "best_valid_score": best_valid_score,
        "valid_score_bigger": trainer.valid_metric_bigger,
        "best_valid_result": best_valid_result,
        "test_result": test_result,
        "train_time_s": trained - start + resumed_s + encoder_s,
        "resumed_time_s": resumed_s,  # the part of train_time_s spent by the interrupted processes it continues
        "item_encoder_time_s": encoder_s,  # the part spent training the hybrid prompts' item encoder
        "eval_time_s": evaluated - trained,
        "peak_memory_mb": peak_memory_mb(),
        "processes": process_count(),
        "peak_gpu_memory_mb": peak_gpu_memory_mb(),
        **getattr(trainer, "run_info", {}),
    }
    if trained_before is not None:
        result = with_earlier_training(result, earlier, config["trained_checkpoint"])
    result["result_file"] = str(result_file(trainer.saved_model_file))
    on_main_process(lambda: _write_result(result))
    if trained_before is None and not keeps_run_state(trainer):
        release_claim(trainer.saved_model_file)  # its checkpoint and result hold the name claimed in fit
    logger.info(set_color("best valid ", "yellow") + f": {dict2str(best_valid_result) if best_valid_result else '-'}")
    logger.info(set_color("test result", "yellow") + f": {dict2str(test_result)}")
    logger.info(
        set_color("cost", "yellow") + f": train {result['train_time_s']:.1f}s, eval {result['eval_time_s']:.1f}s, "
        f"peak memory {result['peak_memory_mb']:.0f} MB"
    )
    logger.info(summary_line(config, result, perf_counter() - started, logger))
    return result


def fit(trainer, train_data, valid_data, saved: bool, show_progress: bool) -> tuple:
    """The trainer's ``fit``; a classical model's continues an interrupted run with ``resume``, as an LLM's does.
    Every run writes under a name no other run of its folder has (``checkpoint.claim_new_run_file``)."""
    if resumable(trainer):
        return fit_resumably(trainer, train_data, valid_data, saved, show_progress)
    if trainer.config["resume"] and not is_llm_model(trainer.config["model"]):
        getLogger().warning(not_resumable_note(trainer))
    if not keeps_run_state(trainer):  # a RunState claimed its name when the trainer was built
        trainer.saved_model_file = claim_run_file(trainer.saved_model_file)
    return trainer.fit(train_data, valid_data, saved=saved, show_progress=show_progress)


def keeps_run_state(trainer) -> bool:
    """Whether ``trainer`` saves a resumable state (``checkpoint.RunState``) under the run's name: an LLM trainer, or
    a classical one once ``fit_resumably`` started."""
    return hasattr(trainer, "run_state")


def evaluate(trainer, test_data, saved: bool, show_progress: bool) -> dict:
    """The trainer's test, and the pairwise AUC on the same rows when asked (for every model, by its own measure)."""
    result = trainer.evaluate(test_data, load_best_model=saved, show_progress=show_progress)
    return with_pairwise_auc(result, trainer.model, test_data, trainer.config)


def prepare_data(config: Config) -> tuple:
    """(dataset, train_data, valid_data, test_data): loaded, split, tested on ``test_user_num`` users and masked
    (``exclude_history``) as every model of the plugin sees them."""
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    train_data, valid_data, test_data = data_preparation(config, dataset)
    test_data = cap_test_users(test_data, config["test_user_num"])
    align_history_masking(config, dataset, valid_data, test_data)
    return dataset, train_data, valid_data, test_data


def provide_item_encoder(config: Config) -> float:
    """``item_representation=hybrid`` without ``item_encoder_checkpoint``: train the item encoder (a RecBole model,
    ``item_encoder_config`` over the run's data settings) on the same data first and use its checkpoint. It is
    kept in ``checkpoint_dir`` under a name made from its settings, so a resumed or repeated run trains it once.
    Returns the seconds spent training it here (0 when it was not trained by this run)."""
    if not trains_item_encoder(config):
        return 0.0
    settings = item_encoder_settings(config)
    # which users are tested changes neither the encoder's training nor its validation
    keyed = {name: value for name, value in settings.items() if name not in {*RESUME_NEUTRAL_KEYS, "test_user_num"}}
    key = hashlib.sha256(json.dumps(keyed, sort_keys=True, default=str).encode()).hexdigest()[:12]
    checkpoint = Path(config["checkpoint_dir"]) / f"{config['item_encoder']}-item-encoder-{config['dataset']}-{key}.pth"
    trained_s = 0.0
    if main_process_value(checkpoint.is_file()):
        getLogger().info(set_color("item encoder", "green") + f": {checkpoint}, trained before with the same settings")
    else:  # a classical model: trained by the main process while the others wait
        started = perf_counter()
        on_main_process(lambda: train_recbole_model(config["item_encoder"], config["dataset"], settings, checkpoint))
        trained_s = perf_counter() - started
    config["item_encoder_checkpoint"] = str(checkpoint)
    return trained_s


def item_encoder_settings(config: Config) -> dict:
    """The run's own settings that the encoder reads (RecBole's and the encoder's plugin defaults': data, protocol,
    seed, paths) without RecBole's training settings, which belong to the LLM, then ``item_encoder_config``: the
    encoder is trained on exactly the run's data, with its own budget, and the LLM's settings do not rename it."""
    # RecBole's names cover every RecBole model's (SimpleX's history_len too): the LLM model's own names are left out
    read = (recbole_settings() - plugin_defaults(config["model"])) | plugin_defaults(config["item_encoder"])
    inherited = {key: value for key, value in config.external_config_dict.items()
                 if key in read and key not in training_arguments}
    inherited.pop("model", None)
    return {**inherited, "seed": config["seed"], "checkpoint_dir": config["checkpoint_dir"], **config["item_encoder_config"]}


def train_recbole_model(model: str, dataset: str, settings: dict, checkpoint: Path) -> None:
    """Train ``model`` as ``run_recbole_soft`` would, inside the current run (its log), best epoch to ``checkpoint``."""
    logger = getLogger()
    logger.info(set_color("item encoder", "green") + f": training {model} on {dataset} for the hybrid prompts")
    config = Config(model, dataset, config_dict=settings, command_line=False)
    _, train_data, valid_data, test_data = prepare_data(config)
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, build_model(config, train_data))
    partial = checkpoint.with_name(f"{checkpoint.name}.partial")
    trainer.saved_model_file = str(partial)  # a killed run leaves no checkpoint that looks finished
    trainer.fit(train_data, valid_data, saved=True, show_progress=config["show_progress"])
    test_result = trainer.evaluate(test_data, load_best_model=True, show_progress=config["show_progress"])
    partial.replace(checkpoint)
    logger.info(set_color("item encoder", "green") + f": {model} test {dict2str(test_result)}; saved {checkpoint}")


def build_model(config: Config, train_data):
    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    return get_model(config["model"])(config, train_data._dataset).to(config["device"])


def place_outputs(config: Config) -> None:
    """Put the run's log, TensorBoard events and checkpoints under ``output_dir`` (RecBole's default: the current
    directory): ``log/<Model>/``, ``log_tensorboard/<run>/`` and ``checkpoint_dir`` (``saved/``) when relative."""
    root = Path(config["output_dir"] or ".").expanduser()
    checkpoints = Path(config["checkpoint_dir"]).expanduser()
    config["checkpoint_dir"] = str(checkpoints if checkpoints.is_absolute() else root / checkpoints)
    root.mkdir(parents=True, exist_ok=True)
    _detach_earlier_run_logs()
    if not is_main_process():
        _log_warnings_only(config)
        return
    with _working_directory(root):  # RecBole's logger writes ./log/ (its file handler keeps an absolute path)
        init_logger(config)


def _log_warnings_only(config: Config) -> None:
    """Under ``accelerate launch`` the run's log is the main process's: the others show warnings and errors on the
    console, named by their process, and no progress bars, and save no dataset, dataloaders or W&B run."""
    for setting in ("show_progress", "save_dataset", "save_dataloaders", "log_wandb"):
        config[setting] = False
    handler = logging.StreamHandler()
    handler.setFormatter(colorlog.ColoredFormatter(f"%(log_color)sprocess {process_index()}: %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.WARNING)


def _detach_earlier_run_logs() -> None:
    """RecBole's ``init_logger`` attaches its handlers with ``logging.basicConfig``, which does nothing while the
    root logger has handlers: a second run in one process (HyperTuning, a notebook) would log into the first run's
    file and put its TensorBoard events beside it. Its console and file handlers are removed first."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if is_run_log(handler):
            root.removeHandler(handler)
            handler.close()
        elif isinstance(getattr(handler, "formatter", None), colorlog.ColoredFormatter):
            root.removeHandler(handler)


@contextlib.contextmanager
def _working_directory(folder: Path):
    previous = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


def summary_line(config: Config, result: dict, wall_s: float, logger) -> str:
    """One line that ends every run: best validation, test metrics, wall time, where its files were written."""
    headline = dict.fromkeys(["hit@10", "ndcg@10", config["valid_metric"].lower()])
    test = {key: value for key, value in result["test_result"].items() if key in headline} or result["test_result"]
    log_files = [handler.baseFilename for handler in logger.handlers if is_run_log(handler)]
    return (
        f"{config['model']} on {config['dataset']}: {_best_validation(config, result)}"
        f"test {', '.join(f'{k} {_rounded(v)}' for k, v in test.items())}; "
        f"{wall_s:.0f} s, peak {result['peak_memory_mb']:.0f} MB; files in {config['checkpoint_dir']}"
        + (f", log {log_files[0]}" if log_files else "")
    )


def _best_validation(config: Config, result: dict) -> str:
    """The best valid score under its own name: an LLM model validated by loss reports ``valid_loss``."""
    validated = result["best_valid_result"] or {}
    if result["best_valid_score"] is None or not validated:
        return ""
    name = config["valid_metric"] if config["valid_metric"].lower() in validated else next(iter(validated))
    return f"best valid {name} {_rounded(result['best_valid_score'])}; "


def _rounded(value) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else str(value)


def objective_function(config_dict: dict | None = None, config_file_list: list[str] | None = None,
                       saved: bool = True) -> dict:
    """RecBole's ``objective_function`` for ``HyperTuning``, which calls it as ``(config_dict, config_file_list)``:
    one full run of the model and dataset named in the settings, returning what HyperTuning reads. Trials log at
    WARNING without progress bars unless the trial's settings say otherwise (config files rank below them)."""
    settings = {"state": "WARNING", "show_progress": False, **(config_dict or {})}
    result = run_recbole_soft(config_file_list=config_file_list, config_dict=settings, saved=saved, command_line=False)
    keys = ("model", "best_valid_score", "valid_score_bigger", "best_valid_result", "test_result")
    return {key: result[key] for key in keys}


def load_data_and_model(model_file: str | Path) -> tuple:
    """RecBole's ``load_data_and_model`` for plugin and RecBole models alike: (config, model, dataset, train_data,
    valid_data, test_data) of the run that saved ``model_file``, the model scoring exactly as in that run's test.

    ``model_file`` is the ``<Model>-<time>.pth`` a run wrote in its ``checkpoint_dir``: RecBole's checkpoint for its
    own models; for an LLM model, the run's settings, its priors' chosen weights and the PEFT adapter folder beside it.
    Unlike RecBole's, it leaves logging to the caller, so that a program that only prints recommendations prints
    nothing else.
    """
    checkpoint = read_checkpoint(model_file)
    config, dataset, train_data, valid_data, test_data = load_data(checkpoint)
    model = load_model(config, train_data, checkpoint, Path(model_file))
    return config, model, dataset, train_data, valid_data, test_data


def load_data(checkpoint: dict) -> tuple:
    """(config, dataset, train_data, valid_data, test_data) rebuilt with the checkpoint's settings: loaded, split,
    sampled (``test_user_num``) and masked (``exclude_history``) as its run did."""
    config = checkpoint["config"]
    config.compatibility_settings()  # RecBole's numpy aliases (its metrics use np.float): unpickling skips __init__
    check_inputs(config)
    return config, *prepare_data(config)


def load_model(config: Config, train_data, checkpoint: dict, model_file: Path):
    """The checkpoint's model with the weights it was tested with, in evaluation mode (LoRA dropout off)."""
    model = build_model(config, train_data)
    load_weights(model, checkpoint, model_file)
    model.eval()
    return model


def read_checkpoint(model_file: str | Path) -> dict:
    """The checkpoint a run wrote; a missing or foreign file is refused with what to pass instead."""
    path = Path(model_file)
    expected = "the <Model>-<time>.pth file a finished run wrote in its checkpoint_dir (saved/ by default)"
    if not path.is_file():
        raise MissingInput(f"No checkpoint at {path}: pass {expected}.")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)  # RecBole's own pickle, Config inside
    except Exception as error:  # torch.load fails with many types on a file that is not its pickle
        kind = type(error).__name__
        raise InvalidSetting(f"{path} is not a readable checkpoint ({kind}): pass {expected}.") from None
    if not isinstance(checkpoint, dict) or "config" not in checkpoint:
        raise InvalidSetting(f"{path} is not a model checkpoint (it holds no run settings): pass {expected}.")
    return checkpoint


def load_weights(model, checkpoint: dict, model_file: Path) -> None:
    """RecBole's state dict, or an LLM model's LoRA adapter from the folder the checkpoint names; then the other
    parameters (an LLM model's prior weights γ)."""
    if "state_dict" in checkpoint:
        model.load_state_dict(checkpoint["state_dict"])
    elif checkpoint["adapter"] is not None:  # None: a model that trains no adapter (ICL)
        adapter = current_folder(model_file.parent / checkpoint["adapter"])
        if not (adapter / "adapter_config.json").is_file():
            raise MissingInput(
                f"The adapter folder {adapter} of {model_file} is missing: keep it beside the .pth file, as the run "
                f"wrote them."
            )
        model.load_adapter(adapter)
    model.load_other_parameter(checkpoint.get("other_parameter"))


def check_inputs(config: Config) -> None:
    """Everything that can be checked before data and models load."""
    require_dataset_files(config)
    if is_llm_model(config["model"]):
        require_item_text_field(config)
    elif config["pairwise_auc_negatives"]:
        require_item_text_field(config, "needs item titles for pairwise_auc_negatives (its negatives differ in title)")


def _write_result(result: dict) -> None:
    """The result JSON, written whole or not at all (a later run may adopt it: ``trained_checkpoint``)."""
    text = json.dumps(result, indent=2, default=float)
    write_atomically(Path(result["result_file"]), lambda side_file: side_file.write_text(text))


def peak_memory_mb() -> float:
    """Peak resident memory of the process, or of the largest one under ``accelerate launch`` (Linux reports KiB)."""
    return max(gather([resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024]))


def _reset_peak_gpu_memory() -> None:
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def peak_gpu_memory_mb() -> float | None:
    """Peak GPU memory allocated by the process, or by the largest one under ``accelerate launch``."""
    if not torch.cuda.is_available():
        return None
    return max(gather([torch.cuda.max_memory_allocated() / 2**20]))
