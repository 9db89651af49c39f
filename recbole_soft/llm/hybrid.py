"""Hybrid prompts (LLaRA, Liao et al. SIGIR 2024): each history item is its title followed by a placeholder token whose
input embedding is a trainable projection of the item's vector from a frozen sequential recommender.

The placeholder is one added special token. When a hybrid prompt is tokenized, each placeholder's id is replaced by
``offset + item id``: an id past the vocabulary that names its item. ``HybridEmbedding``, installed as the LLM's input
embedding, embeds ordinary ids with the LLM's own table and those ids with the projector. So every path that feeds
token ids to the LLM (teacher-forced likelihood, generation, the trie beam search with its shared KV cache) carries
the collaborative vectors without knowing about them, which is what ``inputs_embeds`` would do at every call site.
"""
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import PreTrainedTokenizerBase

from recbole_soft.errors import MissingInput

ITEM_PLACEHOLDER = "<|item_vector|>"
PROJECTOR_FILE = "item_projector.safetensors"  # in an adapter folder: the projector and the frozen item vectors


class HybridPrompt(str):
    """A prompt text whose placeholder tokens stand, in order, for ``item_tokens`` (ids past the vocabulary)."""

    item_tokens: tuple[int, ...]
    placeholder_token: int

    def __new__(cls, text: str, placeholder_token: int, item_tokens: list[int]):
        prompt = super().__new__(cls, text)
        prompt.placeholder_token, prompt.item_tokens = placeholder_token, tuple(item_tokens)
        return prompt

    def token_ids(self, tokenized: list[int]) -> list[int]:
        """``tokenized`` (this text's token ids) with each placeholder replaced by its item's token."""
        items = iter(self.item_tokens)
        ids = [next(items) if token == self.placeholder_token else token for token in tokenized]
        if next(items, None) is not None:
            raise ValueError("A hybrid prompt has fewer placeholder tokens than items: its text was cut or rewritten.")
        return ids


def add_placeholder_token(tokenizer: PreTrainedTokenizerBase) -> int:
    """The placeholder's id, added to ``tokenizer`` as a special token (never split, never fed to the LLM as is)."""
    tokenizer.add_tokens([ITEM_PLACEHOLDER], special_tokens=True)
    return tokenizer.convert_tokens_to_ids(ITEM_PLACEHOLDER)


class ItemProjector(nn.Module):
    """LLaRA's projector: a two-layer MLP from the recommender's item space to the LLM's embedding width."""

    def __init__(self, item_dim: int, llm_dim: int):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(item_dim, llm_dim), nn.GELU(), nn.Linear(llm_dim, llm_dim))

    def forward(self, vectors: torch.Tensor) -> torch.Tensor:
        return self.layers(vectors)

    def reset_parameters(self) -> None:
        for layer in self.layers:
            if isinstance(layer, nn.Linear):
                layer.reset_parameters()


class HybridEmbedding(nn.Module):
    """The LLM's token embedding, extended: id ``offset + i`` embeds item i as ``projector(item_vectors[i])``."""

    def __init__(self, tokens: nn.Embedding, item_vectors: torch.Tensor, offset: int):
        super().__init__()
        self.tokens, self.offset = tokens, offset
        self.register_buffer("item_vectors", item_vectors.detach().float().clone())
        self.projector = ItemProjector(item_vectors.size(1), tokens.embedding_dim).to(tokens.weight.device)

    @property
    def weight(self) -> torch.Tensor:
        """The token table, for code that reads the input embedding's weight (e.g. tied output embeddings)."""
        return self.tokens.weight

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        is_item = input_ids >= self.offset
        embeds = self.tokens(input_ids.masked_fill(is_item, 0))
        if not is_item.any():
            return embeds
        projected = self.projector(self.item_vectors[input_ids[is_item] - self.offset]).to(embeds.dtype)
        return embeds.masked_scatter(is_item.unsqueeze(-1), projected)

    def trained_state(self) -> dict[str, torch.Tensor]:
        """What an adapter keeps of this embedding: the projector and the item vectors it was trained with (not the
        LLM's own token table)."""
        return {name: value for name, value in self.state_dict().items() if not name.startswith("tokens.")}

    def load_trained_state(self, state: dict[str, torch.Tensor]) -> None:
        state = dict(state)
        self.item_vectors = state.pop("item_vectors").to(self.item_vectors.device)
        self.projector.load_state_dict({name.removeprefix("projector."): value for name, value in state.items()})

    def save(self, folder: Path) -> None:
        state = {name: value.detach().cpu().contiguous() for name, value in self.trained_state().items()}
        save_file(state, str(Path(folder) / PROJECTOR_FILE))

    def load(self, folder: Path) -> None:
        """The projector and the item vectors it was trained with, from an adapter folder."""
        file = Path(folder) / PROJECTOR_FILE
        if not file.is_file():
            raise MissingInput(
                f"The adapter at {folder} has no {PROJECTOR_FILE}: it was trained with item_representation=text. "
                f"Load it with item_representation=text, or train a hybrid adapter."
            )
        self.load_trained_state(load_file(str(file), device=str(self.item_vectors.device)))


def install_hybrid_embedding(model: nn.Module, item_vectors: torch.Tensor, offset: int) -> HybridEmbedding:
    """Replace ``model``'s input embedding by a ``HybridEmbedding`` (the projector trainable, the rest frozen)."""
    hybrid = HybridEmbedding(model.get_input_embeddings(), item_vectors, offset)
    model.set_input_embeddings(hybrid)
    hybrid.projector.requires_grad_(True)
    return hybrid
