"""Speed and memory of the LLM backbone on a real dataset: training samples/s, item-table time, scoring users/s
(with beams also while scoring each user's pairwise-AUC candidates from the beams' prompt encoding, as a test pass
does), and rows/s of teacher-forced candidate scoring in a pass of its own (DMPO's reference pass, the pairwise AUC
of a model without beams).

    python benchmarks/llm_speed.py --dataset=ml-100k --users=64 --train_batches=8

Prints one line per measurement and writes them as JSON (--out). Speed does not depend on the adapter's weights,
so an untrained BIGRec is timed.
"""
import argparse
import json
import platform
import resource
import time
from dataclasses import replace
from pathlib import Path

import torch
from recbole.data import create_dataset, data_preparation
from recbole.utils import init_seed

from recbole_soft.config import Config
from recbole_soft.data import batch_indices
from recbole_soft.data.negatives import uniform_sampler
from recbole_soft.llm.likelihood import shared_prompt_log_probs, whole_sequence_log_probs
from recbole_soft.model.bigrec import BIGRec
from recbole_soft.model.pairwise_auc import PairsScoredInPass


def timed(function):
    start = time.perf_counter()
    value = function()
    return value, time.perf_counter() - start


def first_users(test_data, count: int):
    rows = test_data._dataset.inter_feat
    return rows[torch.arange(min(count, len(rows)))]


def train_speed(model: BIGRec, train_data, batches: int) -> float:
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    model.train()
    samples, start = 0, time.perf_counter()
    for index, interaction in enumerate(train_data):
        if index == batches:
            break
        loss = model.calculate_loss(interaction.to(model.device))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        samples += len(interaction)
    return samples / (time.perf_counter() - start)


@torch.no_grad()
def candidate_scoring_speed(model: BIGRec, users, negatives_per_row: int) -> dict[str, float]:
    """Rows/s scoring the true next title and ``negatives_per_row`` uniform negatives per row: each prompt encoded
    once for its candidates (what the model does without gradients), and as whole prompt + title sequences (what a
    training step does)."""
    negatives = uniform_sampler(model.titles, 0).sample(users[model.ITEM_ID].tolist(), negatives_per_row)
    batches = batch_indices(len(users), model.rows_per_likelihood_pass(1 + negatives_per_row))

    def scored_by(scoring):
        for index in batches:
            rows = users[index]
            scoring(model.llm, model.tokenizer, model.prompts(rows), model.candidate_titles(rows, negatives[index]))

    _, shared_s = timed(lambda: scored_by(shared_prompt_log_probs))
    _, whole_s = timed(lambda: scored_by(whole_sequence_log_probs))
    key = f"candidate_rows_per_s_1_plus_{negatives_per_row}"
    return {f"{key}_prompt_once": len(users) / shared_s, f"{key}_whole_sequences": len(users) / whole_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--users", type=int, default=64, help="test users scored per decoding setting")
    parser.add_argument("--train_batches", type=int, default=8)
    parser.add_argument("--beams", type=int, nargs="+", default=[1, 4], help="beam widths of the one answer that K = 0 grounds")
    parser.add_argument("--ranking_beams", type=int, nargs="*", default=[10], help="K of the top-K trie beam ranking")
    parser.add_argument("--negatives", type=int, default=3, help="negatives per row of the candidate scoring (DMPO: 3)")
    parser.add_argument("--llm_path", default=None)
    parser.add_argument("--llm_dtype", default="auto", help="auto | float32 | bfloat16")
    parser.add_argument("--out", default=None, help="JSON file for the figures")
    args = parser.parse_args()

    overrides = {"show_progress": False, "state": "WARNING", "llm_dtype": args.llm_dtype}
    if args.llm_path:
        overrides["llm_path"] = args.llm_path
    config = Config(model="BIGRec", dataset=args.dataset, config_dict=overrides, command_line=False)
    init_seed(config["seed"], config["reproducibility"])
    train_data, _, test_data = data_preparation(config, create_dataset(config))
    model, load_s = timed(lambda: BIGRec(config, train_data._dataset))
    figures = {"dataset": args.dataset, "llm_path": config["llm_path"], "device": str(model.device),
               "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads",
               "precision": model.precision, "model_load_s": load_s}
    table, figures["item_table_s"] = timed(lambda: model.grounder.embed(model.titles))
    figures["items"] = len(model.titles) - 1
    model._item_table = table.to(model.device)
    figures["train_samples_per_s"] = train_speed(model, train_data, args.train_batches)
    model.eval()
    users = first_users(test_data, args.users).to(model.device)
    model.ranking_beams = 0
    for beams in args.beams:
        model.decoding = replace(model.decoding, num_beams=beams)
        _, seconds = timed(lambda: model.full_sort_predict(users))
        figures[f"score_users_per_s_beams{beams}"] = len(users) / seconds
    pairs_negatives = uniform_sampler(model.titles, 0).sample(users[model.ITEM_ID].tolist(), args.negatives)
    for k in args.ranking_beams:
        model.ranking_beams = k
        _, seconds = timed(lambda: model.full_sort_predict(users))
        figures[f"score_users_per_s_ranking_beams{k}"] = len(users) / seconds
        # a test pass with pairwise_auc_negatives: the pairs scored from the beams' prompt encoding
        pairs = PairsScoredInPass.of(users, pairs_negatives, model.USER_ID, model.ITEM_ID)
        with model.scoring_pairs(pairs):
            _, seconds = timed(lambda: model.full_sort_predict(users))
        assert pairs.auc() is not None, "the ranking did not score every user's pairs"
        figures[f"score_users_per_s_ranking_beams{k}_scoring_1_plus_{args.negatives}"] = len(users) / seconds
    figures.update(candidate_scoring_speed(model, users, args.negatives))
    figures["peak_memory_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if torch.cuda.is_available():
        figures["peak_gpu_memory_mb"] = torch.cuda.max_memory_allocated() / 2**20
    for key, value in figures.items():
        print(f"{key}: {value:.3f}" if isinstance(value, float) else f"{key}: {value}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
