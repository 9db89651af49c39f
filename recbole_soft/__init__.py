"""recbole_soft: LLM-based sequential recommenders (SOFT and its baselines) as ordinary RecBole models.

Importing the package is cheap: RecBole, torch and the LLM libraries load when first used.
"""
__version__ = "0.1.0"
__all__ = ["run_recbole_soft", "load_data_and_model", "get_model", "get_trainer", "register_model"]

_LAZY = {
    "run_recbole_soft": "recbole_soft.quick_start",
    "load_data_and_model": "recbole_soft.quick_start",
    "get_model": "recbole_soft.registry",
    "get_trainer": "recbole_soft.registry",
    "register_model": "recbole_soft.registry",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'recbole_soft' has no attribute '{name}'")
