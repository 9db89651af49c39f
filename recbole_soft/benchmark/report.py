"""The suite's results as files a person reads: a Markdown table, the same as CSV and JSON, and a bar chart."""
import csv
import json
import statistics
from pathlib import Path

from recbole_soft.benchmark.suite import is_run_file

METRICS = [f"{name}@{k}" for name in ("hit", "ndcg") for k in (1, 5, 10, 20)] + ["mrr@10"]
OPTIONAL_METRICS = ["pairwise_auc"]
COSTS = {"train_time_s": "train s", "eval_time_s": "eval s", "peak_memory_mb": "peak MB", "peak_gpu_memory_mb": "peak GPU MB"}
PLOTTED = {"hit@10": "Hit@10", "ndcg@10": "NDCG@10"}
# what an LLM said, so that collapse or hallucination shows in the table: its top-1 answers on the test users, and
# the raw-text answers of SOFT's self-distillation
ANSWERS = {
    "distinct_items": "distinct top-1",
    "in_history_share": "top-1 in history",
    "no_item_share": "top-1 no item",
    "distilled_no_item_share": "distilled no item",
}
# settings whose value may be a file of another row's run (a suite's from_row): the stage that makes that file is
# loaded instead of trained, so the run's train s leaves it out
LOADED_STAGE_KEYS = ("sft_adapter_path", "distill_dir")
# per row, the seeds whose cells the table marks (*, †, ‡): the CSV lists them
MARKED_SEEDS = ("resumed_seeds", "trained_earlier_seeds", "loaded_stage_seeds")


def summarise(label: str, model: str, results: dict[int, dict]) -> dict:
    """Mean and sample standard deviation over seeds of every metric and cost one model reported."""
    values = {column: [_value(result, column) for result in results.values()]
              for column in [*METRICS, *OPTIONAL_METRICS, *ANSWERS, *COSTS]}
    row = {"label": label, "model": model, "seeds": sorted(results), "mean": {}, "std": {}, "per_seed": {},
           "resumed_seeds": sorted(seed for seed, result in results.items() if result.get("resumed_time_s")),
           "trained_earlier_seeds": sorted(seed for seed, result in results.items() if result.get("trained_checkpoint")),
           "loaded_stage_seeds": sorted(seed for seed, result in results.items() if loaded_stages(result))}
    for column, column_values in values.items():
        present = [value for value in column_values if value is not None]
        if len(present) == len(column_values):
            row["mean"][column] = statistics.fmean(present)
            row["std"][column] = statistics.stdev(present) if len(present) > 1 else None
            row["per_seed"][column] = dict(zip(results, present))
    return row


def loaded_stages(result: dict) -> list[str]:
    """The settings of ``LOADED_STAGE_KEYS`` that the run took from another row's run instead of training."""
    config = result.get("plan", {}).get("config", {})
    return [key for key in LOADED_STAGE_KEYS if is_run_file(config.get(key))]


def _value(result: dict, column: str) -> float | None:
    if column == "distilled_no_item_share":
        value = _distilled_no_item_share(result.get("distillation"))
    elif column in ANSWERS:
        value = result.get("answers", {}).get(column)  # AnswerLog.summary() of the test pass
    else:
        value = result["test_result"].get(column) if column in METRICS + OPTIONAL_METRICS else result.get(column)
    return None if value is None else float(value)


def _distilled_no_item_share(distillation: dict | None) -> float | None:
    if not distillation or not distillation.get("answers"):
        return None
    return 1 - distillation["real_title"] / distillation["answers"]


def columns(rows: list[dict]) -> list[str]:
    """Every metric, plus the optional metric and costs that at least one model reported."""
    reported = {column for row in rows for column in row["mean"]}
    return METRICS + [column for column in [*OPTIONAL_METRICS, *ANSWERS, *COSTS] if column in reported]


def markdown_table(rows: list[dict]) -> str:
    shown = columns(rows)
    header = ["model", "seeds", *[heading(column) for column in shown]]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [row["label"], str(len(row["seeds"]))]
        cells += [cell(row, column) for column in shown]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def heading(column: str) -> str:
    return ANSWERS.get(column) or COSTS.get(column, column)


