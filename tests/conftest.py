"""Shared fixtures: a small atomic dataset written by the tests, and a tiny Llama built from a config (no downloads)."""
import os
import random
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parent.parent

GENRES = ["Space", "Western", "Noir", "Comedy", "Musical"]


def write_atomic_dataset(
    root: Path, name: str, n_users: int = 24, n_items: int = 30, title_field: str = "title", title=None
) -> Path:
    """A dataset whose users walk through items in order (item i is followed by i+1), so it can be learned;
    ``title(item)`` names the items (default: "<genre> Story <item>")."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(7)
    inter = ["user_id:token\titem_id:token\ttimestamp:float"]
    for user in range(1, n_users + 1):
        start = rng.randrange(n_items)
        for position in range(rng.randint(6, 10)):
            inter.append(f"u{user}\ti{(start + position) % n_items + 1}\t{position}")
    (folder / f"{name}.inter").write_text("\n".join(inter) + "\n")
    items = [f"item_id:token\t{title_field}:token_seq"]
    for item in range(1, n_items + 1):
        items.append(f"i{item}\t{title(item) if title else f'{GENRES[item % len(GENRES)]} Story {item}'}")
    (folder / f"{name}.item").write_text("\n".join(items) + "\n")
    return folder


@pytest.fixture(autouse=True, scope="session")
def _one_compute_thread_per_xdist_worker():
    """Under pytest-xdist each worker, and every process it starts, computes on one thread: ``make test`` starts one
    worker per core (``-n auto``), and workers of one thread per core each (torch's default) oversubscribe the cores
    and spend the difference spinning (on 2 cores: 45% more CPU time, 20% more wall time)."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        yield
        return
    import torch

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("OMP_NUM_THREADS", "1")
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        yield
        torch.set_num_threads(threads)


@pytest.fixture(autouse=True, scope="session")
def _pytest_options_are_not_settings():
    """RecBole's Config reads ``--key=value`` from ``sys.argv``: pytest's own options (``--durations=10``) must not
    reach the settings of a test or of a fixture, whatever its scope. A test of the command line sets ``sys.argv``
    itself."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", sys.argv[:1])
        yield


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One model/item-table cache for the whole session, shared with subprocesses through the environment."""
    path = Path(os.environ.get("RECBOLE_SOFT_TEST_CACHE") or tmp_path_factory.mktemp("cache"))
    os.environ["RECBOLE_SOFT_CACHE"] = str(path)
    return path


@pytest.fixture(scope="session")
def data_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("datasets")
    write_atomic_dataset(root, "tiny")
    return root


@pytest.fixture(scope="session")
def embedded_llm_folder(cache_dir, tmp_path_factory) -> Path:
    """The embedded SmolLM2-135M-Instruct, converted once into the session cache. Under pytest-xdist the workers
    share one conversion (most of a minute of CPU): one converts, the others wait, and each worker's cache links to it."""
    from filelock import FileLock

    from recbole_soft.llm.loading import EMBEDDED_LLM, resolve_llm_folder

    if "PYTEST_XDIST_WORKER" not in os.environ:
        return resolve_llm_folder(EMBEDDED_LLM, cache_dir)
    if os.environ.get("RECBOLE_SOFT_TEST_CACHE"):  # one lasting cache for every worker: converted into it, once
        with FileLock(cache_dir / "conversion.lock"):
            return resolve_llm_folder(EMBEDDED_LLM, cache_dir)
    shared = tmp_path_factory.getbasetemp().parent / "shared-cache"  # the session's folder above every worker's
    shared.mkdir(exist_ok=True)
    with FileLock(shared / "conversion.lock"):
        converted = resolve_llm_folder(EMBEDDED_LLM, shared)
    folder = cache_dir / "models" / EMBEDDED_LLM  # cache_dir is this worker's own: no other process links here
    folder.parent.mkdir(parents=True, exist_ok=True)
    folder.symlink_to(converted, target_is_directory=True)
    return folder


@pytest.fixture(scope="session")
def tiny_llm(tmp_path_factory, embedded_llm_folder) -> Path:
    """A 2-layer Llama with random weights and the embedded model's real tokenizer and chat template."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(embedded_llm_folder)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        initializer_range=0.2,  # spread-out logits, so a LoRA on attention can move the loss within a few steps
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-llama")
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture
def llm_config(data_root, tiny_llm, cache_dir, tmp_path) -> dict:
    """Settings for a plugin LLM model on the tiny dataset with the tiny Llama, small enough for seconds."""
    return {
        "data_path": str(data_root),
        "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
        "item_text_field": "title",
        "llm_path": str(tiny_llm),
        "llm_cache_dir": str(cache_dir),
        "checkpoint_dir": str(tmp_path / "saved"),
        "train_batch_size": 4,
        "train_sample_num": 16,
        "valid_sample_num": 8,
        "epochs": 1,
        "max_new_tokens": 8,
        "num_beams": 2,
        "learning_rate": 0.01,
        "show_progress": False,
        "state": "WARNING",
    }


@pytest.fixture
def build(llm_config):
    """build(model_name, **overrides) -> (config, train_data, valid_data, test_data, model) on the tiny dataset."""
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import init_seed

    from recbole_soft.config import Config
    from recbole_soft.registry import get_model

    def _build(model_name: str, **overrides):
        config = Config(model=model_name, dataset="tiny", config_dict={**llm_config, **overrides})
        init_seed(config["seed"], config["reproducibility"])
        train_data, valid_data, test_data = data_preparation(config, create_dataset(config))
        model = get_model(model_name)(config, train_data._dataset)
        return config, train_data, valid_data, test_data, model

    return _build


@pytest.fixture(scope="session")
def trained_checkpoint(data_root, tmp_path_factory):
    """trained_checkpoint("SASRec") -> the .pth of that RecBole-style model after one epoch on the tiny dataset,
    trained once per test session."""
    checkpoints = {}

    def _checkpoint(model: str) -> str:
        if model not in checkpoints:
            from recbole_soft import run_recbole_soft

            settings = {"data_path": str(data_root), "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
                        "checkpoint_dir": str(tmp_path_factory.mktemp(f"{model}-checkpoint")), "state": "WARNING",
                        "epochs": 1, "train_batch_size": 64, "show_progress": False}
            result = run_recbole_soft(model, "tiny", config_dict=settings, command_line=False)
            checkpoints[model] = result["result_file"].replace(".result.json", ".pth")
        return checkpoints[model]

    return _checkpoint
