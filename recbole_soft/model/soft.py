"""SOFT (Self-Optimized Fine-Tuning, Tang et al. 2025): a BIGRec backbone trained by the SOFTTrainer's three stages."""
import torch
from recbole.data.interaction import Interaction

from recbole_soft.llm.likelihood import encode_targets, target_cross_entropy
from recbole_soft.llm.prompts import prompt_key
from recbole_soft.model.bigrec import BIGRec


class SOFT(BIGRec):
    """BIGRec plus the curriculum loss over real and self-distilled targets.

    Stage 1 (SFT) trains with BIGRec's loss; stage 3 trains a fresh adapter with
    ``(1 - λ)·CE(x, y) + λ·CE(x, ŷ)``, where ŷ is the SFT model's own answer for prompt x (``distilled``).
    """

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.distilled: dict[str, str] = {}

    def distilled_titles(self, prompts: list[str]) -> list[str]:
        try:
            return [self.distilled[prompt_key(prompt)] for prompt in prompts]
        except KeyError:
            raise RuntimeError(
                "A training prompt has no self-distilled answer: the curriculum needs the distilled set of the same "
                "training samples (run the distillation stage first)."
            ) from None

    def curriculum_losses(
        self, interaction: Interaction, weight: float
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(mixed, CE real, CE distilled)``; a term whose weight is 0 is computed for logging only, without grad.

        SOFT's curriculum loss ``(1 - λ)·CE(x, y) + λ·CE(x, ŷ)`` (Tang et al. 2025, the self-adaptive curriculum;
        the official code's ``(1-epoch_lambda) * SFT_loss + epoch_lambda * ref_loss``): y is the real next title,
        ŷ the SFT model's own answer to the same prompt. Each CE is the mean over target tokens of its batch.
        """
        prompts = self.training_prompts(interaction)
        real = self._weighted_cross_entropy(prompts, self.target_titles(interaction), 1.0 - weight)
        distilled = self._weighted_cross_entropy(prompts, self.distilled_titles(self.prompts(interaction)), weight)
        return (1.0 - weight) * real + weight * distilled, real, distilled

    def _weighted_cross_entropy(self, prompts: list[str], targets: list[str], weight: float) -> torch.Tensor:
        batch = encode_targets(self.tokenizer, prompts, targets, self.device)
        with torch.set_grad_enabled(torch.is_grad_enabled() and weight > 0):
            return target_cross_entropy(self.llm, batch)
