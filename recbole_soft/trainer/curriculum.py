"""SOFT's curriculum: the schedule of λ_e, the weight of the self-distilled targets in epoch e (1 = distilled only,
0 = real only), and the curve of λ and d that a run writes beside its adapter.

The curriculum loss of epoch e is ``(1 - λ_e)·CE(x, y) + λ_e·CE(x, ŷ)`` (SOFT, Tang et al. 2025, the self-adaptive
curriculum; in the official code ``(1-epoch_lambda) * SFT_loss + epoch_lambda * ref_loss``). A schedule observes
``d_0``, the untuned base model's mean distance between its answers and the true items on a fixed probe set, then
``d_k`` after each epoch k.

Also here, as the other schedule of a training run: LLaRA's curriculum over hybrid prompts (``hybrid_share``).
"""
import csv
import math
from abc import ABC, abstractmethod
from pathlib import Path

from recbole_soft.errors import InvalidSetting
from recbole_soft.settings import SCHEDULES


class CurriculumSchedule(ABC):
    """The formula and its state (the observed distances), nothing else."""

    def __init__(self):
        self.distances: list[float] = []

    def observe(self, distance: float) -> None:
        """Record ``d_0`` first, then ``d_k`` after each epoch."""
        self.distances.append(distance)

    @property
    def completed_epochs(self) -> int:
        return len(self.distances) - 1

    @abstractmethod
    def weight(self) -> float:
        """λ for the next epoch."""

    def state_dict(self) -> dict:
        return {"distances": list(self.distances)}

    def load_state_dict(self, state: dict) -> None:
        self.distances = list(state["distances"])


class AdaptiveSchedule(CurriculumSchedule):
    """SOFT's self-adaptive scheduler: ``λ_e = min(exp(α·(d_{e-1}/d_0 - 1)), 1)``.

    Before the first epoch d = d_0, so λ_1 = 1 (pure self-distilled data); as the model's answers come closer to the
    true items than the base model's were (d_{e-1} < d_0), weight moves to the real data, faster for larger α.
    The official code computes ``min(math.e ** (alpha * (dist/dist_origin-1)), 1)`` the same way.
    """

    def __init__(self, alpha: float):
        super().__init__()
        if alpha < 0:
            raise InvalidSetting(f"curriculum_alpha must be >= 0 (the paper tunes it over 100, 10, 1, 0.1); got {alpha}.")
        self.alpha = alpha

    def weight(self) -> float:
        if not self.distances:
            raise RuntimeError("The adaptive schedule needs d_0 (observe the base model's distance) before training.")
        ratio = self.distances[-1] / self.distances[0] if self.distances[0] > 0 else 1.0
        return min(math.exp(self.alpha * (ratio - 1.0)), 1.0)


class DistilledOnlySchedule(CurriculumSchedule):
    """λ ≡ 1: the paper's "SOFT w/o SA" ablation, trained on the self-distilled targets only."""

    def weight(self) -> float:
        return 1.0


class LinearSchedule(CurriculumSchedule):
    """Not in the paper: a fixed decay from λ = 1 in the first epoch to λ = 0 in the last, whatever the distances."""

    def __init__(self, epochs: int):
        super().__init__()
        self.epochs = epochs

    def weight(self) -> float:
        return max(0.0, 1.0 - max(0, self.completed_epochs) / max(1, self.epochs - 1))


def build_schedule(name: str, alpha: float, epochs: int) -> CurriculumSchedule:
    if name == "adaptive":
        return AdaptiveSchedule(alpha)
    if name == "none":
        return DistilledOnlySchedule()
    if name == "linear":
        return LinearSchedule(epochs)
    raise InvalidSetting(f"curriculum='{name}' is not one of {', '.join(SCHEDULES)}.")


class CurriculumCurve:
    """One row per epoch (epoch 0 = the base model): λ, the probe distance d, both CE terms and the valid score."""

    COLUMNS = ["epoch", "lambda", "distance", "ce_real", "ce_distilled", "valid_score"]

    def __init__(self, rows: list[dict] | None = None):
        self.rows: list[dict] = rows or []

    def add(self, **row) -> None:
        self.rows.append(row)

    @staticmethod
    def files(stem: Path) -> list[Path]:
        """The table and the plot ``write`` makes."""
        return [stem.with_suffix(".csv"), stem.with_suffix(".png")]

    def write(self, stem: Path, title: str) -> None:
        """``<stem>.csv`` and ``<stem>.png``."""
        stem.parent.mkdir(parents=True, exist_ok=True)
        table, plot = self.files(stem)
        with open(table, "w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=self.COLUMNS)
            writer.writeheader()
            writer.writerows({column: row.get(column) for column in self.COLUMNS} for row in self.rows)
        self._plot(plot, title)

    def _plot(self, path: Path, title: str) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, distance_axis = plt.subplots(figsize=(6, 3.5))
        epochs = [row["epoch"] for row in self.rows]
        distance_axis.plot(epochs, [row["distance"] for row in self.rows], "o-", color="tab:blue", label="d (probe)")
        distance_axis.set_xticks(epochs)
        distance_axis.set_xlabel("curriculum epoch (0 = base model)")
        distance_axis.set_ylabel("mean L2 distance d", color="tab:blue")
        weight_axis = distance_axis.twinx()
        trained = [row for row in self.rows if row["lambda"] is not None]
        weight_axis.plot([r["epoch"] for r in trained], [r["lambda"] for r in trained], "s--", color="tab:red")
        weight_axis.set_ylabel("λ (weight of distilled data)", color="tab:red")
        weight_axis.set_ylim(-0.05, 1.05)
        distance_axis.set_title(title)
        figure.tight_layout()
        figure.savefig(path, dpi=120)
        plt.close(figure)


def hybrid_share(step: int, total_steps: int) -> float:
    """LLaRA's curriculum (Liao et al. 2024): the probability that a training prompt is hybrid rises linearly from 0
    at the first step to 1 at the last, so the LLM first learns the task from titles, then to read the item vectors."""
    return min(1.0, step / max(1, total_steps - 1))
