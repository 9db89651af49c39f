"""The resumable state of a run: which stages finished, and where the current one stands.

One file per run, ``<checkpoint_dir>/<Model>-<time>.resume.pt``, rewritten atomically after every validated epoch
and at the end of every stage. For an LLM run it holds the trainable (LoRA) weights, optimizer and scheduler state,
early-stopping counters, trainer-specific state (SOFT's distances and curve, DMPO's log); for a classical RecBole
model (``fit_resumably``) the whole model and its optimizer; for both, every random state the next epoch draws
from (torch, CUDA, numpy, Python and the training loader's shuffling generator) and the training time spent so far.
Restoring all of it makes a resumed run continue exactly where the interrupted one was.

Beside it: the PEFT adapter folders (``<Model>-<time>/``, written atomically) and, once the run is tested, RecBole's
checkpoint file ``<Model>-<time>.pth`` of the tested model (settings, adapter folder, γ: ``save_tested_model``).
"""
import itertools
import json
import os
import random
from collections.abc import Callable
from logging import Logger
from pathlib import Path
from time import perf_counter

import numpy as np
import torch

from recbole.utils import set_color

from recbole_soft.atomic import replace_folder_atomically, write_atomically
from recbole_soft.distributed import (
    gather, is_main_process, main_process_value, on_main_process, process_count, process_index,
)
from recbole_soft.errors import InvalidSetting

RESUME_SUFFIX = ".resume.pt"
# settings that may change between an interrupted run and its resumption without changing the result
RESUME_NEUTRAL_KEYS = {"resume", "show_progress", "state", "checkpoint_dir", "output_dir", "gpu_id", "use_gpu", "worker"}
# settings that say where things are, not what they are (data is compared by its checksums, a device by the machine)
LOCATION_KEYS = {*RESUME_NEUTRAL_KEYS, "data_path", "llm_cache_dir", "device"}


def result_file(saved_model_file: str | Path) -> Path:
    """The result a finished run writes beside its checkpoint (``<Model>-<time>.result.json``)."""
    return Path(saved_model_file).with_suffix(".result.json")


def resume_file(saved_model_file: str | Path) -> Path:
    return Path(saved_model_file).with_suffix(RESUME_SUFFIX)


def claim_new_run_file(saved_model_file: str | Path) -> str:
    """RecBole's checkpoint name for a new run, ``<Model>-<time>.pth``, named after the second the run started; when
    a run of the same folder already has files of that name (two runs started within one second), the first free
    ``<Model>-<time>-2.pth``, ``-3``, ...: a new run never writes over another run's files. The run's state file is
    created exclusively, which claims the name against a run started beside it at the same moment."""
    path = Path(saved_model_file)
    for number in itertools.count(1):
        candidate = path if number == 1 else path.with_name(f"{path.stem}-{number}{path.suffix}")
        if any(taken.exists() for taken in (candidate, result_file(candidate), candidate.with_suffix(""))):
            continue
        try:
            with open(resume_file(candidate), "x"):
                return str(candidate)
        except FileExistsError:
            continue


def claim_run_file(saved_model_file: str | Path) -> str:
    """``claim_new_run_file`` by the main process; every process of the run gets the name it claimed."""
    return main_process_value(claim_new_run_file(saved_model_file) if is_main_process() else None)


def release_claim(saved_model_file: str | Path) -> None:
    """Remove the empty state file that claimed the name of a run that keeps no resumable state (Pop, ICL, a model
    that cannot resume) once its files are written: they hold the name from then on."""
    claim = resume_file(saved_model_file)
    if is_main_process() and claim.is_file() and claim.stat().st_size == 0:
        claim.unlink()


def latest_resume_file(checkpoint_dir: str | Path, model: str) -> Path | None:
    """The newest run of ``model`` in ``checkpoint_dir`` that left a resumable state and no result: an interrupted
    one (a finished run keeps its state file, and is not run again; an empty one is a name a new run is claiming)."""
    def finished(state: Path) -> bool:
        return result_file(state.with_name(state.name.removesuffix(RESUME_SUFFIX) + ".pth")).is_file()

    files = [path for path in Path(checkpoint_dir).glob(f"{model}-*{RESUME_SUFFIX}")
             if not finished(path) and path.stat().st_size > 0]
    return max(files, key=lambda path: path.stat().st_mtime, default=None)


