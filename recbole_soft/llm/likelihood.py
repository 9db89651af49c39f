"""Log-likelihood of target titles given prompts: the quantity every LLM loss of the plugin is built from.

Prompt tokens are masked out: only the target title and its end-of-sequence token are scored.
"""
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from transformers import PreTrainedTokenizerBase

from recbole_soft.llm.hybrid import HybridPrompt

IGNORE_INDEX = -100


def prompt_ids(tokenizer: PreTrainedTokenizerBase, prompt: str) -> list[int]:
    """The prompt's token ids; a hybrid prompt's placeholders become its items' tokens."""
    # A chat-templated prompt already holds its special tokens; a plain one gets the tokenizer's (e.g. BOS).
    ids = tokenizer(prompt, add_special_tokens=tokenizer.chat_template is None).input_ids
    return prompt.token_ids(ids) if isinstance(prompt, HybridPrompt) else ids


def target_ids(tokenizer: PreTrainedTokenizerBase, title: str) -> list[int]:
    """A title as the model must produce it: its tokens, then end-of-sequence."""
    return tokenizer(title, add_special_tokens=False).input_ids + [tokenizer.eos_token_id]


@dataclass
class TargetBatch:
    """Left-padded ``prompt + target`` rows: every target ends at the last position, so logits are kept for the
    last ``target_width`` positions only (the LM head over prompt tokens is a fifth of a small model's compute)."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor  # IGNORE_INDEX on prompt and padding
    target_width: int

    @property
    def position_ids(self) -> torch.Tensor:
        # positions count real tokens only, as in generation from left-padded prompts
        return (self.attention_mask.cumsum(dim=1) - 1).clamp(min=0)


def encode_targets(
    tokenizer: PreTrainedTokenizerBase, prompts: list[str], targets: list[str], device: torch.device
) -> TargetBatch:
    """Left-padded ``prompt + target`` sequences whose labels keep the target tokens only."""
    rows = []
    for prompt, target in zip(prompts, targets):
        prefix, answer = prompt_ids(tokenizer, prompt), target_ids(tokenizer, target)
        rows.append((prefix + answer, [IGNORE_INDEX] * len(prefix) + answer, len(answer)))
    width = max(len(ids) for ids, _, _ in rows)
    input_ids = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for row, (ids, row_labels, _) in enumerate(rows):
        input_ids[row, width - len(ids) :] = torch.tensor(ids)
        labels[row, width - len(ids) :] = torch.tensor(row_labels)
        attention_mask[row, width - len(ids) :] = 1
    target_width = max(length for _, _, length in rows)
    return TargetBatch(input_ids.to(device), attention_mask.to(device), labels.to(device), target_width)


def target_log_probs(model: torch.nn.Module, batch: TargetBatch) -> tuple[torch.Tensor, torch.Tensor]:
    """Per sample: the summed log-probability of its target tokens, and how many target tokens it has."""
    # logits at position t predict token t + 1: the last target_width + 1 positions predict every target token
    kept = batch.target_width + 1
    logits = model(
        input_ids=batch.input_ids,
        attention_mask=batch.attention_mask,
        position_ids=batch.position_ids,
        logits_to_keep=kept,
    ).logits[:, :-1]
    labels = batch.labels[:, -batch.target_width :]
    token_nll = F.cross_entropy(
        logits.float().reshape(-1, logits.size(-1)), labels.reshape(-1), ignore_index=IGNORE_INDEX, reduction="none"
    ).view(labels.shape)
    return -token_nll.sum(dim=1), (labels != IGNORE_INDEX).sum(dim=1)


def target_cross_entropy(model: torch.nn.Module, batch: TargetBatch) -> torch.Tensor:
    """Mean cross-entropy over all target tokens of the batch: BIGRec's fine-tuning loss (the causal-LM loss on the
    response only, as in its Alpaca-style training code) and SOFT's CE(x, y)."""
    log_probs, counts = target_log_probs(model, batch)
    return -log_probs.sum() / counts.sum()
