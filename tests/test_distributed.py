"""Under ``accelerate launch`` (2 CPU processes, gloo) a run gives what one process gives, and writes what one writes.

The tiny dataset's titles all have the same number of tokens, so a mean over target tokens equals a mean over rows
and a batch shared between processes (each process's mean weighted by its share of the rows) trains exactly as the
whole batch does in one process.
"""
import json
import os
import re
import socket
import string
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from recbole_soft import distributed
from tests.conftest import REPOSITORY, write_atomic_dataset

# Runs a model on the settings given; with "kill", every process SIGKILLs itself when SOFT's curriculum stage starts
# training (after SFT and self-distillation), as a killed job would stop.
DRIVER = """
import json, os, signal, sys
from recbole_soft import run_recbole_soft
from recbole_soft.trainer.llm_trainer import LLMTrainer

model, settings, kill = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3] == "kill"
if kill:
    train_epoch = LLMTrainer._train_epoch
    def killed_in_curriculum(self, *args, **kwargs):
        if self.stage == "curriculum":
            os.kill(os.getpid(), signal.SIGKILL)
        return train_epoch(self, *args, **kwargs)
    LLMTrainer._train_epoch = killed_in_curriculum
result = run_recbole_soft(model, "uniform", config_dict=settings, command_line=False)
with open(f"report-{model}-{os.environ.get('RANK', 0)}.json", "w") as file:
    json.dump(result and {"test": result["test_result"], "valid": result["best_valid_score"],
                          "distillation": result.get("distillation", {}).get("file")}, file)
"""

# what every process of a 2-process launch reports about the work it is given
PRIMITIVES = """
import json
import torch
from recbole_soft import distributed as d
values = d.sum_over_processes(torch.tensor([1.0, d.process_index()]))
# gradients: one parameter used by process 0 only, one by both, one by none
only_main, both, unused = (torch.nn.Parameter(torch.zeros(2)) for _ in range(3))
if d.is_main_process():
    only_main.grad = torch.tensor([1.0, 2.0])
both.grad = torch.tensor([1.0, 10.0]) * (d.process_index() + 1)
d.sum_gradients([only_main, both, unused])
with d.work_alone() as main:
    alone = [main, d.process_count(), d.gather(["alone"])]
with open(f"report-primitives-{d.process_index()}.json", "w") as file:
    json.dump({
    "index": d.process_index(), "count": d.process_count(), "main": d.is_main_process(),
    "blocks": {total: [d.own_slice(total).start, d.own_slice(total).stop] for total in (0, 1, 5, 6)},
    "gathered": d.gather([f"item of {d.process_index()}"] * (d.process_index() + 1)),
    "sum": values.tolist(), "main_value": d.main_process_value(f"chosen by {d.process_index()}"),
    "gradients": [only_main.grad.tolist(), both.grad.tolist(), unused.grad], "alone": alone,
    "after": d.process_count(),
    }, file)
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def script(folder: Path, name: str, text: str) -> str:
    path = folder / name
    path.write_text(text)
    return str(path)


def launch(arguments: list[str], processes: int, cwd: Path) -> subprocess.CompletedProcess:
    """``accelerate launch <script> <arguments>`` in ``processes`` CPU processes (``--multi_gpu`` is
    Accelerate's torchrun launcher; on a machine without CUDA each process joins a gloo group on the CPU)."""
    command = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
               "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
               "--main_process_port", str(free_port()), *arguments]
    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY), "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=environment)


def reports(process: subprocess.CompletedProcess, folder: Path, name: str) -> list:
    """What each process of a finished launch reported (``report-<name>-<process>.json``), in process order."""
    assert process.returncode == 0, process.stderr[-4000:]
    files = sorted(folder.glob(f"report-{name}-*.json"))
    return [json.loads(file.read_text()) for file in files]


def test_a_single_process_is_its_own_main_process_and_keeps_everything():
    assert (distributed.process_count(), distributed.process_index(), distributed.is_main_process()) == (1, 0, True)
    assert distributed.own_slice(7) == slice(0, 7)
    assert distributed.gather(["a", "b"]) == ["a", "b"]
    assert distributed.main_process_value("mine") == "mine"


def test_accelerate_launch_cpu_is_told_how_to_start_several_processes(monkeypatch):
    monkeypatch.setenv("ACCELERATE_USE_CPU", "True")
    assert "accelerate launch --multi_gpu --num_processes N" in distributed.single_cpu_launch_note()
    monkeypatch.delenv("ACCELERATE_USE_CPU")
    assert distributed.single_cpu_launch_note() is None


