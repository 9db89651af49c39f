"""ICLTrainer: the "Guidance-Only" baseline is never trained; it is evaluated as the untuned LLM prompts it."""
from recbole.trainer import Trainer

from recbole_soft.trainer.pairwise_auc import with_pairwise_auc


class ICLTrainer(Trainer):
    """``fit`` does nothing; ``evaluate`` scores the model as it is."""

    def _build_optimizer(self, **kwargs):
        return None

    def fit(self, train_data, valid_data=None, verbose=True, saved=True, show_progress=False, callback_fn=None):
        self.logger.info(f"{self.config['model']} is not trained: the untuned LLM is prompted in context.")
        return None, None

    def evaluate(self, eval_data, load_best_model=True, model_file=None, show_progress=False):
        result = super().evaluate(eval_data, load_best_model=False, show_progress=show_progress)
        return with_pairwise_auc(result, self.model, eval_data, self.config)
