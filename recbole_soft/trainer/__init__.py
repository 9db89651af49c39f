"""RecBole Trainer subclasses of the plugin."""
from recbole_soft.trainer.dmpo_trainer import DMPOTrainer
from recbole_soft.trainer.llm_trainer import ICLTrainer, LLMTrainer
from recbole_soft.trainer.soft_trainer import SOFTTrainer
from recbole_soft.trainer.staged_trainer import StagedTrainer

__all__ = ["LLMTrainer", "ICLTrainer", "StagedTrainer", "SOFTTrainer", "DMPOTrainer"]