def test_accelerate_launch_cpu_is_told_when_its_one_process_runs_on_fewer_threads_than_the_machine_has(monkeypatch):
    monkeypatch.setenv("ACCELERATE_USE_CPU", "True")
    monkeypatch.setattr(distributed.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(distributed.torch, "get_num_threads", lambda: 1)
    assert "computes with 1 of the 2 CPU threads (OMP_NUM_THREADS)" in distributed.single_cpu_launch_note()
    monkeypatch.setattr(distributed.torch, "get_num_threads", lambda: 2)
    assert "OMP_NUM_THREADS" not in distributed.single_cpu_launch_note()


def test_two_processes_split_work_into_blocks_and_meet_again(tmp_path):
    first, second = reports(launch([script(tmp_path, "primitives.py", PRIMITIVES)], 2, tmp_path), tmp_path, "primitives")
    assert (first["index"], second["index"], first["count"], first["main"], second["main"]) == (0, 1, 2, True, False)
    for total in ("0", "1", "5", "6"):  # contiguous blocks that cover every item once
        (first_start, first_stop), (second_start, second_stop) = first["blocks"][total], second["blocks"][total]
        assert first_start == 0 and first_stop == second_start and second_stop == int(total)
    assert first["blocks"]["5"] == [0, 3]
    assert first["gathered"] == second["gathered"] == ["item of 0", "item of 1", "item of 1"]
    assert first["sum"] == second["sum"] == [2.0, 1.0]
    assert first["main_value"] == second["main_value"] == "chosen by 0"
    # summed gradients; a parameter no process used keeps none, so the optimizer skips it as in one process
    assert first["gradients"] == second["gradients"] == [[1.0, 2.0], [3.0, 30.0], None]
    # in work_alone every process counts itself alone; the main one is told it is the main one
    assert (first["alone"], second["alone"][0]) == ([True, 1, ["alone"]], False)
    assert first["after"] == second["after"] == 2


@pytest.fixture(scope="module")
def soft_settings(tmp_path_factory, tiny_llm, cache_dir) -> dict:
    """SOFT on a dataset whose titles are all two tokens long, every stage small, LoRA dropout off (each process
    would draw its own masks) and distillation constrained to real titles (so distilled targets have one length)."""
    root = tmp_path_factory.mktemp("datasets")
    letters = string.ascii_uppercase
    write_atomic_dataset(root, "uniform", n_items=len(letters), title=lambda item: f"{letters[item - 1]} Film")
    return {
        "data_path": str(root), "load_col": {"inter": ["user_id", "item_id", "timestamp"]}, "item_text_field": "title",
        "llm_path": str(tiny_llm), "llm_cache_dir": str(cache_dir), "train_batch_size": 4, "train_sample_num": 16,
        "valid_sample_num": 8, "epochs": 1, "curriculum_epochs": 1, "curriculum_probe_num": 6,
        "max_new_tokens": 6, "num_beams": 2, "learning_rate": 0.01, "lora_dropout": 0.0,
        "distill_constrained_decoding": True, "show_progress": False, "state": "INFO",
    }


def assert_same_validation_loss(processes: float, one_process: float) -> None:
    """Each process scores its own share of the validation rows in other batches than one process does, and float32
    log-probabilities depend in their last bits on the batch they are computed in: the losses may differ by about
    one float32 step (1.3e-6 at a loss of 10.2 was seen), not more."""
    assert processes == pytest.approx(one_process, rel=1e-6)


def run_model(model: str, settings: dict, folder: Path, processes: int, kill: bool = False) -> subprocess.CompletedProcess:
    folder.mkdir(exist_ok=True)
    settings = {**settings, "output_dir": str(folder), "checkpoint_dir": str(folder / "saved")}
    arguments = [script(folder, "driver.py", DRIVER), model, json.dumps(settings), "kill" if kill else "run"]
    if processes > 1:
        return launch(arguments, processes, folder)
    return subprocess.run([sys.executable, *arguments], capture_output=True, text=True, cwd=folder,
                          env={**os.environ, "PYTHONPATH": str(REPOSITORY)})


@pytest.fixture(scope="module")
def runs(soft_settings, tmp_path_factory) -> dict:
    """One SOFT run in one process; the same run in 2 processes, killed in its curriculum stage and resumed."""
    one, two = tmp_path_factory.mktemp("one-process"), tmp_path_factory.mktemp("two-processes")
    single = reports(run_model("SOFT", soft_settings, one, 1), one, "SOFT")
    killed = run_model("SOFT", soft_settings, two, 2, kill=True)
    assert killed.returncode != 0 and not list(two.glob("report-*"))
    resumed = reports(run_model("SOFT", {**soft_settings, "resume": True}, two, 2), two, "SOFT")
    return {"one": (one, single), "two": (two, resumed)}


def test_two_processes_resumed_after_a_kill_end_with_the_metrics_of_one_process(runs):
    (_, [single]), (_, both) = runs["one"], runs["two"]
    assert len(both) == 2 and both[0]["test"] == both[1]["test"]  # every process holds the run's result
    assert both[0]["test"] == single["test"]
    assert_same_validation_loss(both[0]["valid"], single["valid"])


def test_data_parallel_training_gives_the_adapter_of_one_process(runs):
    adapters = [load_file(next((folder / "saved").glob("SOFT-*[0-9]/adapter_model.safetensors")))
                for folder, _ in runs.values()]
    assert adapters[0].keys() == adapters[1].keys()
    for name, weight in adapters[0].items():
        torch.testing.assert_close(adapters[1][name], weight, rtol=0, atol=1e-5)


def test_shared_self_distillation_writes_the_same_set(runs):
    (_, [single]), (_, both) = runs["one"], runs["two"]
    assert Path(both[0]["distillation"]).read_text() == Path(single["distillation"]).read_text()


def test_only_the_main_process_writes_files(runs):
    def saved(folder: Path) -> list[str]:
        names = (path.relative_to(folder).as_posix() for path in (folder / "saved").rglob("*"))
        return sorted(re.sub(r"\d{2}-\d{2}-\d{2}|distilled-[0-9a-f]+", "<stamp>", name) for name in names)

    (one, _), (two, _) = runs["one"], runs["two"]
    assert saved(two) == saved(one)
    # one log and one TensorBoard folder per launch (the killed one and the resumed one), named after each other
    logs = sorted(path.stem for path in (two / "log").rglob("*.log"))
    assert len(logs) == 2
    assert sorted(path.name for path in (two / "log_tensorboard").iterdir()) == logs


def test_a_classical_model_runs_in_the_main_process_alone(soft_settings, tmp_path):
    one = reports(run_model("Pop", soft_settings, tmp_path / "one", 1), tmp_path / "one", "Pop")
    launched = run_model("Pop", soft_settings, tmp_path / "two", 2)
    main, other = reports(launched, tmp_path / "two", "Pop")
    assert main["test"] == one[0]["test"] and other is None
    assert "Pop is a classical RecBole model: it runs in the main process only" in launched.stdout + launched.stderr


@pytest.mark.parametrize(
    "model, own",
    [
        ("DMPO", {"dmpo_neg_num": 2, "dmpo_neg_sampler": "hard", "dmpo_epochs": 1, "pairwise_auc_negatives": 2}),
        ("CLCLMRec", {"item_encoder_config": {"epochs": 1, "train_batch_size": 16}, "clclm_instruction_num": 8,
                      "clclm_sample_num": 6}),
    ],
    ids=["DMPO", "CLCLMRec"],
)
def test_the_other_trainers_in_two_processes_train_and_test_as_in_one(soft_settings, tmp_path, model, own):
    """DMPO's reference pass, its negatives (hard ones generated by the SFT model, shared out and gathered) and its
    preference loss over 1 + k titles per row, its pairwise AUC (scored in the test pass: each process scores the
    pairs of its block of each batch's users, gathered with the beams); CLCLMRec's encoder (trained by the main
    process), its sample choice and its two tuning phases: split between 2 processes, they give one process's
    adapter and metrics."""
    settings = {**soft_settings, **own}
    single = reports(run_model(model, settings, tmp_path / "one", 1), tmp_path / "one", model)[0]
    both = reports(run_model(model, settings, tmp_path / "two", 2), tmp_path / "two", model)
    assert both[0]["test"] == both[1]["test"] == single["test"]
    assert ("pairwise_auc" in single["test"]) == ("pairwise_auc_negatives" in own)
    assert_same_validation_loss(both[0]["valid"], single["valid"])
    folders = [next((tmp_path / run / "saved").glob(f"{model}-*[0-9]")) for run in ("one", "two")]
    weights = [{file.name: load_file(file) for file in folder.glob("*.safetensors")} for folder in folders]
    assert weights[0].keys() == weights[1].keys()  # CLCLMRec's adapter folder also holds its item projector
    for file, tensors in weights[0].items():
        for name, weight in tensors.items():
            torch.testing.assert_close(weights[1][file][name], weight, rtol=0, atol=1e-5)
