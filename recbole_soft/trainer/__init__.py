"""RecBole Trainer subclasses of the plugin."""
from recbole_soft.trainer.llm_trainer import ICLTrainer, LLMTrainer
from recbole_soft.trainer.soft_trainer import SOFTTrainer

__all__ = ["LLMTrainer", "ICLTrainer", "SOFTTrainer"]
