"""Log-likelihood of target titles given prompts: the quantity every LLM loss of the plugin is built from.

Prompt tokens are masked out: only the target title and its end-of-sequence token are scored.
"""
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from transformers import PreTrainedTokenizerBase

from recbole_soft.compat import forked_kv_cache, kv_cache_keyword, kv_cache_of
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


def left_padded_prompts(tokenizer: PreTrainedTokenizerBase, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """``input_ids`` and ``attention_mask`` with left padding: every prompt ends at the last position, where its
    answer starts."""
    encoded = [prompt_ids(tokenizer, prompt) for prompt in prompts]
    width = max(len(ids) for ids in encoded)
    input_ids = torch.full((len(encoded), width), tokenizer.pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros_like(input_ids)
    for row, ids in enumerate(encoded):
        input_ids[row, width - len(ids) :] = torch.tensor(ids)
        attention_mask[row, width - len(ids) :] = 1
    return input_ids, attention_mask


def real_token_positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position ids that count real tokens only, as in generation from left-padded prompts."""
    return (attention_mask.cumsum(dim=1) - 1).clamp(min=0)


@dataclass
class EncodedPrompts:
    """Prompts run through the model once, ready for their answers' tokens."""

    next_logits: torch.Tensor  # [prompts, vocabulary]: the distribution of each answer's first token
    cache: object  # the prompts' KV cache (transformers' Cache)
    attention_mask: torch.Tensor  # [prompts, width], left-padded
    next_position: torch.Tensor  # [prompts]: the position id of each answer's first token

    def select(self, rows: torch.Tensor) -> "EncodedPrompts":
        """The encoding of the prompts ``rows`` alone, to score answers after while this one stays as it is (its
        cache is not copied: selecting builds new tensors)."""
        cache = forked_kv_cache(self.cache)
        cache.reorder_cache(rows)
        return EncodedPrompts(self.next_logits[rows], cache, self.attention_mask[rows], self.next_position[rows])


def encode_prompts(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, prompts: list[str]) -> EncodedPrompts:
    """One forward pass over the left-padded prompts, keeping their KV cache and only the last position's logits."""
    device = next(model.parameters()).device
    input_ids, attention_mask = (tensor.to(device) for tensor in left_padded_prompts(tokenizer, prompts))
    positions = real_token_positions(attention_mask)
    output = model(
        input_ids=input_ids, attention_mask=attention_mask, position_ids=positions, use_cache=True, logits_to_keep=1
    )
    return EncodedPrompts(output.logits[:, -1], kv_cache_of(output), attention_mask, positions[:, -1] + 1)


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
        return real_token_positions(self.attention_mask)


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
    return summed_log_probs(logits, batch.labels[:, -batch.target_width :])


def summed_log_probs(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row: the summed log-probability of its labelled tokens under ``logits`` (``[rows, width, vocabulary]``,
    position j predicting ``labels[:, j]``; IGNORE_INDEX not scored), and how many labelled tokens it has."""
    token_nll = F.cross_entropy(
        logits.float().reshape(-1, logits.size(-1)), labels.reshape(-1), ignore_index=IGNORE_INDEX, reduction="none"
    ).view(labels.shape)
    return -token_nll.sum(dim=1), (labels != IGNORE_INDEX).sum(dim=1)


def target_cross_entropy(model: torch.nn.Module, batch: TargetBatch) -> torch.Tensor:
    """Mean cross-entropy over all target tokens of the batch: BIGRec's fine-tuning loss (the causal-LM loss on the
    response only, as in its Alpaca-style training code) and SOFT's CE(x, y)."""
    log_probs, counts = target_log_probs(model, batch)
    return -log_probs.sum() / counts.sum()


def whole_sequence_log_probs(
    model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, prompts: list[str], targets: list[list[str]]
) -> tuple[torch.Tensor, torch.Tensor]:
    """``target_log_probs`` of every ``prompt + target`` pair, ``[prompts, targets per prompt]``, each pair one
    sequence: what a training step scores (its dropout and gradient checkpointing do not go with a shared cache)."""
    per_prompt = len(targets[0])
    repeated = [prompt for prompt in prompts for _ in range(per_prompt)]
    batch = encode_targets(tokenizer, repeated, [target for row in targets for target in row], next(model.parameters()).device)
    log_probs, counts = target_log_probs(model, batch)
    return log_probs.view(-1, per_prompt), counts.view(-1, per_prompt)


@torch.no_grad()
def shared_prompt_log_probs(
    model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, prompts: list[str], targets: list[list[str]]
) -> tuple[torch.Tensor, torch.Tensor]:
    """``whole_sequence_log_probs`` with each prompt encoded once: its KV cache is copied to its targets, so scoring
    k titles after a prompt of ~200 tokens costs about one prompt instead of k (pairwise AUC, DMPO's reference)."""
    return log_probs_after(model, tokenizer, encode_prompts(model, tokenizer, prompts), targets)


@torch.no_grad()
def log_probs_after(
    model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, encoded: EncodedPrompts, targets: list[list[str]]
) -> tuple[torch.Tensor, torch.Tensor]:
    """``shared_prompt_log_probs`` after prompts encoded already; ``encoded`` is used up (its cache is reordered):
    pass ``encoded.select(rows)`` to keep it for other answers."""
    per_prompt = len(targets[0])
    device = encoded.next_logits.device
    owner = torch.arange(len(targets), device=device).repeat_interleave(per_prompt)
    encoded.cache.reorder_cache(owner)
    answers = [target_ids(tokenizer, target) for row in targets for target in row]
    width = max(len(ids) for ids in answers)
    answer_ids = torch.full((len(answers), width), tokenizer.pad_token_id, dtype=torch.long)
    labels = torch.full((len(answers), width), IGNORE_INDEX, dtype=torch.long)
    for row, ids in enumerate(answers):  # right-padded: the padding comes after every real token and is never seen
        answer_ids[row, : len(ids)] = labels[row, : len(ids)] = torch.tensor(ids)
    answer_ids, labels = answer_ids.to(device), labels.to(device)
    logits = model(
        input_ids=answer_ids,
        attention_mask=torch.cat([encoded.attention_mask[owner], (labels != IGNORE_INDEX).long()], dim=1),
        position_ids=encoded.next_position[owner, None] + torch.arange(width, device=device),
        use_cache=True,
        **{kv_cache_keyword(model): encoded.cache},
    ).logits
    # an answer's first token is predicted after the prompt, token j at the answer's position j - 1
    log_probs, counts = summed_log_probs(torch.cat([encoded.next_logits[owner, None], logits[:, :-1]], dim=1), labels)
    return log_probs.view(-1, per_prompt), counts.view(-1, per_prompt)
