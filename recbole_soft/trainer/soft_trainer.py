"""SOFTTrainer: supervised fine-tuning, self-distillation, then a self-adaptive curriculum on a fresh adapter."""
import contextlib
import csv
import hashlib
import json
from pathlib import Path

import torch
from peft import get_peft_model_state_dict
from recbole.utils import init_seed, set_color
from tqdm import tqdm

from recbole_soft.atomic import write_atomically
from recbole_soft.data import seeded_rows
from recbole_soft.llm.loading import folder_fingerprint
from recbole_soft.llm.prompts import prompt_key
from recbole_soft.trainer.curriculum import build_schedule
from recbole_soft.trainer.staged_trainer import StagedTrainer


class SOFTTrainer(StagedTrainer):
    """The three stages of SOFT (DESIGN.md 3.2), each reusing RecBole's fit loop:

    1. SFT: fine-tune an adapter on the real targets (early stopping), or load ``sft_adapter_path``;
    2. self-distillation: the SFT model answers every training prompt (beam search, top beam, raw text); the set is
       stored as JSONL and reused by any run with the same prompts, SFT adapter and decoding settings;
    3. curriculum: a fresh adapter trained on ``(1 - λ_e)·CE(real) + λ_e·CE(distilled)`` for ``curriculum_epochs``,
       λ_e from the schedule and the probe distance d measured after every epoch.
    """

    def __init__(self, config, model):
        super().__init__(config, model)
        self.schedule = build_schedule(config["curriculum"], config["curriculum_alpha"], config["curriculum_epochs"])
        self.curve: list[dict] = []
        self._probe = None

    # the three stages
    def fit(self, train_data, valid_data=None, verbose=True, saved=True, show_progress=False, callback_fn=None):
        train_data = self.training_samples(train_data)
        with self.timed_stage("sft"):
            self.supervised_fine_tuning(train_data, valid_data, verbose, show_progress)
        with self.timed_stage("distill"):
            self.model.distilled = self._distilled_targets(train_data, show_progress)
        with self.timed_stage("curriculum"):
            result = self._curriculum(train_data, valid_data, verbose, saved, show_progress, callback_fn)
        self._write_curve()
        return result

    def _curriculum(self, train_data, valid_data, verbose, saved, show_progress, callback_fn):
        init_seed(self.config["seed"], self.config["reproducibility"])
        self.model.reset_adapter()
        self.start_stage("curriculum", self.config["curriculum_epochs"], self.final_adapter_dir)
        self._probe = seeded_rows(train_data._dataset, self.config["curriculum_probe_num"], self.config["seed"])
        d0 = self._probe_distance(base_model=True)
        self.schedule.observe(d0)
        self.curve.append({"epoch": 0, "lambda": None, "distance": d0, "ce_real": None, "ce_distilled": None})
        self.logger.info(set_color("curriculum d_0 (base model)", "blue") + f": {d0:.4f}")
        return super().fit(train_data, valid_data, verbose, saved, show_progress, callback_fn)

    def resumable_state(self) -> dict:
        return {"schedule": self.schedule.state_dict(), "curve": self.curve}

    def restore_resumable_state(self, state: dict) -> None:
        if state:
            self.schedule.load_state_dict(state["schedule"])
            self.curve = state["curve"]

    # one curriculum epoch
    def _train_epoch(self, train_data, epoch_idx, loss_func=None, show_progress=False):
        if self.stage != "curriculum":
            return super()._train_epoch(train_data, epoch_idx, loss_func, show_progress)
        weight = self.schedule.weight()
        terms = {"ce_real": 0.0, "ce_distilled": 0.0}

        def curriculum_loss(interaction):
            mixed, real, distilled = self.model.curriculum_losses(interaction, weight)
            terms["ce_real"] += real.item()
            terms["ce_distilled"] += distilled.item()
            return mixed

        loss = super()._train_epoch(train_data, epoch_idx, curriculum_loss, show_progress)
        distance = self._probe_distance()
        self.schedule.observe(distance)
        record = {"epoch": epoch_idx + 1, "lambda": weight, "distance": distance}
        record.update({name: total / max(1, len(train_data)) for name, total in terms.items()})
        self.curve.append(record)
        self.logger.info(
            set_color("curriculum", "blue") + f" epoch {epoch_idx + 1}: lambda {weight:.4f}, d {distance:.4f}, "
            f"CE real {record['ce_real']:.4f}, CE distilled {record['ce_distilled']:.4f}"
        )
        for name in ("lambda", "distance", "ce_real", "ce_distilled"):
            self.tensorboard.add_scalar(f"curriculum/{name}", record[name], epoch_idx + 1)
        return loss

    def _valid_epoch(self, valid_data, show_progress=False):
        score, result = super()._valid_epoch(valid_data, show_progress)
        if self.stage == "curriculum" and self.curve:
            self.curve[-1]["valid_score"] = float(score)
        return score, result

    @torch.no_grad()
    def _probe_distance(self, base_model: bool = False) -> float:
        """Mean L2 distance between the embeddings of the model's answers and of the true items on the probe set."""
        was_training = self.model.training
        self.model.eval()
        prompts = self.model.prompts(self._probe.to(self.device))
        untuned = self.model.llm.disable_adapter() if base_model else contextlib.nullcontext()
        with untuned:
            answers = self.model.generate(prompts)
        truth = self.model.item_table()[self._probe[self.model.ITEM_ID].to(self.device)]
        distance = (self.model.grounder.embed(answers) - truth).norm(dim=1).mean().item()
        self.model.train(was_training)
        return distance

    # self-distillation
    def _distilled_targets(self, train_data, show_progress: bool) -> dict[str, str]:
        rows = train_data._dataset.inter_feat
        prompts = self.model.prompts(rows)
        targets = self.model.target_titles(rows)
        beams, constrained = self.config["distill_num_beams"], self.config["distill_constrained_decoding"]
        path = self._distill_dir() / f"distilled-{self._distill_fingerprint(prompts, beams, constrained)}.jsonl"
        if path.is_file():
            self.logger.info(f"Self-distilled set reused from {path}")
            return {record["key"]: record["distilled"] for record in map(json.loads, path.read_text().splitlines())}
        self.model.eval()
        unique_prompts = list(dict.fromkeys(prompts))
        answers = self._generate_with_progress(unique_prompts, beams, constrained, show_progress)
        distilled = {prompt_key(prompt): answer for prompt, answer in zip(unique_prompts, answers)}
        records = [
            {"key": prompt_key(p), "prompt": p, "target": t, "distilled": distilled[prompt_key(p)]}
            for p, t in zip(prompts, targets)
        ]
        _write_jsonl(path, records)
        self._log_distillation(records, path)
        return distilled

    def _generate_with_progress(self, prompts, beams, constrained, show_progress) -> list[str]:
        step = self.model.generation_batch_size
        starts = range(0, len(prompts), step)
        if show_progress:
            starts = tqdm(starts, ncols=100, desc=set_color("Distill    ", "pink"))
        answers = []
        for start in starts:
            answers += self.model.generate(prompts[start : start + step], beams, constrained)
        return answers

    def _distill_dir(self) -> Path:
        return Path(self.config["distill_dir"] or Path(self.config["checkpoint_dir"]) / "distilled")

    def _distill_fingerprint(self, prompts: list[str], beams: int, constrained: bool) -> str:
        """Same prompts, same SFT adapter, same base model and decoding: the same distilled set."""
        digest = hashlib.sha256()
        for name, tensor in sorted(get_peft_model_state_dict(self.model.llm).items()):
            digest.update(name.encode())
            digest.update(tensor.detach().float().cpu().numpy().tobytes())
        settings = [folder_fingerprint(self.model.llm_folder), self.model.quantization, beams, constrained,
                    self.model.max_new_tokens, self.model.length_penalty]
        digest.update(json.dumps(settings).encode())
        digest.update("\n".join(prompts).encode())
        return digest.hexdigest()[:16]

    def _log_distillation(self, records: list[dict], path: Path) -> None:
        catalogue = set(self.model.titles)
        total = len(records)
        real_title = sum(record["distilled"] in catalogue for record in records)
        true_item = sum(record["distilled"] == record["target"] for record in records)
        empty = sum(not record["distilled"] for record in records)
        self.logger.info(
            set_color("self-distilled set", "blue") + f": {total} answers written to {path}; "
            f"{real_title} ({real_title / total:.1%}) equal a real title, {true_item} ({true_item / total:.1%}) name "
            f"the true item, {empty} are empty"
        )
        self.run_info["distillation"] = {"answers": total, "real_title": real_title, "true_item": true_item,
                                         "empty": empty, "file": str(path)}

    # the curve
    def _write_curve(self) -> None:
        """λ and d per epoch beside the run's checkpoints: a CSV table and a PNG plot."""
        stem = self.final_adapter_dir.with_name(self.final_adapter_dir.name + "-curriculum")
        stem.parent.mkdir(parents=True, exist_ok=True)
        columns = ["epoch", "lambda", "distance", "ce_real", "ce_distilled", "valid_score"]
        with open(stem.with_suffix(".csv"), "w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=columns)
            writer.writeheader()
            writer.writerows({column: row.get(column) for column in columns} for row in self.curve)
        self._plot_curve(stem.with_suffix(".png"))
        self.run_info["curriculum_curve"] = self.curve
        self.run_info["curriculum_files"] = [str(stem.with_suffix(".csv")), str(stem.with_suffix(".png"))]

    def _plot_curve(self, path: Path) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        figure, distance_axis = plt.subplots(figsize=(6, 3.5))
        epochs = [row["epoch"] for row in self.curve]
        distance_axis.plot(epochs, [row["distance"] for row in self.curve], "o-", color="tab:blue", label="d (probe)")
        distance_axis.set_xticks(epochs)
        distance_axis.set_xlabel("curriculum epoch (0 = base model)")
        distance_axis.set_ylabel("mean L2 distance d", color="tab:blue")
        weight_axis = distance_axis.twinx()
        trained = [row for row in self.curve if row["lambda"] is not None]
        weight_axis.plot([r["epoch"] for r in trained], [r["lambda"] for r in trained], "s--", color="tab:red")
        weight_axis.set_ylabel("λ (weight of distilled data)", color="tab:red")
        weight_axis.set_ylim(-0.05, 1.05)
        distance_axis.set_title(f"SOFT curriculum ({self.config['curriculum']}, α={self.config['curriculum_alpha']})")
        figure.tight_layout()
        figure.savefig(path, dpi=120)
        plt.close(figure)


def _write_jsonl(path: Path, records: list[dict]) -> None:
    """Write then rename, so an interrupted run never leaves a half-written set that a later run would reuse."""
    text = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
    write_atomically(path, lambda partial: partial.write_text(text))
