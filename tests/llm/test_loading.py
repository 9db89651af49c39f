import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
from transformers import BertConfig, BertModel

from recbole_soft.llm.loading import (
    EMBEDDED_LLM,
    load_causal_lm,
    resolve_dtype,
    resolve_llm_folder,
    resolve_quantization,
)
from recbole_soft.llm.prompts import PromptBuilder
from recbole_soft.llm.generation import Decoding, TitleGenerator

CPU = torch.device("cpu")


def test_a_path_that_does_not_exist_is_refused_with_what_is_accepted(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither a Hugging Face model folder.*a .gguf file, a hub id.*SmolLM2"):
        resolve_llm_folder(str(tmp_path / "missing"), tmp_path)


def test_a_model_that_is_not_a_causal_lm_is_refused(tmp_path):
    BertModel(BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)).save_pretrained(
        tmp_path / "bert"
    )
    with pytest.raises(ValueError, match="model_type 'bert', architectures \['BertModel'\]\) is not a causal"):
        load_causal_lm(resolve_llm_folder(str(tmp_path / "bert"), tmp_path), "none", CPU)


def test_a_damaged_gguf_file_is_refused_and_leaves_no_folder_behind(tmp_path):
    damaged = tmp_path / "broken.gguf"
    damaged.write_bytes(b"GGUF" + b"\x00" * 64)
    with pytest.raises(ValueError, match="Could not read the GGUF file.*damaged or truncated"):
        resolve_llm_folder(str(damaged), tmp_path / "cache")
    assert not any((tmp_path / "cache").rglob("config.json"))


def test_auto_quantization_is_qlora_on_cuda_and_full_precision_on_cpu():
    assert resolve_quantization("auto", CPU) == "none"
    assert resolve_quantization("auto", torch.device("cuda")) == "nf4"


def test_bad_quantization_values_say_what_to_use():
    with pytest.raises(ValueError, match="quantization='fp4' is not one of auto, nf4, int8, none"):
        resolve_quantization("fp4", CPU)
    with pytest.raises(ValueError, match="int8' needs a CUDA device"):
        resolve_quantization("int8", CPU)


def test_4_bit_without_bitsandbytes_says_what_to_install(monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None if name == "bitsandbytes" else find_spec(name, *args))
    with pytest.raises(ModuleNotFoundError, match="quantization='nf4' needs bitsandbytes: pip install bitsandbytes"):
        resolve_quantization("nf4", torch.device("cuda"))


def test_nf4_on_cpu_warns_and_a_lora_step_runs(tiny_llm):
    from peft import get_peft_model

    from recbole_soft.llm.loading import lora_config

    with pytest.warns(UserWarning, match="nf4' on CPU works but"):
        mode = resolve_quantization("nf4", CPU)
    model, tokenizer = load_causal_lm(tiny_llm, mode, CPU)
    assert any("4bit" in type(module).__name__ for module in model.modules())
    model = get_peft_model(model, lora_config(4, 8, 0.0, ["q_proj", "v_proj"]))
    ids = tokenizer("Toy Story", return_tensors="pt").input_ids
    loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    assert all(p.grad is not None for n, p in model.named_parameters() if "lora_" in n)


def test_the_embedded_llm_loads_and_answers(embedded_llm_folder):
    model, tokenizer = load_causal_lm(resolve_llm_folder(EMBEDDED_LLM, embedded_llm_folder.parent.parent), "none", CPU)
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(134.5e6, rel=0.01)
    builder = PromptBuilder(tokenizer, [], "{history}", "", 0)
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}], tokenize=False, add_generation_prompt=True
    )
    assert builder.uses_chat_template
    [answer] = TitleGenerator(model, tokenizer, batch_size=1).generate([prompt], Decoding(1, max_new_tokens=12))
    assert "Paris" in answer


# Loads a hub id in a fresh process, so that huggingface_hub reads HF_HOME and HF_HUB_OFFLINE from the environment.
HUB_DRIVER = """
import json, sys
from recbole_soft.llm.loading import load_causal_lm, resolve_llm_folder
import torch
try:
    folder = resolve_llm_folder(sys.argv[1], None, sys.argv[2] if len(sys.argv) > 2 else None)
except FileNotFoundError as error:
    print(json.dumps({"error": str(error)})); sys.exit()
model, tokenizer = load_causal_lm(folder, "none", torch.device("cpu"))
print(json.dumps({"folder": str(folder), "layers": model.config.num_hidden_layers, "pad": tokenizer.pad_token}))
"""

REVISION = "0123456789abcdef0123456789abcdef01234567"


def load_from_hub(hf_home, *arguments) -> dict:
    environment = {**os.environ, "HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1"}
    environment.pop("HF_HUB_CACHE", None)
    process = subprocess.run([sys.executable, "-c", HUB_DRIVER, *arguments], env=environment, capture_output=True,
                             text=True)
    assert process.returncode == 0, process.stderr[-2000:]
    return json.loads(process.stdout.strip().splitlines()[-1])


@pytest.fixture
def hub_cache(tmp_path, tiny_llm):
    """The tiny Llama placed in the hub-cache layout under a fresh HF_HOME, as a download would leave it."""
    repository = tmp_path / "hf" / "hub" / "models--tiny-org--tiny-llama"
    shutil.copytree(tiny_llm, repository / "snapshots" / REVISION)
    (repository / "refs").mkdir()
    (repository / "refs" / "main").write_text(REVISION)
    return tmp_path / "hf"


def test_a_hub_id_loads_offline_from_the_hub_cache_at_its_revision(hub_cache):
    loaded = load_from_hub(hub_cache, "tiny-org/tiny-llama")
    assert loaded["layers"] == 2 and loaded["pad"]
    assert loaded["folder"].endswith(f"snapshots/{REVISION}")  # caches keyed by the folder follow the revision
    assert load_from_hub(hub_cache, "tiny-org/tiny-llama", REVISION)["folder"] == loaded["folder"]


def test_a_hub_id_missing_from_the_cache_offline_says_how_to_get_it(hub_cache):
    error = load_from_hub(hub_cache, "tiny-org/absent-model")["error"]
    assert "not in this machine's Hugging Face cache" in error and "HF_HUB_OFFLINE is set" in error
    assert "hf download tiny-org/absent-model" in error


def test_auto_dtype_is_bf16_on_cuda_and_float32_on_cpu():
    assert resolve_dtype("auto", torch.device("cuda")) == torch.bfloat16
    assert resolve_dtype("auto", CPU) == torch.float32
    assert resolve_dtype("bfloat16", CPU) == torch.bfloat16
