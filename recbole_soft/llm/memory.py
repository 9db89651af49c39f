"""Out of GPU memory is not the end of a run: the batch is halved, with a warning, and the work retried.

``in_batches`` is the one place where generation and embedding are batched (with a progress bar) and, under
``accelerate launch``, shared between processes; ``over_own_rows`` the same for teacher-forced passes over rows;
``backward_in_micro_batches`` the one place where a training batch that does not fit is split.
"""
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from logging import getLogger
from typing import TypeVar

import torch
from recbole.data.interaction import Interaction
from tqdm import tqdm

from recbole_soft.data import batch_indices
from recbole_soft.distributed import gather, own_slice

Item = TypeVar("Item")
Output = TypeVar("Output")
# what a batch size of "auto" (settings.AUTO, the default) means without CUDA
CPU_BATCH_SIZES = {"generation_batch_size": 16, "embedding_batch_size": 64, "likelihood_batch_size": 16}
FREE_MEMORY_SHARE = 0.8  # of the free GPU memory an estimate may fill: the rest absorbs fragmentation and workspaces
FLOAT32_BYTES = 4


@dataclass(frozen=True)
class SequenceCost:
    """What one sequence of a batch costs in memory, estimated from the model's shape (bytes). Estimates start
    the batch sizes on a GPU; the out-of-memory backoff corrects one that was too optimistic."""

    layers: int
    hidden: int
    intermediate: int
    kv_width: int  # key/value heads x head size
    vocabulary: int
    value_bytes: int  # of the compute dtype

    @classmethod
    def of(cls, model: torch.nn.Module, value_bytes: int) -> "SequenceCost":
        config = model.config.get_text_config()
        heads = config.num_attention_heads
        head_size = getattr(config, "head_dim", None) or config.hidden_size // heads
        kv_heads = getattr(config, "num_key_value_heads", None) or heads
        return cls(config.num_hidden_layers, config.hidden_size, config.intermediate_size, kv_heads * head_size,
                   config.vocab_size, value_bytes)

    def generation(self, prompt_tokens: int, new_tokens: int, beams: int) -> int:
        """One prompt's beam search: every beam's KV cache over prompt and answer, the prefill's widest activation
        (the MLP's) over the prompt (once per beam: the library's beam search copies the prompt for each), and each
        beam's float32 next-token distribution (logits, log-softmax)."""
        kv_cache = 2 * self.layers * self.kv_width * (prompt_tokens + new_tokens) * self.value_bytes
        prefill = prompt_tokens * 2 * self.intermediate * self.value_bytes
        return beams * (kv_cache + prefill + self.vocabulary * FLOAT32_BYTES * 2)

    def embedding(self, tokens: int) -> int:
        """Embedding a text: every layer's hidden states (they are all returned) and one layer's MLP activation."""
        return tokens * ((self.layers + 1) * self.hidden + 2 * self.intermediate) * self.value_bytes

    def forward(self, tokens: int, kept: int) -> int:
        """A pass without gradients (teacher-forced scoring): one layer's activations over every token, every
        layer's KV cache (a candidate scored after a shared prompt holds its own copy of the prompt's) and the
        float32 logits of the ``kept`` positions (logits, their float copy and the loss's)."""
        activations = tokens * (4 * self.hidden + 2 * self.intermediate) * self.value_bytes
        kv_cache = 2 * self.layers * self.kv_width * tokens * self.value_bytes
        return activations + kv_cache + kept * self.vocabulary * FLOAT32_BYTES * 3

    def training(self, tokens: int, kept: int, checkpointing: bool) -> int:
        """A pass with gradients: the activations kept for the backward pass, about 34 bytes per hidden unit, token
        and layer in 16 bits (Korthikanti et al. 2022, attention scores left out: SDPA does not keep them), or with
        gradient checkpointing each layer's input plus one layer's recomputed activations; then the logits of the
        ``kept`` positions and their gradient."""
        layers = 2 / 34 * self.layers + 1 if checkpointing else self.layers
        activations = tokens * self.hidden * 34 * layers * self.value_bytes / 2
        return int(activations) + kept * self.vocabulary * FLOAT32_BYTES * 4


