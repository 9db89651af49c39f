"""Generating titles: batched beam search, optionally constrained to a trie of the catalogue's real titles (D3)."""
import torch
from transformers import PreTrainedTokenizerBase

from recbole_soft.llm.likelihood import prompt_ids, target_ids


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


@torch.no_grad()
def generate_titles(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[str],
    num_beams: int,
    max_new_tokens: int,
    batch_size: int,
    trie: TitleTrie | None = None,
    length_penalty: float = 1.0,
) -> list[str]:
    """The top beam's text for each prompt, stopped at end-of-sequence."""
    texts = []
    for start in range(0, len(prompts), batch_size):
        texts += _generate_batch(
            model, tokenizer, prompts[start : start + batch_size], num_beams, max_new_tokens, trie, length_penalty
        )
    return texts


def _generate_batch(model, tokenizer, prompts, num_beams, max_new_tokens, trie, length_penalty) -> list[str]:
    encoded = [prompt_ids(tokenizer, prompt) for prompt in prompts]
    width = max(len(ids) for ids in encoded)
    input_ids = torch.full((len(encoded), width), tokenizer.pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros_like(input_ids)
    for row, ids in enumerate(encoded):  # left padding: every prompt ends where generation starts
        input_ids[row, width - len(ids) :] = torch.tensor(ids)
        attention_mask[row, width - len(ids) :] = 1
    device = next(model.parameters()).device
    constraint = None
    if trie is not None:

        def constraint(_batch_id: int, sequence: torch.Tensor) -> list[int]:
            return trie.next_tokens(sequence[width:].tolist()) or [tokenizer.eos_token_id]

    beam_options = {"num_beams": num_beams, "length_penalty": length_penalty} if num_beams > 1 else {}
    output = model.generate(
        input_ids=input_ids.to(device),
        attention_mask=attention_mask.to(device),
        do_sample=False,
        max_new_tokens=max_new_tokens,
        prefix_allowed_tokens_fn=constraint,
        **beam_options,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return [text.strip() for text in tokenizer.batch_decode(output[:, width:], skip_special_tokens=True)]
