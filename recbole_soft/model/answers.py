"""What an LLM model actually answered during an evaluation: collapse onto a few items, answers that name no item,
and answers the user already had show here without reading logs."""
from dataclasses import dataclass, field

import torch


@dataclass
class AnswerLog:
    """Every top-1 answer of the current evaluation, with whether it names a real item and one the user had."""

    items: list[int | None] = field(default_factory=list)  # the answered item (the first with that title), or None
    in_history: list[bool] = field(default_factory=list)

    def record(self, answers: list[str], item_ids: dict[str, list[int]], histories: torch.Tensor, lengths: torch.Tensor) -> None:
        for answer, history, length in zip(answers, histories.cpu(), lengths.cpu().tolist()):
            named = item_ids.get(answer)
            self.items.append(named[0] if named else None)
            self.in_history.append(bool(named) and bool(set(named) & set(history[:length].tolist())))

    def clear(self) -> None:
        self.items.clear()
        self.in_history.clear()

    def summary(self) -> dict:
        """answers, distinct items answered, share that name no item, share already in the user's history."""
        total = len(self.items)
        if total == 0:
            return {"answers": 0}
        named = [item for item in self.items if item is not None]
        return {
            "answers": total,
            "distinct_items": len(set(named)),
            "no_item_share": round(1 - len(named) / total, 4),
            "in_history_share": round(sum(self.in_history) / total, 4),
        }
