"""CLCLMRec ("contrastive-learning-optimised data for LLM recommendation", Research Square preprint
10.21203/rs.3.rs-5304404/v1), a reconstruction from its abstract: the full text is not public.

Our reading of the abstract: two tuning phases on very few samples, TALLRec-style (instruction input = the
recommendation instruction and the user's history, instruction output = the next item's title):
1. instruction tuning on general instructions about the catalogue, built from the dataset's item file;
2. recommendation tuning on at most ``clclm_sample_num`` training samples that a self-attentive sequence encoder,
   trained by contrastive learning (CL4SRec), chooses so that they cover the space of user representations (one
   per k-means cluster), plus augmented views of their histories as extra inputs; the encoder's item embeddings
   enter every prompt through the hybrid item representation (LLaRA's projector).
"""
import torch
from recbole.data.interaction import Interaction

from recbole_soft.data import batch_indices
from recbole_soft.data.instructions import catalogue_instructions, item_facts
from recbole_soft.errors import InvalidSetting
from recbole_soft.llm.likelihood import encode_targets, target_cross_entropy
from recbole_soft.model.bigrec import BIGRec

INSTRUCTION_FIELD = "instruction_index"  # the field of phase 1's training rows: an index into ``instructions``
ENCODER_BATCH_SIZE = 2048  # rows per pass of the frozen encoder (a small SASRec: a few MB of activations per pass)


class CLCLMRec(BIGRec):
    """BIGRec's backbone on hybrid prompts, with the catalogue instructions of phase 1 and the encoder's sequence
    representations that choose phase 2's samples (``CLCLMRecTrainer`` runs both phases)."""

    def __init__(self, config, dataset):
        if config["item_representation"] != "hybrid":
            raise InvalidSetting(
                "CLCLMRec feeds its sequence encoder's item embeddings to the LLM: it needs item_representation=hybrid."
            )
        super().__init__(config, dataset)
        facts = item_facts(config, dataset)
        self.instructions = catalogue_instructions(
            facts, self.titles, config["item_domain"], config["clclm_instruction_num"], config["seed"]
        )

    def instruction_loss(self, interaction: Interaction) -> torch.Tensor:
        """Phase 1: the causal-LM loss of the instructions' answers, the instruction tokens masked."""
        pairs = [self.instructions[index] for index in interaction[INSTRUCTION_FIELD].tolist()]
        prompts = [self.prompter.instruction_prompt(instruction) for instruction, _ in pairs]
        batch = encode_targets(self.tokenizer, prompts, [answer for _, answer in pairs], self.device)
        return target_cross_entropy(self.llm, batch)

    @torch.no_grad()
    def sequence_representations(self, rows: Interaction) -> torch.Tensor:
        """The frozen encoder's representation of each row's history (its output at the last position), without
        dropout whatever mode the LLM model is in."""
        was_training = self.item_encoder.training
        self.item_encoder.eval()
        chunks = []
        for index in batch_indices(len(rows), ENCODER_BATCH_SIZE):
            part = rows[index].to(self.device)
            chunks.append(self.item_encoder.forward(part[self.ITEM_SEQ], part[self.ITEM_SEQ_LEN]).cpu())
        self.item_encoder.train(was_training)
        return torch.cat(chunks)