def digits(column: str) -> int:
    """Decimals the table prints: none for times, memory and counts of items, four for scores and shares."""
    return 0 if column in COSTS or column == "distinct_items" else 4


def cell(row: dict, column: str) -> str:
    """A row's mean (± sample std over seeds) as the table prints it; a dash where the model did not report it."""
    if column not in row["mean"]:
        return "–"
    text = f"{row['mean'][column]:.{digits(column)}f}"
    if row["std"][column] is not None:
        text += f" ± {row['std'][column]:.{digits(column)}f}"
    if column == "train_time_s" and row["resumed_seeds"]:
        text += "*"
    if column == "train_time_s" and row.get("loaded_stage_seeds"):
        text += "‡"
    if column in ("train_time_s", "peak_memory_mb", "peak_gpu_memory_mb") and row.get("trained_earlier_seeds"):
        text += "†"
    return text


def footnotes(rows: list[dict]) -> str:
    """What a marked cell means, below the table when one is marked."""
    notes = []
    if any(row["resumed_seeds"] for row in rows):
        notes.append("\\* resumed after an interruption: train s adds the time the interrupted run had spent up to its "
                     "last save, on a machine that may have been busier or idler then.")
    if any(row.get("trained_earlier_seeds") for row in rows):
        notes.append("† trained by the same row of another results folder with the same training settings "
                     "(its result's trained_checkpoint names the model) and tested here: train s is that training's, "
                     "peak memory the larger of the two runs'.")
    if any(row.get("loaded_stage_seeds") for row in rows):
        notes.append("‡ loaded a stage's output (an SFT adapter, a distilled set) from another row's run of the same "
                     "seed instead of training it again (the run's plan names it): train s counts only the stages it "
                     "ran; add that row's train s for the whole training.")
    return "".join(f"\n{note}\n" for note in notes)


def write_csv(rows: list[dict], path: Path) -> None:
    shown = columns(rows)
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["model", "recbole_model", "seeds", *MARKED_SEEDS,
                         *[f"{column}_{kind}" for column in shown for kind in ("mean", "std")]])
        for row in rows:
            marked = [" ".join(map(str, row.get(key, []))) for key in MARKED_SEEDS]
            cells = [row["label"], row["model"], " ".join(map(str, row["seeds"])), *marked]
            cells += [_csv_number(row[kind].get(column)) for column in shown for kind in ("mean", "std")]
            writer.writerow(cells)


def _csv_number(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def plot(rows: list[dict], path: Path, title: str) -> None:
    """Hit@10 and NDCG@10 per model, with the standard deviation over seeds as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    width = 0.8 / len(PLOTTED)
    figure, axes = plt.subplots(figsize=(max(6.0, 1.1 * len(rows)), 4.0))
    for offset, metric in enumerate(PLOTTED):
        positions = [index + (offset - (len(PLOTTED) - 1) / 2) * width for index in range(len(rows))]
        heights = [row["mean"].get(metric, 0.0) for row in rows]
        errors = [row["std"].get(metric) or 0.0 for row in rows]
        axes.bar(positions, heights, width, yerr=errors, capsize=3, label=PLOTTED[metric])
    axes.set_xticks(range(len(rows)), [row["label"] for row in rows], rotation=30, ha="right")
    axes.set_ylabel("test score (all items ranked)")
    axes.set_title(title)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def write_report(out: Path, title: str, rows: list[dict]) -> list[Path]:
    """table.md, table.csv, results.json and scores.png in ``out``; returns their paths."""
    paths = [out / "table.md", out / "table.csv", out / "results.json", out / "scores.png"]
    paths[0].write_text(f"# {title}\n\n" + markdown_table(rows) + footnotes(rows), encoding="utf-8")
    write_csv(rows, paths[1])
    paths[2].write_text(json.dumps(rows, indent=2), encoding="utf-8")
    plot(rows, paths[3], title)
    return paths
