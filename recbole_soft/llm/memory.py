"""Out of GPU memory is not the end of a run: the batch is halved, with a warning, and the work retried."""
from collections.abc import Callable, Sequence
from logging import getLogger
from typing import TypeVar

import torch

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
    run: Callable[[Sequence[Item]], list[Output]], items: Sequence[Item], batch_size: int, what: str
) -> tuple[list[Output], int]:
    """``run`` over ``items`` batch by batch, halving the batch on CUDA out-of-memory; also returns the batch size
    that fitted, so that the caller starts there next time."""
    outputs, start = [], 0
    while start < len(items):
        batch = items[start : start + batch_size]
        try:
            outputs += run(batch)
        except torch.cuda.OutOfMemoryError:
            batch_size = halved(batch_size, what)
            continue
        start += len(batch)
    return outputs, batch_size
