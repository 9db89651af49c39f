"""The one place where recbole 1.2.1 is adapted to today's numpy 2, pandas and torch >= 2.6, and where its bugs
that change results are fixed; also where a bitsandbytes CPU bug that changes results is avoided.

Nothing else in the project patches RecBole, and nothing imports ``recbole.quick_start`` (it pulls in ray,
which needs ``pkg_resources`` and ``np.bool8``).
"""
import types

import numpy as np
import pandas as pd
import torch

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


def _fix_pop() -> None:
    from recbole.model.general_recommender.pop import Pop

    Pop.calculate_loss = _count_item_interactions


def _turn_off_anomaly_detection() -> None:
    """Undo ``torch.autograd.set_detect_anomaly(True)``, which RecBole's SINE module runs when it is imported.

    Importing any RecBole sequential model imports SINE, and anomaly mode then checks every gradient for NaN and
    records a stack trace at every forward op, for every model of the process: SASRec's training step on ml-100k
    took 3.6 s instead of 2.2 s on a 2-core CPU. Importing the package here first makes the order harmless.
    """
    import recbole.model.sequential_recommender  # noqa: F401  (runs SINE's module-level switch now, not later)

    torch.autograd.set_detect_anomaly(False)


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


def apply() -> None:
    """Make recbole 1.2.1 importable and usable, and fix what ``FIXED_MODELS`` lists; idempotent."""
    _check_pandas()
    _add_numpy_aliases()
    _let_recbole_trainer_load_its_checkpoints()
    _fix_pop()
    _turn_off_anomaly_detection()
