"""SOFTTrainer: supervised fine-tuning, self-distillation, then a self-adaptive curriculum on a fresh adapter."""
import contextlib

import torch
from recbole.utils import set_color

from recbole_soft.data import seeded_rows
from recbole_soft.distributed import on_main_process, sum_over_processes
from recbole_soft.trainer.curriculum import CurriculumCurve, build_schedule
from recbole_soft.trainer.distillation import SelfDistillation
from recbole_soft.trainer.staged_trainer import StagedTrainer


class SOFTTrainer(StagedTrainer):
    """The three stages of SOFT (Tang et al., arXiv 2505.20771), each reusing RecBole's fit loop:

    1. SFT: fine-tune an adapter on the real targets (early stopping), or load ``sft_adapter_path``;
    2. self-distillation (``distillation.SelfDistillation``): the SFT model answers every training prompt;
    3. curriculum: a fresh adapter trained on ``(1 - λ_e)·CE(real) + λ_e·CE(distilled)`` for ``curriculum_epochs``,
       λ_e from the schedule (``curriculum``) and the probe distance d measured after every epoch.
    """

    def __init__(self, config, model):
        super().__init__(config, model)
        self.schedule = build_schedule(config["curriculum"], config["curriculum_alpha"], config["curriculum_epochs"])
        self.curve = CurriculumCurve()
        self._probe = None

    # the three stages
    def fit(self, train_data, valid_data=None, verbose=True, saved=True, show_progress=False, callback_fn=None):
        train_data = self.training_samples(train_data)
        with self.timed_stage("sft"):
            self.supervised_fine_tuning(train_data, valid_data, verbose, show_progress)
        with self.timed_stage("distill"):
            distillation = SelfDistillation(self.model, self.config, self.logger)
            self.model.distilled, self.run_info["distillation"] = distillation.answers(
                train_data._dataset.inter_feat, show_progress
            )
        with self.timed_stage("curriculum"):
            result = self._curriculum(train_data, valid_data, verbose, saved, show_progress, callback_fn)
        self._write_curve()
        return result

    def _curriculum(self, train_data, valid_data, verbose, saved, show_progress, callback_fn):
        self.seed_stage(train_data)  # the distillation before it may have drawn, or have been read from disk
        self.model.reset_adapter()
        self.start_stage("curriculum", self.config["curriculum_epochs"], self.final_adapter_dir)
        self.fit_passes_to_memory(titles_per_row=2)  # each row trains on its real and its distilled title
        self._probe = seeded_rows(train_data._dataset, self.config["curriculum_probe_num"], self.config["seed"])
        d0 = self._probe_distance(base_model=True)
        self.schedule.observe(d0)
        self.curve.add(epoch=0, **{"lambda": None}, distance=d0, ce_real=None, ce_distilled=None)
        self.logger.info(set_color("curriculum d_0 (base model)", "blue") + f": {d0:.4f}")
        return super().fit(train_data, valid_data, verbose, saved, show_progress, callback_fn)

    def resumable_state(self) -> dict:
        return {"schedule": self.schedule.state_dict(), "curve": self.curve.rows}

    def restore_resumable_state(self, state: dict) -> None:
        if state:
            self.schedule.load_state_dict(state["schedule"])
            self.curve = CurriculumCurve(state["curve"])

    # one curriculum epoch
    def _train_epoch(self, train_data, epoch_idx, loss_func=None, show_progress=False):
        if self.stage != "curriculum":
            return super()._train_epoch(train_data, epoch_idx, loss_func, show_progress)
        weight = self.schedule.weight()
        totals = torch.zeros(3, dtype=torch.float64)  # the two cross-entropies summed over rows, and the rows

        def curriculum_loss(interaction):
            mixed, real, distilled = self.model.curriculum_losses(interaction, weight)
            totals.add_(torch.tensor([real.item(), distilled.item(), 1.0], dtype=torch.float64) * len(interaction))
            return mixed

        loss = super()._train_epoch(train_data, epoch_idx, curriculum_loss, show_progress)
        distance = self._probe_distance()
        self.schedule.observe(distance)
        # the epoch's mean per row, over every process's rows (each trained its block of every batch)
        real, distilled, rows = sum_over_processes(totals.to(self.device)).tolist()
        record = {"epoch": epoch_idx + 1, "lambda": weight, "distance": distance,
                  "ce_real": real / max(1.0, rows), "ce_distilled": distilled / max(1.0, rows)}
        self.curve.add(**record)
        self.logger.info(
            set_color("curriculum", "blue") + f" epoch {epoch_idx + 1}: lambda {weight:.4f}, d {distance:.4f}, "
            f"CE real {record['ce_real']:.4f}, CE distilled {record['ce_distilled']:.4f}"
        )
        for name in ("lambda", "distance", "ce_real", "ce_distilled"):
            self.tensorboard.add_scalar(f"curriculum/{name}", record[name], epoch_idx + 1)
        return loss

    def _valid_epoch(self, valid_data, show_progress=False):
        score, result = super()._valid_epoch(valid_data, show_progress)
        if self.stage == "curriculum" and self.curve.rows:
            self.curve.rows[-1]["valid_score"] = float(score)
        return score, result

    @torch.no_grad()
    def _probe_distance(self, base_model: bool = False) -> float:
        """d: the mean L2 distance, over the probe set, between the grounding embedding of the model's answer and
        that of the true item; ``base_model`` gives d_0 (adapters off).

        As in the official code, the answer is the top beam's raw text (``curriculum_probe_beams`` beams, never
        constrained to the catalogue: a constrained answer is always a real title and hides how far the model's own
        text is), embedded by the base LLM with adapters off (the grounder's encoder), last token.
        """
        was_training = self.model.training
        self.model.eval()
        prompts = self.model.prompts(self._probe.to(self.device))
        untuned = self.model.llm.disable_adapter() if base_model else contextlib.nullcontext()
        with untuned:
            answers = self.model.generate(prompts, self.config["curriculum_probe_beams"], constrained=False,
                                          show_progress=self.config["show_progress"])
        truth = self.model.item_table()[self._probe[self.model.ITEM_ID].to(self.device)]
        distance = (self.model.grounder.embed(answers) - truth).norm(dim=1).mean().item()
        self.model.train(was_training)
        return distance

    def _write_curve(self) -> None:
        """λ and d per epoch beside the run's checkpoints: a CSV table and a PNG plot."""
        stem = self.final_adapter_dir.with_name(self.final_adapter_dir.name + "-curriculum")
        title = f"SOFT curriculum ({self.config['curriculum']}, α={self.config['curriculum_alpha']})"
        files = self.curve.files(stem)
        on_main_process(lambda: self.curve.write(stem, title))
        self.run_info["curriculum_curve"] = self.curve.rows
        self.run_info["curriculum_files"] = [str(file) for file in files]
