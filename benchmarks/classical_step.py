"""Seconds and page faults per training step of a RecBole model, with glibc's allocator as the plugin sets it for
a classical model's run (freed memory kept for reuse) and as glibc leaves it (``RECBOLE_SOFT_KEEP_FREED_MEMORY=0``),
each in a process of its own.

    python benchmarks/classical_step.py --model=SASRec --dataset=ml-100k --steps=6 --out=step.json

The first step of each process (allocations made for the first time either way) is left out of the mean.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from recbole_soft.compat import KEEP_FREED_MEMORY, keep_freed_memory_for_reuse

SETTINGS = {"kept for reuse (the plugin's)": "1", "glibc's default": "0"}


def measure_steps(model_name: str, dataset: str, steps: int) -> dict:
    """Time ``steps`` training steps (loss, backward, optimiser step) of ``model_name`` in this process."""
    import torch
    from recbole.data import create_dataset, data_preparation
    from recbole.utils import init_seed

    from recbole_soft.benchmark.environment import environment
    from recbole_soft.config import Config
    from recbole_soft.registry import get_model

    keep_freed_memory_for_reuse()  # as a run of a classical model does (unless RECBOLE_SOFT_KEEP_FREED_MEMORY=0)
    config = Config(model=model_name, dataset=dataset, config_dict={"show_progress": False, "state": "WARNING"},
                    command_line=False)
    init_seed(config["seed"], config["reproducibility"])
    train_data, _, _ = data_preparation(config, create_dataset(config))
    model = get_model(model_name)(config, train_data._dataset)
    optimizer = torch.optim.Adam(model.parameters(), lr=config["learning_rate"])
    seconds, faults = [], []
    for _, batch in zip(range(steps), train_data):
        faults_before, start = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
        optimizer.zero_grad()
        model.calculate_loss(batch).backward()
        optimizer.step()
        seconds.append(time.perf_counter() - start)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults_before)
    machine = environment()
    return {"model": model_name, "dataset": dataset, "train_batch_size": config["train_batch_size"],
            "cpu": machine["cpu"], "torch_threads": machine["torch_threads"],
            "freed_memory_kept": machine["freed_memory_kept"], "step_s": seconds,
            "page_faults": faults, "mean_step_s_after_first": sum(seconds[1:]) / max(len(seconds) - 1, 1)}


def in_own_process(args: argparse.Namespace, keep: str) -> dict:
    """``measure_steps`` in a fresh process whose environment sets the allocator (``keep``: 1 kept, 0 glibc's)."""
    command = [sys.executable, __file__, f"--model={args.model}", f"--dataset={args.dataset}", f"--steps={args.steps}",
               "--in_process"]
    answer = subprocess.run(command, env={**os.environ, KEEP_FREED_MEMORY: keep}, capture_output=True, text=True,
                            check=True)
    return json.loads(answer.stdout.splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="SASRec")
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--out", type=Path, help="JSON file for the figures")
    parser.add_argument("--in_process", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.in_process:
        print(json.dumps(measure_steps(args.model, args.dataset, args.steps)))
        return
    figures = {name: in_own_process(args, keep) for name, keep in SETTINGS.items()}
    for name, run in figures.items():
        print(f"{args.model} on {args.dataset}, allocator {name}: {run['mean_step_s_after_first']:.2f} s per step "
              f"after the first, page faults per step {run['page_faults'][1:]}")
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
