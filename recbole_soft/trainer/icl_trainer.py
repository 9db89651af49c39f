"""ICLTrainer: the "Guidance-Only" baseline is never trained; it is evaluated as the untuned LLM prompts it."""
from recbole.trainer import Trainer

from recbole_soft.trainer.evaluation import LLMEvaluation


class ICLTrainer(LLMEvaluation, Trainer):
    """``fit`` does nothing; ``evaluate`` scores the model as it is."""

    def __init__(self, config, model):
        super().__init__(config, model)
        # facts about the run beyond metrics, reported by run_recbole_soft
        self.run_info: dict = {"llm_precision": model.precision}

    def _build_optimizer(self, **kwargs):
        return None

    def fit(self, train_data, valid_data=None, verbose=True, saved=True, show_progress=False, callback_fn=None):
        self.logger.info(f"{self.config['model']} is not trained: the untuned LLM is prompted in context.")
        self.valid_data = valid_data
        return None, None
