"""CLCLMRecTrainer: instruction tuning on the catalogue, then recommendation tuning on few, well-chosen samples."""
import torch
from recbole.data.dataloader import TrainDataLoader
from recbole.data.interaction import Interaction, cat_interactions
from recbole.utils import set_color

from recbole_soft.data.augmentation import augmented_rows
from recbole_soft.data.sampling import seeded_indices
from recbole_soft.data.selection import covering_samples
from recbole_soft.distributed import main_process_value
from recbole_soft.model.clclmrec import INSTRUCTION_FIELD
from recbole_soft.trainer.llm_trainer import LLMTrainer
from recbole_soft.trainer.staged_trainer import StagedTrainer


class CLCLMRecTrainer(StagedTrainer):
    """The two phases of CLCLMRec (a reconstruction from its abstract), each a RecBole fit of the same LoRA adapter:

    1. ``instructions``: ``clclm_instruction_epochs`` on the model's catalogue instructions (skipped with
       ``clclm_instruction_tuning: False``); its adapter is kept in ``<run>-instructions/``;
    2. ``recommendation``: BIGRec's loss on ``clclm_sample_num`` training samples chosen by ``clclm_selection``
       (``contrastive``: one per k-means cluster of the frozen encoder's sequence representations; ``random``),
       plus ``clclm_augmented_views`` augmented histories of each; early stopping as every LLM model.
    """

    def __init__(self, config, model):
        super().__init__(config, model)
        self.instruction_adapter_dir = self.adapter_dir.with_name(self.adapter_dir.name + "-instructions")

    def fit(self, train_data, valid_data=None, verbose=True, saved=True, show_progress=False, callback_fn=None):
        if self.config["clclm_instruction_tuning"]:
            with self.timed_stage("instructions"):
                self.train_stage("instructions", self.config["clclm_instruction_epochs"], self.instruction_adapter_dir,
                                 self._instruction_data(train_data), valid_data, verbose, show_progress)
        with self.timed_stage("recommendation"):
            self.start_stage("recommendation", self.config["epochs"], self.final_adapter_dir)
            return LLMTrainer.fit(self, train_data, valid_data, verbose, saved, show_progress, callback_fn)

    def _train_epoch(self, train_data, epoch_idx, loss_func=None, show_progress=False):
        if self.stage == "instructions":
            loss_func = self.model.instruction_loss
        return super()._train_epoch(train_data, epoch_idx, loss_func, show_progress)

    def training_samples(self, train_data):
        """Phase 2's samples (chosen once, then kept); phase 1 trains on the instructions as they are."""
        if self.stage == "instructions":
            return train_data
        if train_data is not self._capped_train_data:
            self._capped_train_data = self._chosen_samples(train_data)
        return self._capped_train_data

    def _instruction_data(self, train_data) -> TrainDataLoader:
        """The instructions as RecBole training rows (their indices), shuffled and batched like any training data."""
        rows = Interaction({INSTRUCTION_FIELD: torch.arange(len(self.model.instructions))})
        return TrainDataLoader(train_data.config, train_data._dataset.copy(rows), None, shuffle=True)

    def _chosen_samples(self, train_data) -> TrainDataLoader:
        dataset, config = train_data._dataset, self.config
        rows, count, seed = dataset.inter_feat, config["clclm_sample_num"], config["seed"]
        if config["clclm_selection"] == "contrastive":
            representations = self.model.sequence_representations(rows)
            # the main process's choice for all: k-means on another GPU's float results could choose otherwise
            chosen = main_process_value(covering_samples(representations, count, seed))
        else:
            chosen = seeded_indices(len(rows), count, seed).tolist()
        selected = rows[torch.tensor(chosen)]
        views = augmented_rows(selected, self.model.ITEM_SEQ, self.model.ITEM_SEQ_LEN, config["clclm_augmented_views"],
                               config["clclm_view_ratios"], seed)
        samples = cat_interactions([selected, views]) if len(views) else selected
        self.run_info["selection"] = {"method": config["clclm_selection"], "samples": len(selected), "augmented": len(views)}
        self.logger.info(
            set_color("CLCLMRec training data", "blue") + f": {len(selected)} of {len(rows)} samples chosen "
            f"({config['clclm_selection']}), {len(views)} augmented views added"
        )
        return TrainDataLoader(train_data.config, dataset.copy(samples), train_data._sampler, shuffle=train_data.shuffle)
