"""Generating titles: batched beam search, optionally constrained to a trie of the catalogue's real titles (D3)."""
from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase

from recbole_soft.llm.likelihood import prompt_ids, target_ids
from recbole_soft.llm.memory import in_batches


class TitleTrie:
    """Prefix tree over the token sequences of every item title (each ending in end-of-sequence)."""

    def __init__(self, sequences: list[list[int]]):
        self.root: dict = {}
        for sequence in sequences:
            node = self.root
            for token in sequence:
                node = node.setdefault(token, {})

    @classmethod
    def from_titles(cls, tokenizer: PreTrainedTokenizerBase, titles: list[str]) -> "TitleTrie":
        return cls([target_ids(tokenizer, title) for title in titles if title])

    def next_tokens(self, prefix: list[int]) -> list[int]:
        """Tokens that continue ``prefix`` towards a real title; empty once a title is complete or left."""
        node = self.root
        for token in prefix:
            node = node.get(token)
            if node is None:
                return []
        return list(node)


@dataclass(frozen=True)
class Decoding:
    """How titles are decoded: beam width, token budget, length normalisation, and the title trie if constrained.

    ``length_penalty`` 0 ranks beams by their summed log-probability, without length normalisation, as D3 does
    (Bao et al., "Decoding Matters", 2024): normalising favours long titles whose later tokens are near-certain.
    """

    num_beams: int
    max_new_tokens: int
    length_penalty: float = 1.0
    trie: TitleTrie | None = None


class TitleGenerator:
    """The one place where prompts are batched for generation: ``batch_size`` prompts at a time, halved (for the
    rest of the run) when a batch does not fit in GPU memory."""

    def __init__(self, model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, batch_size: int):
        self.model, self.tokenizer, self.batch_size = model, tokenizer, batch_size

    @torch.no_grad()
    def generate(self, prompts: list[str], decoding: Decoding, show_progress: bool = False) -> list[str]:
        """The top beam's text for each prompt, stopped at end-of-sequence."""
        titles, self.batch_size = in_batches(
            lambda batch: _generate_batch(self.model, self.tokenizer, batch, decoding),
            prompts,
            self.batch_size,
            "generating titles",
            show_progress,
        )
        return titles


def _generate_batch(model, tokenizer, prompts: list[str], decoding: Decoding) -> list[str]:
    encoded = [prompt_ids(tokenizer, prompt) for prompt in prompts]
    width = max(len(ids) for ids in encoded)
    input_ids = torch.full((len(encoded), width), tokenizer.pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros_like(input_ids)
    for row, ids in enumerate(encoded):  # left padding: every prompt ends where generation starts
        input_ids[row, width - len(ids) :] = torch.tensor(ids)
        attention_mask[row, width - len(ids) :] = 1
    device = next(model.parameters()).device
    constraint = None
    if decoding.trie is not None:
        trie = decoding.trie

        def constraint(_batch_id: int, sequence: torch.Tensor) -> list[int]:
            return trie.next_tokens(sequence[width:].tolist()) or [tokenizer.eos_token_id]

    beams = decoding.num_beams
    beam_options = {"num_beams": beams, "length_penalty": decoding.length_penalty} if beams > 1 else {}
    output = model.generate(
        input_ids=input_ids.to(device),
        attention_mask=attention_mask.to(device),
        do_sample=False,
        max_new_tokens=decoding.max_new_tokens,
        prefix_allowed_tokens_fn=constraint,
        **beam_options,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return [text.strip() for text in tokenizer.batch_decode(output[:, width:], skip_special_tokens=True)]
