"""The resumable state of an LLM run: which stages finished, and where the current one stands.

One file per run, ``<checkpoint_dir>/<Model>-<time>.resume.pt``, rewritten atomically after every validated epoch
and at the end of every stage. It holds the trainable (LoRA) weights, optimizer and scheduler state, early-stopping
counters, trainer-specific state (SOFT's distances and curve, DMPO's log) and every random state the next epoch
draws from: torch, CUDA, numpy, Python and the training loader's shuffling generator. Restoring all of it makes a
resumed run continue exactly where the interrupted one was.
"""
import json
import random
from pathlib import Path

import numpy as np
import torch

from recbole_soft.atomic import write_atomically

RESUME_SUFFIX = ".resume.pt"
# settings that may change between an interrupted run and its resumption without changing the result
RESUME_NEUTRAL_KEYS = {"resume", "show_progress", "state", "checkpoint_dir", "gpu_id", "use_gpu", "worker"}


def resume_file(saved_model_file: str | Path) -> Path:
    return Path(saved_model_file).with_suffix(RESUME_SUFFIX)


def latest_resume_file(checkpoint_dir: str | Path, model: str) -> Path | None:
    """The newest run of ``model`` in ``checkpoint_dir`` that left a resumable state."""
    files = sorted(Path(checkpoint_dir).glob(f"{model}-*{RESUME_SUFFIX}"), key=lambda path: path.stat().st_mtime)
    return files[-1] if files else None


def run_settings(config) -> dict:
    """The settings a run's result depends on, as plain JSON values."""
    settings = {key: value for key, value in config.external_config_dict.items() if key not in RESUME_NEUTRAL_KEYS}
    settings.update(model=config["model"], dataset=config["dataset"], seed=config["seed"])
    return json.loads(json.dumps(settings, sort_keys=True, default=str))


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