def run_settings(config) -> dict:
    """The settings a run's result depends on, as plain JSON values."""
    settings = {key: value for key, value in config.external_config_dict.items() if key not in RESUME_NEUTRAL_KEYS}
    settings.update(model=config["model"], dataset=config["dataset"], seed=config["seed"])
    return json.loads(json.dumps(settings, sort_keys=True, default=str))


def all_settings(config) -> dict:
    """Every setting of ``config``, defaults included, as plain JSON values (enums and devices as their text)."""
    return json.loads(json.dumps(config.final_config_dict, default=str))


def setting_differences(saved: dict, current: dict) -> list[str]:
    keys = sorted(key for key in {*saved, *current} if saved.get(key) != current.get(key))
    return [f"{key}: {saved.get(key)!r} -> {current.get(key)!r}" for key in keys]


def random_states(generator: torch.Generator | None) -> dict:
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        "numpy": np.random.get_state(),
        "python": random.getstate(),
        "loader": generator.get_state() if generator is not None else None,
    }


def every_process_random_states(generator: torch.Generator | None) -> list[dict]:
    """``random_states`` of each process, in process order (one entry in a single process)."""
    return gather([random_states(generator)])


def restore_own_random_states(states: list[dict] | dict, generator: torch.Generator | None) -> None:
    """Restore this process's entry of ``every_process_random_states``; a run resumed with another number of
    processes continues from the main process's states (its batches are shared out differently anyway)."""
    if isinstance(states, dict):  # a state saved before runs kept one entry per process
        states = [states]
    restore_random_states(states[process_index()] if len(states) == process_count() else states[0], generator)


