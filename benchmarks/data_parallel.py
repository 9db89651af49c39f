"""Training and scoring throughput of one process against several (``accelerate launch``), on a real dataset.

    python benchmarks/data_parallel.py --dataset=ml-100k --out=results/data-parallel.jsonl
    accelerate launch --multi_gpu --num_processes 2 benchmarks/data_parallel.py --dataset=ml-100k --out=...

Times the plugin's own paths: ``LLMTrainer``'s training epoch over ``--train_batches`` batches of
``train_batch_size`` (each process takes its block of every batch, gradients are summed before each step) and
full-ranking scores of ``--users`` test users (beam search shared out by users). An untrained BIGRec is timed:
speed does not depend on the adapter's weights. The main process prints one JSON line and appends it to ``--out``.
Without CUDA, ``--multi_gpu`` starts CPU processes in a gloo group; each then computes with one thread.
"""
import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from recbole.data import create_dataset, data_preparation
from recbole.utils import init_seed

from recbole_soft.benchmark.environment import environment
from recbole_soft.config import Config
from recbole_soft.data import batch_indices, cap_train_data
from recbole_soft.distributed import is_main_process, process_count, wait_for_everyone
from recbole_soft.model.bigrec import BIGRec
from recbole_soft.quick_start import peak_memory_mb
from recbole_soft.trainer.llm_trainer import LLMTrainer


def timed(work) -> float:
    wait_for_everyone()  # every process starts the clock together
    start = time.perf_counter()
    work()
    wait_for_everyone()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--train_batches", type=int, default=8)
    parser.add_argument("--users", type=int, default=64)
    parser.add_argument("--config_files", nargs="*", default=[])
    parser.add_argument("--out", default=None, help="JSON-lines file the result is appended to")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        settings = {"checkpoint_dir": scratch, "show_progress": False, "state": "WARNING"}
        config = Config("BIGRec", args.dataset, args.config_files, settings, command_line=False)
        init_seed(config["seed"], config["reproducibility"])
        train_data, _, test_data = data_preparation(config, create_dataset(config))
        model = BIGRec(config, train_data._dataset).to(config["device"])
        trainer = LLMTrainer(config, model)
        samples = args.train_batches * config["train_batch_size"]
        train_data = cap_train_data(train_data, samples, config["seed"])
        train_s = timed(lambda: trainer._train_epoch(train_data, 0))

        model.eval()
        rows = test_data._dataset.inter_feat[torch.arange(args.users)]
        batches = batch_indices(args.users, config["eval_batch_size"])  # users per batch, as RecBole's sequential full sort
        with torch.no_grad():
            score_s = timed(lambda: [model.full_sort_predict(rows[index].to(model.device)) for index in batches])

    peak_mb = peak_memory_mb()
    if not is_main_process():
        return
    figures = {
        "dataset": args.dataset, "processes": process_count(), "threads_per_process": torch.get_num_threads(),
        "device": str(config["device"]), "train_samples": samples, "train_batch_size": config["train_batch_size"],
        "train_samples_per_s": round(samples / train_s, 3), "users": args.users,
        "users_per_s": round(args.users / score_s, 3), "ranking_beams": config["ranking_beams"],
        "peak_rss_mb_largest_process": round(peak_mb), "cpu": environment()["cpu"], "gpu": environment()["gpu"],
    }
    print(json.dumps(figures))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        with open(args.out, "a") as file:
            file.write(json.dumps(figures) + "\n")


if __name__ == "__main__":
    main()
