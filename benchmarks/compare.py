"""Run several models on one dataset, each in its own process, and tabulate their result files.

    python benchmarks/compare.py --dataset=ml-100k --out=results/ml-100k-cpu \
        --runs SASRec:SASRec:epochs=5 BIGRec:BIGRec "SOFT w/o SA:SOFT:curriculum=none"

A run is LABEL:MODEL[:key=value,...]; the overrides are passed as --key=value. Each run writes its RecBole result
JSON under OUT/<label>/ (an existing one is kept, so a stopped comparison resumes), and OUT/table.md gathers them.
"""
import argparse
import json
import subprocess
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
COLUMNS = ["hit@10", "ndcg@10", "mrr@10", "hit@20", "ndcg@20"]


def run_folder(out: Path, label: str) -> Path:
    return out / label.replace(" ", "_").replace("/", "-")


def run_model(dataset: str, out: Path, spec: str) -> Path:
    label, model, *rest = spec.split(":")
    folder = run_folder(out, label)
    done = sorted(folder.glob("*.result.json"))
    if done:
        print(f"{label}: already done ({done[-1]})")
        return done[-1]
    overrides = [f"--{pair}" for pair in rest[0].split(",")] if rest else []
    command = [sys.executable, str(REPOSITORY / "run_recbole_soft.py"), f"--model={model}", f"--dataset={dataset}",
               f"--checkpoint_dir={folder}", "--show_progress=False", *overrides]
    print(f"{label}: {' '.join(command)}", flush=True)
    subprocess.run(command, check=True, cwd=REPOSITORY)
    return sorted(folder.glob("*.result.json"))[-1]


def table(rows: list[tuple[str, dict]]) -> str:
    header = ["model", *COLUMNS, "train s", "eval s", "peak MB"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, result in rows:
        metrics = [f"{result['test_result'][column]:.4f}" for column in COLUMNS]
        cost = [f"{result['train_time_s']:.0f}", f"{result['eval_time_s']:.0f}", f"{result['peak_memory_mb']:.0f}"]
        lines.append("| " + " | ".join([label, *metrics, *cost]) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--out", required=True)
    parser.add_argument("--runs", nargs="+", required=True, help="LABEL:MODEL[:key=value,...]")
    args = parser.parse_args()
    out = Path(args.out)
    rows = [(spec.split(":")[0], json.loads(run_model(args.dataset, out, spec).read_text())) for spec in args.runs]
    (out / "table.md").write_text(table(rows))
    print(table(rows))


if __name__ == "__main__":
    main()
