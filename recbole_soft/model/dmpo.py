"""DMPO (Bai et al., CIKM 2024): multi-negative direct preference optimisation on the BIGRec backbone."""
import torch
import torch.nn.functional as F
from recbole.data.interaction import Interaction

from recbole_soft.model.bigrec import BIGRec
from recbole_soft.llm.prompts import prompt_key


def dmpo_loss(
    policy: torch.Tensor, reference: torch.Tensor, positive_nll: torch.Tensor, beta: float, gamma: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """``-log σ(β·r(y_w) - (1/k)·Σ_j β·r(y_lj)) + γ·NLL(y_w)`` averaged over rows, and the per-row margins.

    DMPO's objective (Bai et al., CIKM 2024): DPO's log-sigmoid of the reward margin, with the negatives' rewards
    averaged over k negatives, plus the positive's negative log-likelihood weighted by γ (γ = 1 in the authors'
    code). ``policy`` and ``reference`` are ``[rows, 1 + k]`` summed title log-probabilities, column 0 the positive;
    ``r(y) = log π(y|x) - log π_ref(y|x)``. With k = 1 this is DPO plus the SFT term. Deliberate difference: the
    paper ranks candidate items pairwise; here the same objective trains next-title generation, so that DMPO is
    evaluated on the same full-ranking protocol as every other model.
    """
    rewards = policy - reference
    margins = beta * (rewards[:, 0] - rewards[:, 1:].mean(dim=1))
    return -F.logsigmoid(margins).mean() + gamma * positive_nll, margins


class DMPO(BIGRec):
    """BIGRec whose SFT adapter is then trained to prefer the real next title over k negative titles.

    The reference model is the frozen SFT adapter: its log-probabilities of every training row's candidates are
    computed once, before the preference stage, and kept in ``preference`` (no second copy of any weights).
    """

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.beta, self.gamma = config["dmpo_beta"], config["dmpo_gamma"]
        self.train_items = dataset.inter_feat[self.ITEM_ID]  # for popularity-weighted negatives
        self.preference: dict[tuple[str, int], tuple[torch.Tensor, torch.Tensor]] = {}

    def preference_keys(self, interaction: Interaction) -> list[tuple[str, int]]:
        return list(zip(map(prompt_key, self.prompts(interaction)), interaction[self.ITEM_ID].tolist()))

    def preference_loss(self, interaction: Interaction) -> tuple[torch.Tensor, torch.Tensor]:
        """The DMPO loss of a training batch and its per-row reward margins."""
        try:
            stored = [self.preference[key] for key in self.preference_keys(interaction)]
        except KeyError:
            raise RuntimeError(
                "A training row has no negatives and reference log-probabilities: the preference stage needs them "
                "for the same training samples (the DMPOTrainer builds them after SFT)."
            ) from None
        negatives = torch.stack([negative for negative, _ in stored])
        reference = torch.stack([logps for _, logps in stored]).to(self.device)
        policy, counts = self.candidate_log_probs(interaction, negatives)
        positive_nll = -policy[:, 0].sum() / counts[:, 0].sum()
        return dmpo_loss(policy, reference, positive_nll, self.beta, self.gamma)
