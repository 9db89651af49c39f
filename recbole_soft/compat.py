"""The one place where recbole 1.2.1 is adapted to today's numpy 2, pandas and torch >= 2.6, and where its bugs
that change results are fixed; also where a bitsandbytes CPU bug that changes results is avoided, where the
transformers versions the package supports are told apart, and where glibc's allocator is set for RecBole's models.

Nothing else in the project patches RecBole, and nothing imports ``recbole.quick_start`` (it pulls in ray,
which needs ``pkg_resources`` and ``np.bool8``).
"""
import copy
import ctypes
import inspect
import logging
import os
import platform
import signal
import types
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from recbole_soft.distributed import is_main_process

# recbole.config.Config.compatibility_settings() reads these; numpy 2 removed them.
_NUMPY_ALIASES = {"float_": np.float64, "complex_": np.complex128, "unicode_": np.str_}


class _TorchLoadingOwnCheckpoints(types.ModuleType):
    """``torch`` as seen by RecBole's trainer module, except that ``load`` reads the full pickles RecBole writes.

    torch >= 2.6 defaults ``torch.load`` to ``weights_only=True``, which refuses the Config object inside every
    RecBole checkpoint, so ``Trainer.evaluate(load_best_model=True)`` fails. Only RecBole's trainer module sees
    this wrapper; the rest of the process keeps torch's safe default.
    """

    def __getattr__(self, name: str):
        return getattr(torch, name)

    @staticmethod
    def load(*args, **kwargs):
        kwargs.setdefault("weights_only", False)
        return torch.load(*args, **kwargs)


class _NumpySeedingGenerators(types.ModuleType):
    """``numpy`` as seen by RecBole's hyper_tuning module, except that ``random.RandomState(seed)`` is a Generator.

    RecBole 1.2.1's exhaustive search (HyperTuning's default algorithm) seeds numpy's legacy ``RandomState``, but
    hyperopt >= 0.2.7 samples with Generator methods (``rng.integers``), so the first trial fails with an
    AttributeError. The module uses numpy's random state nowhere else.
    """

    random = types.SimpleNamespace(RandomState=np.random.default_rng)

    def __getattr__(self, name: str):
        return getattr(np, name)


def _add_numpy_aliases() -> None:
    for name, alias in _NUMPY_ALIASES.items():
        if name not in np.__dict__:
            setattr(np, name, alias)


def _check_pandas() -> None:
    if int(pd.__version__.split(".")[0]) >= 3:
        raise ImportError(
            f"recbole 1.2.1 cannot load token_seq fields (such as ml-100k's movie_title) with pandas "
            f"{pd.__version__}. Install pandas 2: pip install 'pandas>=2,<3'."
        )


def _let_recbole_trainer_load_its_checkpoints() -> None:
    import recbole.trainer.trainer as recbole_trainer

    if not isinstance(recbole_trainer.torch, _TorchLoadingOwnCheckpoints):
        recbole_trainer.torch = _TorchLoadingOwnCheckpoints("torch")


def _count_item_interactions(self, interaction):
    """Pop's training step, counting every interaction.

    RecBole 1.2.1 writes ``item_cnt[item] = item_cnt[item] + 1``: with an item repeated in a batch, the indexed
    assignment keeps one increment, so popular items are undercounted and the ranking is flattened (ml-100k Hit@10
    0.0265 instead of about 0.05). ``index_add_`` adds once per occurrence.
    """
    item = interaction[self.ITEM_ID]
    self.item_cnt.index_add_(0, item, torch.ones((len(item), 1), dtype=self.item_cnt.dtype, device=self.item_cnt.device))
    self.max_cnt = torch.max(self.item_cnt, dim=0)[0]
    return torch.nn.Parameter(torch.zeros(1)).to(self.device)


# model name -> what the plugin changed in RecBole's implementation (logged when such a model runs)
FIXED_MODELS = {
    "Pop": "Pop counts every training interaction (recbole_soft fix: RecBole 1.2.1 counts an item once per batch)",
}


