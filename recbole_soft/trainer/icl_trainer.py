"""ICLTrainer: the "Guidance-Only" baseline is never trained; it is evaluated as the untuned LLM prompts it."""
from recbole.trainer import Trainer

from recbole_soft.trainer.evaluation import choose_prior_gamma, finish_evaluation


class ICLTrainer(Trainer):
    """``fit`` does nothing; ``evaluate`` scores the model as it is."""

    def __init__(self, config, model):
        super().__init__(config, model)
        self.run_info: dict = {}  # facts about the run beyond metrics, reported by run_recbole_soft
        self.valid_data = None

    def _build_optimizer(self, **kwargs):
        return None

    def fit(self, train_data, valid_data=None, verbose=True, saved=True, show_progress=False, callback_fn=None):
        self.logger.info(f"{self.config['model']} is not trained: the untuned LLM is prompted in context.")
        self.valid_data = valid_data  # the prior's γ is chosen on it before the test
        return None, None

    def evaluate(self, eval_data, load_best_model=True, model_file=None, show_progress=False):
        if load_best_model:
            choose_prior_gamma(self, self.valid_data)
        self.model.answers.clear()
        result = super().evaluate(eval_data, load_best_model=False, show_progress=show_progress)
        return finish_evaluation(self, result, eval_data)
