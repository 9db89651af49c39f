"""A run killed with SIGKILL anywhere and resumed with ``resume: True`` ends with the metrics of an uninterrupted run,
for the plugin's LLM models and RecBole's classical ones alike."""
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from recbole_soft import run_recbole_soft
from recbole_soft.trainer.checkpoint import (
    atomic_save, claim_new_run_file, latest_resume_file, load_state, resume_file,
)
from tests.conftest import REPOSITORY

# Runs one model on the tiny dataset; with a kill point, the process SIGKILLs itself there (no hook in the package).
DRIVER = """
import json, os, signal, sys
from recbole_soft import run_recbole_soft
from recbole_soft.trainer.llm_trainer import LLMTrainer
from recbole_soft.trainer.distillation import SelfDistillation

settings, kill_at = json.loads(sys.argv[1]), sys.argv[2]

def kill_when(method, reached):
    def wrapper(self, *args, **kwargs):
        if reached(self, *args):
            os.kill(os.getpid(), signal.SIGKILL)
        return method(self, *args, **kwargs)
    return wrapper

if kill_at.startswith("classical:"):
    from recbole.trainer import Trainer
    epoch = int(kill_at.split(":")[1])
    Trainer._train_epoch = kill_when(Trainer._train_epoch, lambda self, data, index, *rest: index == epoch)
elif kill_at.startswith("epoch:"):
    _, stage, epoch = kill_at.split(":")
    LLMTrainer._train_epoch = kill_when(LLMTrainer._train_epoch, lambda self, data, index, *rest: (self.stage, index) == (stage, int(epoch)))
elif kill_at == "distillation":
    SelfDistillation._distil = kill_when(SelfDistillation._distil, lambda self, *args: True)
elif kill_at == "test":
    LLMTrainer.evaluate = kill_when(LLMTrainer.evaluate, lambda self, *args: True)
result = run_recbole_soft(settings.pop("model"), "tiny", config_dict=settings)
print("RESULT " + json.dumps({"test": result["test_result"], "valid": result["best_valid_score"],
                             "resumed_s": result["resumed_time_s"]}))
"""


def run_driver(settings: dict, kill_at: str = "never") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", DRIVER, json.dumps(settings), kill_at],
        capture_output=True, text=True, cwd=REPOSITORY,
    )


def final_metrics(process: subprocess.CompletedProcess) -> dict:
    """The run's test metrics and best validation score, and how long the runs it resumed had trained."""
    assert process.returncode == 0, process.stderr[-3000:]
    return json.loads(process.stdout.split("RESULT ", 1)[1])


def metrics_only(result: dict) -> dict:
    return {key: value for key, value in result.items() if key != "resumed_s"}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """Metrics of runs that were never killed, per model (computed once)."""
    cache = {}

    def metrics(settings: dict) -> dict:
        key = json.dumps(settings, sort_keys=True)
        if key not in cache:
            folder = tmp_path_factory.mktemp("uninterrupted")
            cache[key] = final_metrics(run_driver({**settings, "checkpoint_dir": str(folder)}))
        return cache[key]

    return metrics


SETTINGS = {
    "SOFT": {"epochs": 2, "stopping_step": 5, "curriculum_epochs": 2, "curriculum_probe_num": 6, "max_new_tokens": 6},
    "DMPO": {"epochs": 2, "stopping_step": 5, "dmpo_epochs": 2},
    "SASRec": {"epochs": 4, "stopping_step": 10, "train_batch_size": 8, "hidden_size": 16, "inner_size": 32},
    "CL4SRec": {"epochs": 4, "stopping_step": 10, "train_batch_size": 8, "hidden_size": 16, "inner_size": 32},
}


@pytest.mark.parametrize(
    "model, kill_at",
    [
        ("SOFT", "epoch:sft:1"),
        ("SOFT", "distillation"),
        ("SOFT", "epoch:curriculum:1"),
        ("DMPO", "epoch:preference:1"),
        ("DMPO", "test"),
        ("SASRec", "classical:2"),
        ("CL4SRec", "classical:2"),  # its augmentations draw from a generator of its own, kept in the resume file
    ],
)
def test_a_killed_run_resumes_to_the_same_metrics(model, kill_at, llm_config, uninterrupted, tmp_path):
    settings = {**llm_config, **SETTINGS[model], "model": model, "checkpoint_dir": str(tmp_path / "run")}
    killed = run_driver(settings, kill_at)
    assert killed.returncode == -signal.SIGKILL
    resumed = final_metrics(run_driver({**settings, "resume": True}))
    never_killed = uninterrupted({key: value for key, value in settings.items() if key != "checkpoint_dir"})
    assert metrics_only(resumed) == metrics_only(never_killed)
    assert resumed["resumed_s"] > 0 == never_killed["resumed_s"]  # the killed run's training time is counted
    assert len(list((tmp_path / "run").glob(f"{model}-*.resume.pt"))) == 1  # the resumed run continued the killed one