def batch_for_free_memory(per_sequence_bytes: int, largest: int, device: torch.device) -> int:
    """The most sequences, up to ``largest``, whose estimated memory fits in ``FREE_MEMORY_SHARE`` of the CUDA
    ``device``'s free memory (at least 1)."""
    free, _ = torch.cuda.mem_get_info(device)
    return max(1, min(largest, int(free * FREE_MEMORY_SHARE) // max(1, per_sequence_bytes)))


def halved(batch_size: int, what: str) -> int:
    """The next smaller batch after an out-of-memory error; raises when one item already does not fit."""
    if batch_size <= 1:
        raise torch.cuda.OutOfMemoryError(f"Out of GPU memory {what} with a batch of 1: use a smaller model or quantization.")
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    smaller = batch_size // 2
    getLogger().warning(f"Out of GPU memory {what} with a batch of {batch_size}: retrying with batches of {smaller}.")
    return smaller


def in_batches(
    run: Callable[[Sequence[Item]], list[Output]],
    items: Sequence[Item],
    batch_size: int,
    what: str,
    show_progress: bool = False,
) -> tuple[list[Output], int]:
    """``run`` over ``items`` batch by batch, halving the batch on CUDA out-of-memory; also returns the batch size
    that fitted, so that the caller starts there next time. ``what`` names the work in warnings and the progress bar.

    Launched as several processes, each runs its own block of ``items`` and every process gets all the outputs, in
    order (tensors on the CPU)."""
    block = own_slice(len(items))
    outputs, batch_size = _halving_on_out_of_memory(
        lambda start, stop: run(items[start:stop]), block.start, block.stop, batch_size, what, show_progress
    )
    return gather([output for batch in outputs for output in batch]), batch_size


def over_own_rows(
    run: Callable[[torch.Tensor], Output], total: int, batch_size: int, what: str, show_progress: bool = False
) -> tuple[list[Output], int]:
    """``run(row_indices)`` over this process's block of ``range(total)`` (all of it in a single process), a batch
    of rows at a time, halving the batch on CUDA out-of-memory: the outputs of this process's batches in order (the
    caller adds them up or gathers them) and the batch size that fitted. Teacher-forced passes use it."""
    block = own_slice(total)
    return _halving_on_out_of_memory(
        lambda start, stop: run(torch.arange(start, stop)), block.start, block.stop, batch_size, what, show_progress
    )


def _halving_on_out_of_memory(
    run: Callable[[int, int], Output], start: int, stop: int, batch_size: int, what: str, show_progress: bool
) -> tuple[list[Output], int]:
    """``run(first, end)`` over ``range(start, stop)`` in consecutive batches, each retried at half the size on CUDA
    out-of-memory; one output per batch that ran."""
    outputs = []
    with tqdm(total=stop - start, desc=what.capitalize(), ncols=100, disable=not show_progress) as progress:
        while start < stop:
            end = min(start + batch_size, stop)
            try:
                outputs.append(run(start, end))
            except torch.cuda.OutOfMemoryError:
                batch_size = halved(batch_size, what)
                continue
            progress.update(end - start)
            start = end
    return outputs, batch_size


def backward_in_micro_batches(
    backward: Callable[[Interaction, float], float],
    interaction: Interaction,
    trainable: list[torch.nn.Parameter],
    micro_batch_size: int | None,
) -> tuple[float, int | None]:
    """``backward(part, share)`` over ``interaction``, whole or in micro-batches; returns the loss and the
    micro-batch size later batches should start with (None while whole batches fit).

    On CUDA out-of-memory the gradients of this batch are discarded and the batch is split into micro-batches of
    half the size, each weighted by its share of rows. The loss is a mean over target tokens, so after a split the
    token weighting differs slightly from the whole batch's.
    """
    rows = len(interaction)
    before = [None if p.grad is None else p.grad.clone() for p in trainable]
    while True:
        size = min(micro_batch_size or rows, rows)
        parts = [interaction] if size == rows else [interaction[index] for index in batch_indices(rows, size)]
        try:
            return sum(backward(part, len(part) / rows) for part in parts), micro_batch_size
        except torch.cuda.OutOfMemoryError:
            for parameter, grad in zip(trainable, before):
                parameter.grad = grad
            micro_batch_size = halved(size, "in a training step")
