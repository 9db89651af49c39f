"""DMPOTrainer: supervised fine-tuning, then multi-negative preference optimisation against the frozen SFT adapter."""
import torch
from recbole.utils import set_color
from tqdm import tqdm

from recbole_soft.data import batch_indices
from recbole_soft.data.negatives import hard_negatives, popularity_sampler, uniform_sampler
from recbole_soft.distributed import gather
from recbole_soft.trainer.staged_trainer import StagedTrainer


class DMPOTrainer(StagedTrainer):
    """1. SFT (or ``sft_adapter_path``); 2. for every training row, k negatives from ``dmpo_neg_sampler`` and the
    SFT adapter's log-probabilities of the positive and the negatives (the reference, computed once);
    3. ``dmpo_epochs`` of the DMPO loss, continuing from the SFT adapter, logging reward margin and accuracy."""

    def fit(self, train_data, valid_data=None, verbose=True, saved=True, show_progress=False, callback_fn=None):
        train_data = self.training_samples(train_data)
        with self.timed_stage("sft"):
            self.supervised_fine_tuning(train_data, valid_data, verbose, show_progress)
        with self.timed_stage("negatives"):
            self.model.preference = self._preference_data(train_data)
        with self.timed_stage("preference"):
            self.start_stage("preference", self.config["dmpo_epochs"], self.final_adapter_dir)
            # each row trains on 1 + k titles: micro-batches keep a pass within the sequences a training pass may hold
            # (likelihood_batch_size, or with auto what fits the GPU's free memory)
            self.limit_rows_per_pass(titles_per_row=1 + self.config["dmpo_neg_num"])
            self.run_info["preference_log"] = []
            return super().fit(train_data, valid_data, verbose, saved, show_progress, callback_fn)

    def resumable_state(self) -> dict:
        return {"preference_log": self.run_info.get("preference_log", [])}

    def restore_resumable_state(self, state: dict) -> None:
        if self.stage == "preference":
            self.run_info["preference_log"] = state["preference_log"]

    def _train_epoch(self, train_data, epoch_idx, loss_func=None, show_progress=False):
        if self.stage != "preference":
            return super()._train_epoch(train_data, epoch_idx, loss_func, show_progress)
        margins = []

        def preference_loss(interaction):
            loss, batch_margins = self.model.preference_loss(interaction)
            margins.append(batch_margins.detach())
            return loss

        loss = super()._train_epoch(train_data, epoch_idx, preference_loss, show_progress)
        margins = torch.cat(gather(margins))  # every process's rows
        record = {"epoch": epoch_idx + 1, "reward_margin": margins.mean().item(),
                  "accuracy": (margins > 0).float().mean().item()}
        self.run_info["preference_log"].append(record)
        self.logger.info(
            set_color("preference", "blue") + f" epoch {epoch_idx + 1}: reward margin {record['reward_margin']:.4f}, "
            f"positive preferred for {record['accuracy']:.1%} of rows"
        )
        self.tensorboard.add_scalar("preference/reward_margin", record["reward_margin"], epoch_idx + 1)
        self.tensorboard.add_scalar("preference/accuracy", record["accuracy"], epoch_idx + 1)
        return loss

    @torch.no_grad()
    def _preference_data(self, train_data) -> dict:
        """(prompt key, positive) -> (negative item ids, reference log-probabilities of [positive, *negatives])."""
        rows = train_data._dataset.inter_feat
        negatives = self._negatives(rows)
        self.model.eval()

        def log_probs(index: torch.Tensor) -> torch.Tensor:
            return self.model.candidate_log_probs(rows[index].to(self.device), negatives[index])[0].cpu()

        passes = self.model.likelihood_passes(log_probs, len(rows), 1 + negatives.size(1),
                                              "computing reference log-probabilities", self.config["show_progress"])
        reference = torch.cat(gather(passes))  # each process scored its own block of rows
        keys = self.model.preference_keys(rows)
        self.logger.info(
            f"Preference data: {len(rows)} rows x {negatives.size(1)} '{self.config['dmpo_neg_sampler']}' negatives"
        )
        return {key: (negatives[row], reference[row]) for row, key in enumerate(keys)}

    def _batches(self, batches: list[torch.Tensor], what: str) -> tqdm:
        return tqdm(batches, desc=what, ncols=100, disable=not self.config["show_progress"])

    def _negatives(self, rows) -> torch.Tensor:
        k, seed, titles = self.config["dmpo_neg_num"], self.config["seed"], self.model.titles
        positives = rows[self.model.ITEM_ID]
        sampler = self.config["dmpo_neg_sampler"]
        if sampler == "uniform":
            return uniform_sampler(titles, seed).sample(positives.tolist(), k)
        if sampler == "popularity":
            return popularity_sampler(titles, self.model.train_items, seed).sample(positives.tolist(), k)
        self.model.eval()
        batch_size = self.config["eval_batch_size"]
        chunks = []
        for index in self._batches(batch_indices(len(rows), batch_size), "Hard negatives"):  # scoring is shared
            batch = rows[index].to(self.device)
            chunks.append(hard_negatives(self.model.full_sort_predict(batch), batch[self.model.ITEM_ID], k, titles))
        return torch.cat(chunks)
