"""LLMTrainer: RecBole's Trainer for supervised LoRA fine-tuning of an LLM model (BIGRec's objective, and the
first stage of every staged method)."""
import contextlib
from pathlib import Path

import numpy as np
import torch
from recbole.trainer import Trainer
from recbole.utils import set_color
from torch.nn.utils import clip_grad_norm_
from tqdm import tqdm

from recbole_soft.data import cap_train_data, seeded_rows
from recbole_soft.distributed import on_main_process, own_slice, sum_gradients, sum_over_processes
from recbole_soft.errors import InvalidSetting
from recbole_soft.settings import AUTO
from recbole_soft.llm.memory import backward_in_micro_batches
from recbole_soft.trainer.checkpoint import (
    RunState,
    resumable_fit,
    save_adapter_folder,
)
from recbole_soft.trainer.curriculum import hybrid_share
from recbole_soft.trainer.evaluation import LLMEvaluation


class LLMTrainer(LLMEvaluation, Trainer):
    """RecBole's Trainer for a model that fine-tunes a LoRA adapter.

    - trains on ``train_sample_num`` seeded training samples (RecBole yields one sample per history prefix);
    - gradient accumulation, linear warm-up then constant learning rate, bf16 autocast when the LLM computes in bf16;
    - validation by teacher-forced loss on ``valid_sample_num`` seeded validation samples (``llm_valid_by: loss``,
      cheap) or by RecBole's full-ranking ``valid_metric`` on every validation user (``llm_valid_by: ranking``);
    - checkpoints are PEFT adapter folders, written atomically, and the best one is reloaded for the test;
    - after every validated epoch and every stage the run's resumable state is saved (``checkpoint.RunState``), and
      ``resume: True`` continues the newest interrupted run of the model in ``checkpoint_dir`` from there;
    - under ``accelerate launch`` every process trains on its own block of each batch and the gradients are added up
      before each optimizer step, so the steps are those of one process with the same global batch
      (``train_batch_size`` is global); only the main process writes files or TensorBoard events.
    """

    def __init__(self, config, model):
        super().__init__(config, model)
        self.accumulation_steps = config["gradient_accumulation_steps"]
        self.lr_scheduler = self._build_lr_scheduler()
        self.validate_by_loss = config["llm_valid_by"] == "loss"
        if self.validate_by_loss:
            self.valid_metric, self.valid_metric_bigger, self.best_valid_score = "valid_loss", False, np.inf
        self.stage = "train"
        self.micro_batch_size: int | None = None  # rows per pass (None: the whole batch); see fit_passes_to_memory
        self.fit_passes_to_memory(titles_per_row=1)
        self.run_state = RunState.start(config, self.saved_model_file, self.logger)
        self.saved_model_file = self.run_state.saved_model_file  # a resumed run keeps its own file names
        self.adapter_dir = Path(self.saved_model_file).with_suffix("")
        # facts about the run beyond metrics, reported by run_recbole_soft
        self.run_info: dict = {"llm_precision": model.precision, "learning_curve": []}
        self._validation_rows = None
        self._capped_train_data = None

    def fit_passes_to_memory(self, titles_per_row: int) -> None:
        """With ``likelihood_batch_size: auto``, split each training batch into micro-batches of the rows whose
        ``titles_per_row`` sequences fit in one pass of the GPU's free memory, when the batch does not. (Micro-batches
        also come from an out-of-memory error, or from DMPO's bound on its 1 + k titles per row.)"""
        if self.config["likelihood_batch_size"] == AUTO:
            self.limit_rows_per_pass(titles_per_row)

    def limit_rows_per_pass(self, titles_per_row: int) -> None:
        """Micro-batches of at most the rows whose ``titles_per_row`` sequences fit in one training pass
        (``LLMRecommender.rows_per_training_pass``); a batch no larger stays whole."""
        rows = self.model.rows_per_training_pass(titles_per_row)
        self.micro_batch_size = min(rows, self.micro_batch_size or rows)

    @property
    def learning_curve(self) -> list[dict]:
        """One row per trained epoch of every stage: stage, epoch, the training samples of the epoch, train_loss and
        (when validated) valid_score, which is the teacher-forced CE per title token with ``llm_valid_by: loss``."""
        return self.run_info["learning_curve"]

    def _build_optimizer(self, **kwargs):
        kwargs.setdefault("params", [p for p in self.model.parameters() if p.requires_grad])
        if self.learner.lower() == "paged_adamw_8bit":
            return paged_adamw_8bit(kwargs["params"], self.learning_rate, self.weight_decay, self.device)
        return super()._build_optimizer(**kwargs)

    def _build_lr_scheduler(self) -> torch.optim.lr_scheduler.LambdaLR:
        # SOFT's code: constant learning rate after a linear warm-up
        warmup = max(1, self.config["warmup_steps"])
        return torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda step: min(1.0, (step + 1) / warmup))

    def _autocast(self):
        """bf16 autocast when the base model computes in bf16, so the float32 LoRA layers run in bf16 too."""
        if self.model.compute_dtype == torch.bfloat16:
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def training_samples(self, train_data):
        """The seeded ``train_sample_num`` cap of ``train_data``, drawn once however many stages train on it."""
        if train_data is not self._capped_train_data:
            self._capped_train_data = cap_train_data(train_data, self.config["train_sample_num"], self.config["seed"])
            self.logger.info(set_color("LLM training samples", "blue") + f": {len(self._capped_train_data._dataset)}")
        return self._capped_train_data

    def fit(self, train_data, valid_data=None, verbose=True, saved=True, show_progress=False, callback_fn=None):
        """RecBole's fit for the current stage, resumable: the state is saved after every validated epoch."""
        train_data = self.training_samples(train_data)
        self.valid_data = valid_data  # the priors' γ are chosen on it before the test

        def fit(after_epoch):
            def after_each_epoch(epoch_idx, valid_score):
                after_epoch(epoch_idx, valid_score)
                if callback_fn:
                    callback_fn(epoch_idx, valid_score)

            return super(LLMTrainer, self).fit(train_data, valid_data, verbose, saved, show_progress, after_each_epoch)

        return resumable_fit(self, self.stage, train_data, fit, self._adapter_progress, self._restore_adapter_progress)

    # resuming: what a stage needs beyond the trainer's counters, optimizer and random states to continue exactly
    def _adapter_progress(self) -> dict:
        adapter = self.model.trainable_state()
        return {
            "adapter": {name: tensor.detach().cpu().clone() for name, tensor in adapter.items()},
            "lr_scheduler": self.lr_scheduler.state_dict(),
            "learning_curve": list(self.learning_curve),
            "trainer": self.resumable_state(),
        }

    def _restore_adapter_progress(self, progress: dict) -> None:
        self.model.load_trainable_state(progress["adapter"])
        self.lr_scheduler.load_state_dict(progress["lr_scheduler"])
        self.learning_curve[:] = progress.get("learning_curve", [])  # absent from states saved before it existed
        self.restore_resumable_state(progress["trainer"])

    def resumable_state(self) -> dict:
        """What a subclass keeps beyond weights and counters to continue a stage (e.g. SOFT's distances)."""
        return {}

    def restore_resumable_state(self, state: dict) -> None:
        """Inverse of ``resumable_state``."""

    # one epoch
    def _train_epoch(self, train_data, epoch_idx, loss_func=None, show_progress=False):
        """Mean loss per batch over the epoch; ``loss_func`` defaults to the model's (for BIGRec: the causal-LM
        cross-entropy of the real next title, prompt tokens masked)."""
        self.model.train()
        loss_func = loss_func or self.model.calculate_loss
        batches = (
            tqdm(train_data, total=len(train_data), ncols=100, desc=set_color(f"Train {epoch_idx:>5}", "pink"))
            if show_progress
            else train_data
        )
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        total = 0.0
        self.optimizer.zero_grad()
        for step, interaction in enumerate(batches, start=1):
            if self.config["hybrid_curriculum"]:
                self.model.hybrid_share = hybrid_share(epoch_idx * len(train_data) + step - 1, self.epochs * len(train_data))
            loss = self._backward_own_rows(loss_func, interaction, trainable)
            total += loss
            if step % self.accumulation_steps == 0 or step == len(train_data):
                sum_gradients(trainable)
                if self.clip_grad_norm:
                    clip_grad_norm_(trainable, **self.clip_grad_norm)
                self.optimizer.step()
                self.lr_scheduler.step()
                self.optimizer.zero_grad()
            if show_progress:
                batches.set_postfix(loss=f"{loss:.4f}")
        total = sum_over_processes(torch.tensor([total], dtype=torch.float64, device=self.device)).item()
        mean_loss = total / max(1, len(train_data))
        self.learning_curve.append(
            {"stage": self.stage, "epoch": epoch_idx, "samples": train_data.sample_size, "train_loss": mean_loss}
        )
        return mean_loss

    def _backward_own_rows(self, loss_func, interaction, trainable: list[torch.nn.Parameter]) -> float:
        """Accumulate the gradient of this process's block of the batch (the whole batch in a single process), weighted
        by its share of the batch's rows, so that the processes' summed gradients are those of the batch's mean over
        rows (DDP's equal average of the processes is the same when the blocks are equal); returns that share of
        the loss."""
        own = interaction[own_slice(len(interaction))]
        if len(own) == 0:
            return 0.0
        weight = len(own) / len(interaction)
        loss, self.micro_batch_size = backward_in_micro_batches(
            lambda part, share: self._backward(loss_func, part, share * weight), own, trainable, self.micro_batch_size
        )
        return loss

    def _backward(self, loss_func, interaction, share: float) -> float:
        """Accumulate the gradient of ``share`` of the batch's loss; returns that share of the loss."""
        with self._autocast():
            loss = loss_func(interaction.to(self.device))
        self._check_nan(loss)
        (loss * share / self.accumulation_steps).backward()
        return loss.item() * share

    def _valid_epoch(self, valid_data, show_progress=False):
        if not self.validate_by_loss:
            score, result = super()._valid_epoch(valid_data, show_progress)
            self._record_validation(score)
            return score, result
        if self._validation_rows is None:
            self._validation_rows = seeded_rows(valid_data._dataset, self.config["valid_sample_num"], self.config["seed"])
        with self._autocast():
            loss = self.model.validation_loss(self._validation_rows)
        self._record_validation(loss)
        return loss, {"valid_loss": round(loss, self.config["metric_decimal_place"])}

    def _record_validation(self, score: float) -> None:
        """The valid score beside the train loss of the epoch just trained: the learning curve of the run."""
        if self.learning_curve and "valid_score" not in self.learning_curve[-1]:
            self.learning_curve[-1]["valid_score"] = score

    def _save_checkpoint(self, epoch, verbose=True, **kwargs):
        """The best adapter so far, as a PEFT folder swapped in atomically (RecBole would pickle the whole model)."""
        target = Path(kwargs.pop("saved_model_file", self.adapter_dir))
        state = {"epoch": epoch, "best_valid_score": self.best_valid_score, "model": self.config["model"]}
        on_main_process(lambda: save_adapter_folder(self.model.save_adapter, target, state))
        if verbose:
            self.logger.info(set_color("Saving current adapter", "blue") + f": {target}")

    def tested_adapter(self, model_file: str | None) -> Path:
        return Path(model_file or self.adapter_dir)

    def load_best(self, model_file: str | None) -> None:
        folder = self.tested_adapter(model_file)
        self.model.load_adapter(folder)
        self.logger.info(f"Loading the best adapter from {folder}")


def paged_adamw_8bit(params, learning_rate: float, weight_decay: float, device: torch.device) -> torch.optim.Optimizer:
    """bitsandbytes' paged 8-bit AdamW (QLoRA's optimiser): 8-bit moments, paged to host memory under pressure."""
    if device.type != "cuda":
        raise InvalidSetting("learner='paged_adamw_8bit' needs a CUDA device; on CPU use learner: adamw.")
    import bitsandbytes as bnb

    return bnb.optim.PagedAdamW8bit(params, lr=learning_rate, weight_decay=weight_decay)
