"""ICL, the "Guidance-Only" baseline: the untuned LLM prompted in context, zero-shot or with demonstrations."""
from recbole.data.interaction import Interaction

from recbole_soft.data import seeded_rows
from recbole_soft.model.llm_recommender import LLMRecommender


class ICL(LLMRecommender):
    """No training: ``icl_demo_num`` seeded training samples (history, next title) are shown before each query."""

    trains_adapter = False

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        rows = seeded_rows(dataset, config["icl_demo_num"], config["seed"])
        self.demonstrations = [
            (self.prompter.history(items, length), self.titles[target])
            for items, length, target in zip(rows[self.ITEM_SEQ], rows[self.ITEM_SEQ_LEN], rows[self.ITEM_ID].tolist())
        ]

    def prompts(self, interaction: Interaction) -> list[str]:
        return self.prompter.prompts(interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN], self.demonstrations)

    def calculate_loss(self, interaction: Interaction):
        raise NotImplementedError("ICL is not trained: it prompts the untuned LLM (use the ICLTrainer).")