def test_a_classical_model_that_cannot_resume_says_so_and_trains_from_the_start(llm_config, tmp_path, caplog):
    settings = {**llm_config, "checkpoint_dir": str(tmp_path / "pop"), "resume": True}
    result = run_recbole_soft("Pop", "tiny", config_dict=settings)
    assert "resume: Pop cannot continue an interrupted run" in caplog.text
    assert result["resumed_time_s"] == 0 and not list((tmp_path / "pop").glob("*.resume.pt"))


def test_resuming_with_other_settings_is_refused(llm_config):
    earlier = run_recbole_soft("BIGRec", "tiny", config_dict=llm_config)
    Path(earlier["result_file"]).unlink()  # its state without a result: an interrupted run
    with pytest.raises(ValueError, match=r"Cannot resume .*BIGRec-.*resume.pt: it ran with other settings \(learning_rate: 0.01 -> 0.02\)"):
        run_recbole_soft("BIGRec", "tiny", config_dict={**llm_config, "learning_rate": 0.02, "resume": True})


def test_a_finished_run_is_not_resumed_a_new_one_starts_beside_it(llm_config, monkeypatch):
    monkeypatch.setattr("recbole.trainer.trainer.get_local_time", lambda: "Dec-07-2026_22-14-48")  # the same second
    finished = run_recbole_soft("BIGRec", "tiny", config_dict=llm_config)
    written = Path(finished["result_file"]).read_text()
    again = run_recbole_soft("BIGRec", "tiny", config_dict={**llm_config, "learning_rate": 0.02, "resume": True})
    assert again["result_file"] != finished["result_file"] and Path(finished["result_file"]).read_text() == written
    assert Path(again["result_file"]).name == "BIGRec-Dec-07-2026_22-14-48-2.result.json"


def test_runs_that_keep_no_state_started_in_the_same_second_keep_their_own_files(llm_config, tmp_path, monkeypatch):
    monkeypatch.setattr("recbole.trainer.trainer.get_local_time", lambda: "Dec-07-2026_22-14-48")  # the same second
    settings = {**llm_config, "checkpoint_dir": str(tmp_path / "pop")}
    first = run_recbole_soft("Pop", "tiny", config_dict=settings)
    written = Path(first["result_file"]).read_text()
    second = run_recbole_soft("Pop", "tiny", config_dict=settings)
    assert Path(second["result_file"]).name == "Pop-Dec-07-2026_22-14-48-2.result.json"
    assert Path(first["result_file"]).read_text() == written
    assert {path.name for path in (tmp_path / "pop").glob("Pop-*.pth")} == {
        "Pop-Dec-07-2026_22-14-48.pth", "Pop-Dec-07-2026_22-14-48-2.pth"}
    assert not list((tmp_path / "pop").glob("*.resume.pt"))  # the claims are released once the files hold the names


def test_resume_without_an_earlier_run_starts_a_new_one(llm_config):
    result = run_recbole_soft("BIGRec", "tiny", config_dict={**llm_config, "resume": True})
    assert {"hit@10", "ndcg@10"} <= set(result["test_result"])


def test_a_kill_during_a_state_save_leaves_the_previous_state(tmp_path, monkeypatch):
    path = tmp_path / "run.resume.pt"
    atomic_save({"stages": {"sft": {"epoch": 0}}}, path)

    def dies_half_way(state, file):
        open(file, "wb").write(b"half a checkpoint")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        atomic_save({"stages": {"sft": {"epoch": 1}}}, path)
    assert load_state(path) == {"stages": {"sft": {"epoch": 0}}}


def test_a_new_run_takes_the_first_name_no_other_run_of_its_folder_uses(tmp_path):
    name = tmp_path / "BIGRec-Dec-07-2026_22-14-48.pth"
    assert claim_new_run_file(name) == str(name) and resume_file(name).is_file()  # its state file claims the name
    assert claim_new_run_file(name) == str(tmp_path / "BIGRec-Dec-07-2026_22-14-48-2.pth")
    (tmp_path / "BIGRec-Dec-07-2026_22-14-48-3.result.json").write_text("{}")  # a finished run's result
    (tmp_path / "BIGRec-Dec-07-2026_22-14-48-4").mkdir()  # a run's adapter folder
    assert claim_new_run_file(name) == str(tmp_path / "BIGRec-Dec-07-2026_22-14-48-5.pth")
    assert latest_resume_file(tmp_path, "BIGRec") is None  # a claimed name is not an interrupted run to resume
