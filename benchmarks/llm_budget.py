"""What a training budget buys: each budget trains and tests one LLM model through the real entry point, in its own
process, and the learning curves and test metrics are put side by side.

    python benchmarks/llm_budget.py --out results/llm-budget \\
        --budget "q/v r8, 256x2" lora_target_modules=[q_proj,v_proj] train_sample_num=256 epochs=2 \\
        --budget "all linear r8, 1024x1" lora_target_modules=all-linear train_sample_num=1024 epochs=1

Every budget gets the same ``--common`` settings (default: BIGRec on ml-100k, history excluded, no prior). A budget
whose result file exists is not run again, so a killed run resumes with the next budget. Writes ``budget.md`` (the
table), ``learning_curves.csv`` and ``learning_curves.png`` (validation CE per title token against training samples
seen) to ``--out``.
"""
import argparse
import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
METRICS = ["hit@10", "ndcg@10"]
BACKBONE_DEFAULTS = ROOT / "recbole_soft" / "properties" / "model" / "LLMRecommender.yaml"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--common", nargs="*", default=["model=BIGRec", "dataset=ml-100k", "exclude_history=True"],
                        help="key=value settings of every budget")
    parser.add_argument("--budget", nargs="+", action="append", required=True, metavar=("NAME", "KEY=VALUE"),
                        help="a name, then the budget's own key=value settings")
    return parser.parse_args()


def folder_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower()


def run_budget(name: str, settings: list[str], common: list[str], out: Path) -> dict:
    """The result record of one budget, read back if it already ran."""
    folder = out / folder_name(name)
    found = sorted(folder.glob("*.result.json"))
    if not found:
        arguments = [f"--{pair}" for pair in [*common, *settings, f"checkpoint_dir={folder.name}"]]  # cwd: out
        print(f"[{name}] python run_recbole_soft.py {' '.join(arguments)}", flush=True)
        with open(out / f"{folder_name(name)}.log", "w") as log:
            subprocess.run([sys.executable, str(ROOT / "run_recbole_soft.py"), *arguments], cwd=out, stdout=log,
                           stderr=subprocess.STDOUT, check=True)
        found = sorted(folder.glob("*.result.json"))
    return json.loads(found[-1].read_text())


def curve_rows(name: str, result: dict, settings: list[str], common: list[str]) -> list[dict]:
    """One row per trained epoch, with the training samples seen so far (counted by the run, or for results
    recorded before the learning curve counted them, from the budget's settings)."""
    rows, seen = [], 0
    for row in result.get("learning_curve", []):
        seen += row.get("samples") or requested_samples(settings, common)
        rows.append({"budget": name, "stage": row["stage"], "epoch": row["epoch"], "samples_seen": seen,
                     "train_loss": row["train_loss"], "valid_ce_per_token": row.get("valid_score")})
    return rows


def requested_samples(settings: list[str], common: list[str]) -> int:
    values = dict(pair.split("=", 1) for pair in [*common, *settings])
    default = yaml.safe_load(BACKBONE_DEFAULTS.read_text(encoding="utf-8"))["train_sample_num"]
    return int(values.get("train_sample_num", default))


def table(results: dict[str, dict]) -> str:
    lines = ["| budget | " + " | ".join(f"test {m}" for m in METRICS) + " | best valid CE/token | train s | eval s | peak MB |",
             "|---" * (len(METRICS) + 5) + "|"]
    for name, result in results.items():
        metrics = " | ".join(f"{result['test_result'][m]:.4f}" for m in METRICS)
        lines.append(f"| {name} | {metrics} | {result['best_valid_score']:.4f} | {result['train_time_s']:.0f} | "
                     f"{result['eval_time_s']:.0f} | {result['peak_memory_mb']:.0f} |")
    return "\n".join(lines)


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 3.5))
    for name in dict.fromkeys(row["budget"] for row in rows):
        points = [row for row in rows if row["budget"] == name and row["valid_ce_per_token"] is not None]
        axis.plot([r["samples_seen"] for r in points], [r["valid_ce_per_token"] for r in points], "o-", label=name)
    axis.set_xlabel("training samples seen")
    axis.set_ylabel("validation CE per title token (nats)")
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main() -> None:
    args = parse_args()
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    results, rows = {}, []
    for name, *settings in args.budget:
        results[name] = run_budget(name, settings, args.common, args.out)
        rows += curve_rows(name, results[name], settings, args.common)
        print(table({name: results[name]}).splitlines()[-1], flush=True)
    report = f"Common settings: {' '.join(args.common)}\n\n{table(results)}\n"
    (args.out / "budget.md").write_text(report)
    with open(args.out / "learning_curves.csv", "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]) if rows else ["budget"])
        writer.writeheader()
        writer.writerows(rows)
    plot(rows, args.out / "learning_curves.png")
    print(report)


if __name__ == "__main__":
    main()
