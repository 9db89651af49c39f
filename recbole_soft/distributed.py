"""One process or several: how a run shares its work when started by ``accelerate launch`` (Hugging Face Accelerate).

Every process runs the same program on the same data, drawing the same batches in the same order; the plugin
splits the expensive work (training rows, generation, embedding, teacher-forced passes) into one contiguous block
per process and gathers the results back in order, so every process then holds what one process would have
computed. Only the main process writes files. Started without a launcher, every function here is the trivial
single-process one and Accelerate is never initialised.
"""
import atexit
import contextlib
import functools
import os
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import TypeVar

import torch

Result = TypeVar("Result")
# how long a process waits in a collective: the others may wait while the main process downloads a model or trains
# the item encoder alone (NCCL's own default is 10 minutes)
COLLECTIVE_TIMEOUT = timedelta(hours=3)
_alone = False  # inside work_alone(): the main process goes on as a single process
_on_cpu = False  # the launched processes use the CPU even where CUDA is available (gpu_id: '')

# what torchrun (``accelerate launch --multi_gpu``) and MPI launchers tell each process about the group
_WORLD_SIZE_VARIABLES = ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")


def is_launched() -> bool:
    """Whether this process is one of several started together by a launcher."""
    return any(int(os.environ.get(name, "1")) > 1 for name in _WORLD_SIZE_VARIABLES)


@functools.cache
def _state():
    """Accelerate's process state: it joins the process group (NCCL between GPUs, gloo between CPU processes)."""
    from accelerate import PartialState

    cpu = _on_cpu or not torch.cuda.is_available() or _cpu_requested()
    state = PartialState(cpu=cpu, timeout=COLLECTIVE_TIMEOUT)
    # a gloo group still alive when the interpreter exits aborts the process ("terminate called without an active
    # exception"): leave the group cleanly
    atexit.register(state.destroy_process_group)
    return state


def single_cpu_launch_note() -> str | None:
    """What to do instead, when ``accelerate launch --cpu`` started this run: Accelerate 1.x then starts one process
    whatever ``--num_processes`` says (several CPU processes only through MPI)."""
    if not _cpu_requested() or is_launched():
        return None
    note = ("accelerate launch --cpu started this run as one process (Accelerate starts several CPU processes only "
            "through MPI). For N processes use: accelerate launch --multi_gpu --num_processes N run_recbole_soft.py "
            "...; without CUDA its processes share the work on the CPU.")
    threads, cores = torch.get_num_threads(), os.cpu_count() or 1
    if threads < cores:
        # Accelerate sets OMP_NUM_THREADS to the physical cores divided by --num_processes, for processes that never start
        note += (f" This one process computes with {threads} of the {cores} CPU threads (OMP_NUM_THREADS); "
                 f"python run_recbole_soft.py ... uses them all.")
    return note


def _cpu_requested() -> bool:
    """``accelerate launch --cpu`` (or ACCELERATE_USE_CPU), read as Accelerate reads it."""
    from accelerate.utils import parse_flag_from_env

    try:
        return parse_flag_from_env("ACCELERATE_USE_CPU")
    except ValueError:  # not a yes/no value: Accelerate itself refuses it when it starts processes
        return False


def process_count() -> int:
    return _state().num_processes if is_launched() and not _alone else 1


def process_index() -> int:
    return _state().process_index if is_launched() and not _alone else 0


@contextlib.contextmanager
def work_alone() -> Iterator[bool]:
    """Within the block the main process works as the only process (it waits for no other); yields whether this is
    the main process, and the others should skip the block. After it, the processes share work again."""
    global _alone
    main = is_main_process()
    _alone = True
    try:
        yield main
    finally:
        _alone = False


def is_main_process() -> bool:
    return process_index() == 0


def process_device(on_cpu: bool = False) -> torch.device | None:
    """This process's own device when launched (``cuda:<local rank>``, or the CPU without CUDA or with ``on_cpu``),
    None in a single process. The first call decides how the processes are joined (NCCL or gloo)."""
    global _on_cpu
    if not is_launched():
        return None
    _on_cpu = _on_cpu or on_cpu
    device = _state().device
    return torch.device("cpu") if device.type == "cpu" else device  # not "cpu:0", which safetensors refuses


def own_slice(total: int) -> slice:
    """This process's contiguous block of ``total`` items; the first ``total % processes`` blocks hold one more.
    A block may be empty when there are fewer items than processes."""
    count, index = process_count(), process_index()
    size, extra = divmod(total, count)
    start = index * size + min(index, extra)
    return slice(start, start + size + (index < extra))


def gather(outputs: list) -> list:
    """Every process's ``outputs``, concatenated in process order (tensors come back on the CPU)."""
    if process_count() == 1:
        return outputs
    from accelerate.utils import gather_object

    return gather_object([_to_cpu(output) for output in outputs])


def _to_cpu(value):
    # a pickled CUDA tensor would unpickle on the sender's GPU
    return value.cpu() if isinstance(value, torch.Tensor) else value


def sum_over_processes(values: torch.Tensor) -> torch.Tensor:
    """The element-wise sum of ``values`` over every process (``values`` itself in a single process)."""
    if process_count() > 1:
        torch.distributed.all_reduce(values, op=torch.distributed.ReduceOp.SUM)
    return values


def sum_gradients(parameters: list[torch.nn.Parameter]) -> None:
    """Add up the gradients every process accumulated for its block of the batch, in one all-reduce (what DDP does,
    without wrapping the model: only the trainable parameters take part, and gradient checkpointing needs nothing
    special). A parameter no process used keeps no gradient, as in one process (the optimizer then skips it); one
    that only some processes used gets zeros from the others."""
    if process_count() == 1:
        return
    used = sum_over_processes(torch.tensor([p.grad is not None for p in parameters], dtype=torch.float32,
                                           device=parameters[0].device))
    summed = [p for p, count in zip(parameters, used.tolist()) if count > 0]
    for parameter in summed:
        if parameter.grad is None:
            parameter.grad = torch.zeros_like(parameter)
    if summed:
        flat = sum_over_processes(torch.cat([p.grad.flatten() for p in summed]))
        for parameter, grad in zip(summed, flat.split([p.numel() for p in summed])):
            parameter.grad.copy_(grad.view_as(parameter.grad))


def main_process_value(value):
    """The main process's ``value`` in every process: a decision (reuse a file? which run to resume?) all must share."""
    if process_count() == 1:
        return value
    from accelerate.utils import broadcast_object_list

    return broadcast_object_list([value], from_process=0)[0]


def wait_for_everyone() -> None:
    if process_count() > 1:
        _state().wait_for_everyone()


def on_main_process(write: Callable[[], None]) -> None:
    """``write()`` in the main process only; every process continues once it is done (so a file it writes can be
    read by all)."""
    if is_main_process():
        write()
    wait_for_everyone()


def main_process_first(work: Callable[[], Result]) -> Result:
    """``work()`` in the main process, then in the others: what the main one downloads or converts into a cache,
    they find there."""
    if is_main_process():
        result = work()
        wait_for_everyone()
        return result
    wait_for_everyone()
    return work()