def _let_exhaustive_hyper_tuning_sample() -> None:
    import recbole.trainer.hyper_tuning as hyper_tuning

    if not isinstance(hyper_tuning.np, _NumpySeedingGenerators):
        hyper_tuning.np = _NumpySeedingGenerators("numpy")


def _fix_pop() -> None:
    from recbole.model.general_recommender.pop import Pop

    Pop.calculate_loss = _count_item_interactions


def is_run_log(handler: logging.Handler) -> bool:
    """Whether ``handler`` writes a run's log as RecBole's ``init_logger`` does: ``<root>/log/<Model>/<run>.log``."""
    if not isinstance(handler, logging.FileHandler):
        return False
    parents = Path(handler.baseFilename).parents
    return len(parents) > 2 and parents[1].name == "log"


def _tensorboard_beside_the_log(logger):
    """RecBole's ``get_tensorboard``, rooted where the run's log is instead of the current directory.

    RecBole writes ``log/<Model>/<run>.log`` and ``log_tensorboard/<run>/`` under the current directory; the
    plugin's quick start creates ``log/`` under ``output_dir``, and this puts ``log_tensorboard/`` beside it, with
    the same run name. With the default output directory both are exactly where RecBole puts them. Under
    ``accelerate launch`` only the main process writes events.
    """
    from recbole.utils import get_local_time
    from torch.utils.tensorboard import SummaryWriter

    if not is_main_process():
        return _NoEvents()
    run_logs = [Path(handler.baseFilename) for handler in logger.handlers if is_run_log(handler)]
    if not run_logs:
        return SummaryWriter(str(Path("log_tensorboard") / f"model-{get_local_time()}"))
    return SummaryWriter(str(run_logs[0].parents[2] / "log_tensorboard" / run_logs[0].name.split(".")[0]))


class _NoEvents:
    """A TensorBoard writer that writes nothing."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def _write_tensorboard_beside_the_log() -> None:
    import recbole.trainer.trainer as recbole_trainer

    recbole_trainer.get_tensorboard = _tensorboard_beside_the_log


def _turn_off_anomaly_detection() -> None:
    """Undo ``torch.autograd.set_detect_anomaly(True)``, which RecBole's SINE module runs when it is imported.

    Importing any RecBole sequential model imports SINE, and anomaly mode then checks every gradient for NaN and
    records a stack trace at every forward op, for every model of the process: SASRec's training step on ml-100k
    took 3.6 s instead of 2.2 s on a 2-core CPU. Importing the package here first makes the order harmless.
    """
    import recbole.model.sequential_recommender  # noqa: F401  (runs SINE's module-level switch now, not later)

    torch.autograd.set_detect_anomaly(False)


KEEP_FREED_MEMORY = "RECBOLE_SOFT_KEEP_FREED_MEMORY"  # 0: leave glibc's allocator as it is
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameters (malloc.h)
_freed_memory_kept = False  # set by keep_freed_memory_for_reuse(); recorded beside every suite run's times


def keep_freed_memory_for_reuse() -> bool:
    """Let glibc keep freed blocks up to 1 GiB for reuse instead of unmapping each one; returns whether it is set.

    By default glibc serves every allocation above its mmap threshold (adaptive, at most 32 MB) with a fresh mapping
    and returns it to the kernel when freed, so each training step of a RecBole model faults its activations in
    again, page by page: SASRec's step on ml-100k (a batch of 2,048) spent a third of its time on it
    (``benchmarks/classical_step.py`` measures it both ways). Runs of classical models set it; the LLM models' runs
    do not, as their measured speed did not gain. ``RECBOLE_SOFT_KEEP_FREED_MEMORY=0`` keeps glibc's defaults; other C
    libraries are left as they are.
    """
    global _freed_memory_kept
    if os.environ.get(KEEP_FREED_MEMORY) == "0" or platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return _freed_memory_kept
    libc = ctypes.CDLL("libc.so.6")
    _freed_memory_kept = bool(libc.mallopt(_M_MMAP_THRESHOLD, 1 << 30) and libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30))
    return _freed_memory_kept


_PR_SET_PDEATHSIG = 1  # prctl's option (linux/prctl.h)


def stop_with_parent() -> bool:
    """Have the kernel send this process SIGTERM when its parent process ends (Linux; elsewhere nothing); returns
    whether it is set. A suite's run must not go on writing into the results folder once the suite that started it
    was killed: a suite started again would run the same model into the same folder beside it."""
    if platform.system() != "Linux":
        return False
    parent = os.getppid()
    is_set = ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) == 0
    if is_set and os.getppid() != parent:  # the parent ended before the request was made
        os.kill(os.getpid(), signal.SIGTERM)
    return is_set


def keeps_freed_memory() -> bool:
    """Whether this process's allocator keeps freed memory for reuse (``keep_freed_memory_for_reuse``): it changes
    a classical model's training time, not its results."""
    return _freed_memory_kept


