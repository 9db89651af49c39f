"""BIGRec, the "Tuning-Only" baseline: supervised LoRA fine-tuning on the real next-item titles."""
import torch
from recbole.data.interaction import Interaction

from recbole_soft.model.llm_recommender import LLMRecommender


class BIGRec(LLMRecommender):
    """Bao et al.'s grounding paradigm: fine-tune to generate the next title, ground it to the nearest item."""

    def calculate_loss(self, interaction: Interaction) -> torch.Tensor:
        return self.real_target_loss(interaction)
