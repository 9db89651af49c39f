import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from recbole_soft import compat
from recbole_soft.compat import KEEP_FREED_MEMORY

compat.apply()


def test_numpy_aliases_that_recbole_config_reads_exist():
    assert np.float_ is np.float64
    assert np.complex_ is np.complex128
    assert np.unicode_ is np.str_


def test_recbole_trainer_reads_full_checkpoints_and_torch_stays_safe_elsewhere(tmp_path):
    import recbole.trainer.trainer as recbole_trainer
    import torch

    from recbole_soft.config import Config

    checkpoint = tmp_path / "checkpoint.pth"
    torch.save({"config": Config(model="Pop", dataset="ml-100k", config_dict={"state": "WARNING"})}, checkpoint)
    assert recbole_trainer.torch.load(checkpoint)["config"]["model"] == "Pop"
    with pytest.raises(Exception, match="Weights only load failed"):  # torch itself keeps its safe default
        torch.load(checkpoint)


def test_the_project_never_imports_recbole_quick_start():
    # every module of the package, in a fresh process (this one's modules depend on which tests ran before)
    probe = (
        "import importlib, pkgutil, sys, recbole_soft\n"
        "for module in pkgutil.walk_packages(recbole_soft.__path__, 'recbole_soft.'):\n"
        "    if module.name != 'recbole_soft.benchmark.__main__': importlib.import_module(module.name)\n"
        "print('recbole.quick_start' in sys.modules, len(sys.modules))\n"
    )
    answer = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    imported, modules = answer.stdout.split()
    assert imported == "False" and int(modules) > 500  # the package and RecBole, torch, transformers were imported


def test_pop_counts_every_interaction_of_a_batch_that_repeats_an_item(data_root):
    from recbole.data import create_dataset
    from recbole.data.interaction import Interaction
    from recbole.model.general_recommender.pop import Pop

    from recbole_soft.config import Config

    settings = {"data_path": str(data_root), "load_col": {"inter": ["user_id", "item_id", "timestamp"]}, "state": "WARNING"}
    config = Config(model="Pop", dataset="tiny", config_dict=settings, command_line=False)
    model = Pop(config, create_dataset(config))
    model.calculate_loss(Interaction({"item_id": torch.tensor([3, 3, 3, 5])}))
    model.calculate_loss(Interaction({"item_id": torch.tensor([5, 3])}))
    assert model.item_cnt[[3, 5, 4], 0].tolist() == [4, 2, 0]
    assert model.max_cnt.item() == 4


def test_recbole_models_leave_autograd_anomaly_detection_off():
    # RecBole's SINE module switches anomaly detection on for the whole process when it is imported
    probe = (
        "import torch; from recbole_soft.registry import get_model; get_model('SASRec'); "
        "import recbole.model.sequential_recommender.sine; print(torch.is_anomaly_enabled())"
    )
    answer = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert answer.stdout.strip() == "False"


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the setting is glibc's mallopt")
@pytest.mark.parametrize("keep, faults_at_most, faults_at_least", [("1", 2 * 16_384, 0), ("0", None, 20 * 16_000)])
def test_freed_tensors_are_reused_without_page_faults_unless_turned_off(keep, faults_at_most, faults_at_least):
    # 20 tensors of 64 MB, each freed before the next: glibc maps each one afresh (16,384 pages of 4 KB) by default;
    # kept, the heap grows once and is reused
    probe = (
        "import resource, torch\nfrom recbole_soft.compat import keep_freed_memory_for_reuse\n"
        "keep_freed_memory_for_reuse()\n"
        "torch.ones(2 ** 24)\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "for _ in range(20): torch.ones(2 ** 24)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)\n"
    )
    environment = {**os.environ, KEEP_FREED_MEMORY: keep}
    answer = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=environment)
    faults = int(answer.stdout.split()[-1])
    assert faults >= faults_at_least and (faults_at_most is None or faults <= faults_at_most)


def test_a_forked_kv_cache_is_reordered_and_extended_without_copying_or_changing_the_original(tiny_llm):
    from transformers import AutoModelForCausalLM

    from recbole_soft.compat import forked_kv_cache, kv_cache_keyword, kv_cache_of

    model = AutoModelForCausalLM.from_pretrained(tiny_llm).eval()
    with torch.no_grad():
        cache = kv_cache_of(model(input_ids=torch.tensor([[5, 6, 7], [8, 9, 10]]), use_cache=True))
        original = [(layer.keys.clone(), layer.values.clone()) for layer in cache.layers]
        fork = forked_kv_cache(cache)
        assert fork.layers[0].keys.data_ptr() == cache.layers[0].keys.data_ptr()
        fork.reorder_cache(torch.tensor([1, 1, 0]))
        model(input_ids=torch.tensor([[11], [12], [13]]), use_cache=True, **{kv_cache_keyword(model): fork})
    assert fork.get_seq_length() == 4 and cache.get_seq_length() == 3
    for layer, (keys, values) in zip(cache.layers, original):
        assert torch.equal(layer.keys, keys) and torch.equal(layer.values, values)


PARENT_OF_A_RUN = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "from recbole_soft.compat import stop_with_parent; import time; "
                          "print(stop_with_parent(), flush=True); time.sleep(120)"], stdout=subprocess.PIPE, text=True)
print(child.pid, child.stdout.readline().strip(), flush=True)
time.sleep(120)
"""


def ended(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    try:  # a zombie has ended too: this machine's init may not reap it at once
        return "State:\tZ" in status.read_text()
    except FileNotFoundError:
        return True


@pytest.mark.skipif(platform.system() != "Linux", reason="the kernel's parent-death signal is Linux's")
def test_a_process_that_asked_to_stop_with_its_parent_ends_when_the_parent_is_killed():
    parent = subprocess.Popen([sys.executable, "-c", PARENT_OF_A_RUN], stdout=subprocess.PIPE, text=True)
    pid, is_set = parent.stdout.readline().split()
    assert is_set == "True" and not ended(int(pid))
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 20
    while not ended(int(pid)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert ended(int(pid))
