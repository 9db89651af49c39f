"""Curriculum schedules: λ_e, the weight of the self-distilled targets in epoch e (1 = distilled only, 0 = real only).

SOFT's loss is ``(1 - λ_e)·CE(x, y) + λ_e·CE(x, ŷ)``. A schedule observes ``d_0`` (the untuned base model's mean
distance between its answers and the true items on a fixed probe set) and then ``d_k`` after each epoch k.
"""
import math
from abc import ABC, abstractmethod


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
    """SOFT's self-adaptive schedule: ``λ_e = min(exp(α·(d_{e-1}/d_0 - 1)), 1)``.

    λ_1 = 1 (pure self-distilled data); as the model's answers approach the truth, weight moves to the real data.
    """

    def __init__(self, alpha: float):
        super().__init__()
        if alpha < 0:
            raise ValueError(f"curriculum_alpha must be >= 0 (the paper tunes it over 100, 10, 1, 0.1); got {alpha}.")
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
    """A fixed decay from λ = 1 in the first epoch to λ = 0 in the last, whatever the distances."""

    def __init__(self, epochs: int):
        super().__init__()
        self.epochs = epochs

    def weight(self) -> float:
        return max(0.0, 1.0 - max(0, self.completed_epochs) / max(1, self.epochs - 1))


SCHEDULES = ("adaptive", "none", "linear")


def build_schedule(name: str, alpha: float, epochs: int) -> CurriculumSchedule:
    if name == "adaptive":
        return AdaptiveSchedule(alpha)
    if name == "none":
        return DistilledOnlySchedule()
    if name == "linear":
        return LinearSchedule(epochs)
    raise ValueError(f"curriculum='{name}' is not one of {', '.join(SCHEDULES)}.")
