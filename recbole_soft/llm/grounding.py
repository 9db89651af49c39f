"""Grounding generated text to items: embed it with the frozen base LLM and score items by negative L2 distance.

Item title embeddings are computed once per (model, quantization, pooling, titles) and cached on disk.
"""
import contextlib
import hashlib
from logging import getLogger
from pathlib import Path

import torch
from transformers import PreTrainedTokenizerBase

from recbole_soft.atomic import write_atomically
from recbole_soft.distributed import main_process_value, on_main_process, process_count
from recbole_soft.llm.memory import in_batches
from recbole_soft.settings import POOLINGS


class Grounder:
    """Embeds texts with the base model (adapters disabled), last layer, last non-pad token or mean of tokens."""

    def __init__(self, model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, pooling: str, batch_size: int):
        if pooling not in POOLINGS:
            raise ValueError(f"grounding_pooling='{pooling}' is not one of {', '.join(POOLINGS)}.")
        self.model, self.tokenizer, self.pooling, self.batch_size = model, tokenizer, pooling, batch_size

    @torch.no_grad()
    def embed(self, texts: list[str], show_progress: bool = False) -> torch.Tensor:
        """One embedding per text, in the order of ``texts``."""
        if not texts:
            return torch.empty(0, self.model.config.hidden_size, device=self._device())
        # batched shortest first: a batch pads to its longest text, and titles run from 2 to over 40 tokens
        order = dealt(shortest_first(texts, self.tokenizer), process_count())
        with self._base_model():
            chunks, self.batch_size = in_batches(
                lambda batch: [self._embed_batch(batch)], [texts[index] for index in order], self.batch_size,
                "embedding texts", show_progress,
            )
        sorted_embeddings = torch.cat(chunks)  # gathered from several processes, chunks are on the CPU
        embeddings = torch.empty_like(sorted_embeddings)
        embeddings[order] = sorted_embeddings
        return embeddings.to(self._device())

    def _device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _embed_batch(self, texts: list[str]) -> torch.Tensor:
        # An empty generation still needs a token to embed; end-of-sequence is what the model produced.
        texts = [text or self.tokenizer.eos_token for text in texts]
        device = self._device()
        encoded = self.tokenizer(texts, add_special_tokens=False, padding=True, return_tensors="pt").to(device)
        hidden = self.model(**encoded, output_hidden_states=True, logits_to_keep=1).hidden_states[-1].float()
        mask = encoded.attention_mask
        if self.pooling == "mean":
            return (hidden * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True)
        positions = torch.arange(mask.size(1), device=device).expand_as(mask)
        last = (positions * mask).argmax(dim=1)  # correct for left and right padding alike
        return hidden[torch.arange(len(texts), device=device), last]

    def _base_model(self):
        disable = getattr(self.model, "disable_adapter", None)
        return disable() if disable is not None else contextlib.nullcontext()

    def item_table(self, titles: list[str], cache_file: Path | None, show_progress: bool = False) -> torch.Tensor:
        """Embeddings of every item title, read from ``cache_file`` when it exists, else computed and stored."""
        if cache_file is not None and main_process_value(cache_file.is_file()):
            getLogger().info(f"Item title embeddings read from {cache_file}")
            return torch.load(cache_file, map_location="cpu")
        table = self.embed(titles, show_progress).cpu()
        if cache_file is not None:
            on_main_process(lambda: write_atomically(cache_file, lambda partial: torch.save(table, partial)))
        return table


def shortest_first(texts: list[str], tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """The indices of ``texts`` from the fewest tokens to the most (a stable order: ties keep their places)."""
    token_counts = [len(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]
    return sorted(range(len(texts)), key=token_counts.__getitem__)


def dealt(order: list[int], processes: int) -> list[int]:
    """``order`` dealt out like cards into one block per process: under ``accelerate launch`` each process embeds its
    own contiguous block (``in_batches``), so every process gets texts of every length, still shortest first, instead
    of the last one getting all the longest. The block sizes are those of ``distributed.own_slice``."""
    return [index for start in range(processes) for index in order[start::processes]]


def item_table_key(model_id: str, precision: str, pooling: str, titles: list[str]) -> str:
    """What the item table depends on (``precision``: quantization and compute type); it names the cache file."""
    digest = hashlib.sha256("\n".join([model_id, precision, pooling, *titles]).encode())
    return digest.hexdigest()[:16]


def l2_scores(queries: torch.Tensor, item_table: torch.Tensor) -> torch.Tensor:
    """``[n_queries, n_items]`` negative Euclidean distances: higher is closer. BIGRec's grounding step ranks items
    by the L2 distance between the generated text's embedding and each item's (``torch.cdist`` in its code)."""
    return -torch.cdist(queries.float(), item_table.float().to(queries.device))
