"""Out of GPU memory is not the end of a run: the batch is halved, with a warning, and the work retried.

``in_batches`` is the one place where generation and embedding are batched (with a progress bar), and
``backward_in_micro_batches`` the one place where a training batch that does not fit is split.
"""
from collections.abc import Callable, Sequence
from logging import getLogger
from typing import TypeVar

import torch
from recbole.data.interaction import Interaction
from tqdm import tqdm

from recbole_soft.data import batch_indices

Item = TypeVar("Item")
Output = TypeVar("Output")


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
    that fitted, so that the caller starts there next time. ``what`` names the work in warnings and the progress bar."""
    outputs, start = [], 0
    with tqdm(total=len(items), desc=what.capitalize(), ncols=100, disable=not show_progress) as progress:
        while start < len(items):
            batch = items[start : start + batch_size]
            try:
                outputs += run(batch)
            except torch.cuda.OutOfMemoryError:
                batch_size = halved(batch_size, what)
                continue
            start += len(batch)
            progress.update(len(batch))
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
