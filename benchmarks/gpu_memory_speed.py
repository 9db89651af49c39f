"""Peak memory and speed of the QLoRA path on real model shapes, with no download: randomly initialised models built
from the published configs (speed and memory do not depend on the weights) and the embedded model's tokenizer.

    python benchmarks/gpu_memory_speed.py --out results/gpu-memory-speed.json
    python benchmarks/gpu_memory_speed.py --shapes tiny --device cpu --steps 1 --users 4   # a CPU smoke run

Per shape and precision (NF4 QLoRA, bf16 LoRA): training tokens/s and peak GPU memory over ``--steps`` LoRA steps
(r 8 on q/v, AdamW, gradient checkpointing) at ``--batch`` × ``--tokens``; then full-ranking scoring users/s of ml-100k
test users through BIGRec with 1 and 4 trie-constrained beams (K = 0: one answer, grounded). Model FLOP/s counts
4·N per trained token (forward and the input-gradient backward of a frozen base; recomputation not counted) and
2·N per scored token, against the GPU's dense bf16 peak where known.
"""
import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

from recbole.data import create_dataset, data_preparation
from recbole.utils import init_seed

from recbole_soft.config import Config
from recbole_soft.llm.loading import EMBEDDED_LLM, cache_root, resolve_llm_folder
from recbole_soft.model.bigrec import BIGRec

# the published configs' shapes (vocabulary, widths, depths, heads), as in each model's config.json on the hub
SHAPES = {
    "llama-3.2-1b": (LlamaForCausalLM, LlamaConfig, dict(
        vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
        num_key_value_heads=8, tie_word_embeddings=True, rope_theta=500000.0)),
    "llama-3.2-3b": (LlamaForCausalLM, LlamaConfig, dict(
        vocab_size=128256, hidden_size=3072, intermediate_size=8192, num_hidden_layers=28, num_attention_heads=24,
        num_key_value_heads=8, tie_word_embeddings=True, rope_theta=500000.0)),
    "qwen2.5-1.5b": (Qwen2ForCausalLM, Qwen2Config, dict(
        vocab_size=151936, hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12,
        num_key_value_heads=2, tie_word_embeddings=True, rope_theta=1000000.0)),
    "tiny": (LlamaForCausalLM, LlamaConfig, dict(
        vocab_size=49152, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2)),
}
# dense bf16 tensor-core peaks from the vendors' data sheets, FLOP/s
PEAK_BF16 = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "L4": 121e12, "RTX 4090": 165e12,
             "RTX 3090": 71e12, "A10": 125e12}
PRECISIONS = {"nf4": "nf4", "bf16": "none"}  # name -> quantization setting (both compute in bf16 on CUDA)


