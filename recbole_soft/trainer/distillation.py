"""SOFT's self-distillation (stage 2): the SFT model answers its own training prompts, and its answers ŷ_i form the
easier dataset D̂ = {(x_i, ŷ_i)} that the curriculum starts from.

As in the paper and its official code, an answer is the top beam's raw text, not snapped to a real item (unless
``distill_constrained_decoding`` asks for it). The set is stored as JSONL, one record per training row (key, prompt,
real target, distilled answer), and reused by any run with the same prompts, SFT adapter, base model and decoding.
"""
import hashlib
import json
from logging import Logger
from pathlib import Path

from recbole.utils import set_color

from recbole_soft.atomic import write_atomically
from recbole_soft.distributed import main_process_value, on_main_process
from recbole_soft.llm.loading import folder_fingerprint
from recbole_soft.llm.prompts import prompt_key


class SelfDistillation:
    def __init__(self, model, config, logger: Logger):
        self.model, self.logger = model, logger
        self.num_beams, self.constrained = config["distill_num_beams"], config["distill_constrained_decoding"]
        self.folder = Path(config["distill_dir"] or Path(config["checkpoint_dir"]) / "distilled")

    def answers(self, rows, show_progress: bool) -> tuple[dict[str, str], dict]:
        """prompt key -> distilled answer for every training row, and facts about the set (size, file, shares)."""
        prompts, targets = self.model.prompts(rows), self.model.target_titles(rows)
        path = self.folder / f"distilled-{self._fingerprint(prompts)}.jsonl"
        # the main process's file for all: the fingerprint reads the base model's files, which differ per machine
        path, reused = main_process_value((path, path.is_file()))
        if reused:
            self.logger.info(f"Self-distilled set reused from {path}")
            records = [json.loads(line) for line in path.read_text().splitlines()]
        else:
            records = self._distil(prompts, targets, show_progress)
            text = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
            # never a half-written set to reuse; under accelerate launch the processes generated it together
            on_main_process(lambda: write_atomically(path, lambda partial: partial.write_text(text)))
        facts = {**self._describe(records, path), "reused": reused}
        return {record["key"]: record["distilled"] for record in records}, facts

    def _distil(self, prompts: list[str], targets: list[str], show_progress: bool) -> list[dict]:
        self.model.eval()
        unique = list(dict.fromkeys(prompts))
        answers = self.model.generate(unique, self.num_beams, self.constrained, show_progress)
        distilled = {prompt_key(prompt): answer for prompt, answer in zip(unique, answers)}
        return [
            {"key": prompt_key(p), "prompt": p, "target": t, "distilled": distilled[prompt_key(p)]}
            for p, t in zip(prompts, targets)
        ]

    def _fingerprint(self, prompts: list[str]) -> str:
        """Same prompts, same SFT adapter, same base model and decoding: the same distilled set."""
        digest = hashlib.sha256()
        for name, tensor in sorted(self.model.trainable_state().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().float().cpu().numpy().tobytes())
        decoding = self.model.decoding
        settings = [folder_fingerprint(self.model.llm_folder), self.model.precision, self.num_beams, self.constrained,
                    decoding.max_new_tokens, decoding.length_penalty]
        digest.update(json.dumps(settings).encode())
        digest.update("\n".join(prompts).encode())
        return digest.hexdigest()[:16]

    def _describe(self, records: list[dict], path: Path) -> dict:
        catalogue = set(self.model.titles)
        total = len(records)
        real_title = sum(record["distilled"] in catalogue for record in records)
        true_item = sum(record["distilled"] == record["target"] for record in records)
        empty = sum(not record["distilled"] for record in records)
        self.logger.info(
            set_color("self-distilled set", "blue") + f": {total} answers in {path}; "
            f"{real_title} ({real_title / total:.1%}) equal a real title, {true_item} ({true_item / total:.1%}) name "
            f"the true item, {empty} are empty"
        )
        return {"answers": total, "real_title": real_title, "true_item": true_item, "empty": empty, "file": str(path)}