def keep_4bit_weights_unpacked(model: torch.nn.Module) -> int:
    """Stop bitsandbytes (0.50) from repacking 4-bit weights for its AVX512-BF16 CPU kernel; returns the layers set.

    A ``Linear4bit`` repacks its weight at its first no-grad forward pass on such a CPU. Two things then go wrong:
    a later training forward runs the packed ``gemv_4bit`` op, which has no autograd kernel (torch warns that the
    gradient may be silently incorrect), and taking the model's ``state_dict()`` unpacks the weight again, after
    which the frozen base computes other logits. Unpacked weights use the ordinary differentiable 4-bit path.
    """
    layers = [module for module in model.modules() if hasattr(module, "support_avx512bf16_for_cpu")]
    for layer in layers:
        layer.support_avx512bf16_for_cpu = False
    return len(layers)


def kv_cache_keyword(model: torch.nn.Module) -> str:
    """The ``forward`` keyword that takes a KV cache: ``cache`` since transformers 5.2x, ``past_key_values`` before
    (the old name still works there, with a deprecation warning at every call)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(type(base).forward).parameters else "past_key_values"


def kv_cache_of(output):
    """The KV cache a ``forward(use_cache=True)`` returned, under either version's name."""
    return output.cache if "cache" in output else output.past_key_values


def forked_kv_cache(cache):
    """A KV cache holding ``cache``'s tensors that can be reordered and extended on its own, ``cache`` unchanged:
    transformers' dynamic cache layers (``cache.layers``) rebind their tensors on either operation and never write
    into them, so copying the layers' references is enough; a cache without layers (an older layout) is copied whole."""
    if not hasattr(cache, "layers"):
        return copy.deepcopy(cache)
    fork = copy.copy(cache)
    fork.layers = [copy.copy(layer) for layer in cache.layers]
    return fork


def _quiet_warnings_users_cannot_act_on() -> None:
    """RecBole 1.2.1 calls pandas in ways pandas 2.x announces it will change (``fillna(inplace=True)`` on a
    column, ...): a FutureWarning per field at every dataset load, about RecBole's code, not the user's; the same
    for peft's use of a transformers attribute.
    bitsandbytes logs at import, on CPUs with AVX512-BF16, that its optional hub kernel could not be fetched;
    the 4-bit path works without it (and the default CPU run does not quantize)."""
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"recbole\.")
    # peft reads transformers' renamed ``is_gradient_checkpointing`` (transformers warns, peft will follow)
    warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)


def apply() -> None:
    """Make recbole 1.2.1 importable and usable, and fix what ``FIXED_MODELS`` lists; idempotent."""
    _check_pandas()
    _add_numpy_aliases()
    _let_recbole_trainer_load_its_checkpoints()
    _fix_pop()
    _let_exhaustive_hyper_tuning_sample()
    _write_tensorboard_beside_the_log()
    _turn_off_anomaly_detection()
    _quiet_warnings_users_cannot_act_on()