def random_model_folder(shape: str, root: Path, tokenizer) -> Path:
    """A randomly initialised model of ``shape`` saved with the embedded tokenizer (its ids fit every vocabulary)."""
    folder = root / shape
    if (folder / "config.json").is_file():
        return folder
    model_class, config_class, sizes = SHAPES[shape]
    config = config_class(**sizes, max_position_embeddings=4096, bos_token_id=tokenizer.bos_token_id,
                          eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    with torch.device("cpu"):
        model_class(config).to(torch.bfloat16).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def peak_mb(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None


def build_bigrec(folder: Path, quantization: str, device: str, train_batch: int):
    overrides = {"llm_path": str(folder), "quantization": quantization, "gradient_checkpointing": True,
                 "use_gpu": device != "cpu", "train_batch_size": train_batch,
                 "ranking_beams": 0, "show_progress": False, "state": "WARNING"}
    config = Config(model="BIGRec", dataset="ml-100k", config_dict=overrides, command_line=False)
    init_seed(config["seed"], config["reproducibility"])
    _, _, test_data = data_preparation(config, create_dataset(config))
    return BIGRec(config, test_data._dataset).to(config["device"]), test_data


def training_speed(model: BIGRec, steps: int, batch: int, tokens: int) -> dict:
    """LoRA steps on random token batches of exactly ``batch`` × ``tokens`` (the first step warms up, untimed)."""
    device = model.device
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=1e-4)
    generator = torch.Generator().manual_seed(0)
    model.train()
    reset_peak(device)
    elapsed = 0.0
    for step in range(steps + 1):
        ids = torch.randint(0, len(model.tokenizer), (batch, tokens), generator=generator).to(device)
        synchronize(device)
        start = time.perf_counter()
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            loss = model.llm(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        synchronize(device)
        elapsed += (time.perf_counter() - start) if step else 0.0
    return {"train_tokens_per_s": steps * batch * tokens / elapsed, "train_peak_gpu_memory_mb": peak_mb(device)}


def scoring_speed(model: BIGRec, test_data, users: int, beams: int, parameters: int) -> dict:
    rows = test_data._dataset.inter_feat
    interaction = rows[torch.arange(min(users, len(rows)))].to(model.device)
    model.eval()
    model.decoding = replace(model.decoding, num_beams=beams)
    model.item_table()  # built once, not part of the per-user cost
    reset_peak(model.device)
    synchronize(model.device)
    start = time.perf_counter()
    with torch.no_grad():
        model.full_sort_predict(interaction)
    synchronize(model.device)
    seconds = time.perf_counter() - start
    prompt_tokens = sum(len(model.tokenizer(p).input_ids) for p in model.prompts(interaction))
    generated = len(interaction) * beams * model.decoding.max_new_tokens
    return {f"score_users_per_s_beams{beams}": len(interaction) / seconds,
            f"score_peak_gpu_memory_mb_beams{beams}": peak_mb(model.device),
            f"score_token_flops_per_s_beams{beams}": 2 * parameters * (prompt_tokens + generated) / seconds}


def model_parameters(model: BIGRec) -> int:
    """Parameters of the base model, counted as stored (4-bit weights hold two per byte)."""
    base = model.llm.get_base_model()
    return sum(p.numel() * (2 if p.dtype == torch.uint8 else 1) for p in base.parameters())


def gpu_peak_flops(device: torch.device) -> tuple[str, float | None]:
    if device.type != "cuda":
        return "cpu", None
    name = torch.cuda.get_device_name(device)
    return name, next((peak for key, peak in PEAK_BF16.items() if key in name), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", nargs="+", default=["llama-3.2-1b", "qwen2.5-1.5b", "llama-3.2-3b"], choices=SHAPES)
    parser.add_argument("--precisions", nargs="+", default=list(PRECISIONS), choices=PRECISIONS)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--users", type=int, default=256)
    parser.add_argument("--beams", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--model_dir", type=Path, default=None, help="where the random models are saved (default: temp)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    device = torch.device(args.device)
    gpu, peak = gpu_peak_flops(device)
    tokenizer = AutoTokenizer.from_pretrained(resolve_llm_folder(EMBEDDED_LLM, cache_root()))
    figures = {"gpu": gpu, "peak_bf16_flops": peak, "torch": torch.__version__, "batch": args.batch,
               "tokens": args.tokens, "runs": []}
    with tempfile.TemporaryDirectory() as scratch:
        root = args.model_dir or Path(scratch)
        for shape in args.shapes:
            folder = random_model_folder(shape, root, tokenizer)
            for precision in args.precisions:
                model, test_data = build_bigrec(folder, PRECISIONS[precision], args.device, args.batch)
                run = {"shape": shape, "precision": precision, "parameters": model_parameters(model),
                       **training_speed(model, args.steps, args.batch, args.tokens)}
                for beams in args.beams:
                    run.update(scoring_speed(model, test_data, args.users, beams, run["parameters"]))
                if peak:
                    run["train_flops_fraction"] = 4 * run["parameters"] * run["train_tokens_per_s"] / peak
                    for beams in args.beams:
                        run[f"score_flops_fraction_beams{beams}"] = run[f"score_token_flops_per_s_beams{beams}"] / peak
                figures["runs"].append(run)
                print(json.dumps(run), flush=True)
                del model
                if device.type == "cuda":
                    torch.cuda.empty_cache()
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