def restore_random_states(states: dict, generator: torch.Generator | None) -> None:
    torch.set_rng_state(states["torch"])
    if states["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    np.random.set_state(states["numpy"])
    random.setstate(states["python"])
    if generator is not None and states["loader"] is not None:
        generator.set_state(states["loader"])


def atomic_save(state: dict, path: Path) -> None:
    """A kill during the write leaves the previous state."""
    write_atomically(path, lambda partial: torch.save(state, partial))


def load_state(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)


class RunState:
    """One run's resumable state: the settings it runs with and, per stage, where that stage stands.

    A new run writes its state at once, so that a run killed in its first epoch is found. ``resume`` adopts the
    newest run of the model in ``checkpoint_dir`` (its file names too) if it ran with the same settings. Under
    ``accelerate launch`` the main process chooses the run and its file names for all, and alone writes the file.
    """

    def __init__(self, path: Path, settings: dict, stages: dict | None = None, seconds_before: float = 0.0):
        self.path, self.settings, self.stages = Path(path), settings, stages or {}
        self.seconds_before = seconds_before  # spent by the interrupted processes, up to their last save
        self._started = perf_counter()

    @classmethod
    def start(cls, config, saved_model_file: str, logger: Logger) -> "RunState":
        settings = run_settings(config)
        model, folder = config["model"], config["checkpoint_dir"]
        previous = main_process_value(latest_resume_file(folder, model) if config["resume"] else None)
        if previous is None:
            if config["resume"]:
                logger.info(f"resume: no interrupted {model} run in {folder}; starting a new one")
            state = cls(resume_file(claim_run_file(saved_model_file)), settings)
            state.save()
            return state
        saved = load_state(previous)
        differences = setting_differences(saved["settings"], settings)
        if differences:
            raise InvalidSetting(
                f"Cannot resume {previous}: it ran with other settings ({'; '.join(differences)}). Resume with the "
                f"settings it had, or set resume=False to start a new run."
            )
        state = cls(previous, saved["settings"], saved["stages"], saved.get("seconds", 0.0))
        stages = [f"{stage} epoch {progress['epoch']}" for stage, progress in state.stages.items()]
        logger.info(set_color("Resuming", "green") + f" {previous}; saved progress: {', '.join(stages) or 'none'}")
        return state

    @property
    def saved_model_file(self) -> str:
        """RecBole's checkpoint name of this run (the adapter folder and result file are named after it)."""
        return str(self.path)[: -len(RESUME_SUFFIX)] + ".pth"

    def progress(self, stage: str) -> dict | None:
        return self.stages.get(stage)

    def record(self, stage: str, progress: dict) -> None:
        self.stages[stage] = progress
        self.save()

    def seconds(self) -> float:
        """Seconds the run has spent, this process's and those of the runs it resumed (up to their last save)."""
        return self.seconds_before + perf_counter() - self._started

    def save(self) -> None:
        state = {"settings": self.settings, "stages": self.stages, "seconds": self.seconds()}
        on_main_process(lambda: atomic_save(state, self.path))


def resumable_fit(
    trainer, stage: str, train_data, fit: Callable[[Callable[[int, float], None]], tuple],
    model_state: Callable[[], dict], restore_model_state: Callable[[dict], None],
) -> tuple:
    """``fit(after_epoch)``, RecBole's epoch loop, as ``stage`` of ``trainer.run_state``: a saved progress of the
    stage is restored first (and a finished stage not trained again), ``after_epoch`` records the progress after
    every validated epoch, and the stage is recorded as finished at its end. Returns (best valid score, result).

    The progress holds the trainer's counters, optimizer and every process's random states; ``model_state`` adds
    what the model needs (an LLM's adapter, a classical model's weights), ``restore_model_state`` puts it back.
    """
    state = trainer.run_state

    def record(epoch: int, finished: bool) -> None:
        state.record(stage, {
            "finished": finished,
            "epoch": epoch,
            "cur_step": trainer.cur_step,
            "best_valid_score": trainer.best_valid_score,
            "best_valid_result": trainer.best_valid_result,
            "optimizer": trainer.optimizer.state_dict(),
            "random": every_process_random_states(train_data.generator),
            **model_state(),
        })

    progress = state.progress(stage)
    if progress is not None:
        restore_model_state(progress)
        trainer.optimizer.load_state_dict(progress["optimizer"])
        trainer.start_epoch, trainer.cur_step = progress["epoch"] + 1, progress["cur_step"]
        trainer.best_valid_score, trainer.best_valid_result = progress["best_valid_score"], progress["best_valid_result"]
        restore_own_random_states(progress["random"], train_data.generator)
        out_of_epochs = progress["epoch"] + 1 >= trainer.epochs
        if progress["finished"] or out_of_epochs or progress["cur_step"] > trainer.stopping_step:
            trainer.logger.info(set_color(f"stage {stage}", "green") + " finished before the interruption")
            return trainer.best_valid_score, trainer.best_valid_result
        trainer.logger.info(set_color(f"stage {stage}", "green") + f": resumed after epoch {progress['epoch']}")
    result = fit(lambda epoch_idx, valid_score: record(epoch_idx, finished=False))
    record((state.progress(stage) or {}).get("epoch", trainer.epochs - 1), finished=True)
    return result


def save_adapter_folder(save: Callable[[Path], None], target: Path, trainer_state: dict) -> None:
    """``save(folder)`` with the trainer's state beside it, swapped in whole: a kill during a save leaves the last
    adapter intact."""

    def write(folder: Path) -> None:
        save(folder)
        (folder / "trainer_state.json").write_text(json.dumps(trainer_state, default=float))

    replace_folder_atomically(target, write)


def save_tested_model(saved_model_file: str | Path, config, model, adapter_dir: Path | None) -> None:
    """RecBole's checkpoint file of an LLM model as it was tested, read by ``load_data_and_model``.

    RecBole's holds ``config``, ``state_dict`` and ``other_parameter``. An LLM model's weights are its base model
    (named by the settings) and its PEFT adapter, so this file holds the adapter folder, relative to the file (the
    two move together), instead of a state dict; ``other_parameter`` holds each prior's γ chosen on validation.
    """
    path = Path(saved_model_file)
    adapter = os.path.relpath(adapter_dir, path.parent) if adapter_dir is not None else None
    atomic_save({"config": config, "other_parameter": model.other_parameter(), "adapter": adapter}, path)
