"""recbole_soft: LLM-based sequential recommenders (SOFT and its baselines) as ordinary RecBole models."""
from recbole_soft import compat

compat.apply()

from recbole_soft.quick_start import run_recbole_soft  # noqa: E402
from recbole_soft.utils import get_model, get_trainer  # noqa: E402

__all__ = ["run_recbole_soft", "get_model", "get_trainer"]
__version__ = "0.1.0"
