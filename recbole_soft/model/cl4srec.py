"""CL4SRec (Xie et al., ICDE 2022): SASRec trained with next-item prediction plus contrastive learning between two
augmented views of each training sequence. CLCLMRec's self-supervised sequence encoder, and a RecBole model of its
own (``--model=CL4SRec``) for the classical side of a table or as the hybrid backbone's ``item_encoder``."""
import numpy as np
import torch
import torch.nn.functional as F
from recbole.model.sequential_recommender import SASRec
from torch import nn

from recbole_soft.data.augmentation import augmented_batch


def info_nce(first: torch.Tensor, second: torch.Tensor, temperature: float) -> torch.Tensor:
    """CL4SRec's contrastive loss (its Eq. 9, NT-Xent with in-batch negatives): for each of the 2N views, the other
    view of the same sequence is the positive and the 2N - 2 views of the other sequences are the negatives; the
    similarity is the dot product divided by the temperature."""
    views = torch.cat([first, second])
    similarity = views @ views.T / temperature
    similarity.fill_diagonal_(-torch.inf)  # a view is not its own positive or negative
    rows = first.size(0)
    positives = torch.cat([torch.arange(rows, 2 * rows), torch.arange(rows)]).to(views.device)
    return F.cross_entropy(similarity, positives)


class CL4SRec(SASRec):
    """SASRec whose loss is ``L_next-item + λ·L_cl`` (CL4SRec's Eq. 10), λ = ``cl_weight``; item id ``n_items`` is
    the mask item of the mask augmentation (an embedding row of its own, never ranked)."""

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        if self.loss_type != "CE":
            raise ValueError("CL4SRec trains with loss_type CE (its next-item loss is a softmax over all items).")
        self.mask_item = self.n_items
        self.item_embedding = nn.Embedding(self.n_items + 1, self.hidden_size, padding_idx=0)
        self.apply(self._init_weights)
        self.cl_weight, self.cl_temperature = config["cl_weight"], config["cl_temperature"]
        self.ratios = {"crop": config["cl_crop_ratio"], "mask": config["cl_mask_ratio"], "reorder": config["cl_reorder_ratio"]}
        self.views_rng = np.random.default_rng(config["seed"])

    def resumable_state(self) -> dict:
        """What a resumed run needs beyond the ``state_dict``: where the augmentations' generator stands."""
        return {"views_rng": self.views_rng.bit_generator.state}

    def restore_resumable_state(self, state: dict) -> None:
        self.views_rng.bit_generator.state = state["views_rng"]

    def item_scores(self, sequence_output: torch.Tensor) -> torch.Tensor:
        return sequence_output @ self.item_embedding.weight[: self.n_items].T

    def calculate_loss(self, interaction):
        item_seq, item_length = interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN]
        next_item = self.loss_fct(self.item_scores(self.forward(item_seq, item_length)), interaction[self.POS_ITEM_ID])
        first, second = (
            self.forward(*augmented_batch(item_seq, item_length, self.views_rng, self.mask_item, self.ratios))
            for _ in range(2)
        )
        return next_item + self.cl_weight * info_nce(first, second, self.cl_temperature)

    def full_sort_predict(self, interaction):
        return self.item_scores(self.forward(interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN]))
