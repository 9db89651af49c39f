"""Prompts from RecBole sequences: an instruction plus the titles of a user's last ``history_len`` items."""
import hashlib

import torch
from transformers import PreTrainedTokenizerBase


def prompt_key(prompt: str) -> str:
    """Names a training prompt in stored per-prompt data (distilled answers, preference candidates)."""
    return hashlib.sha256(prompt.encode()).hexdigest()[:20]


class PromptBuilder:
    """Turns RecBole's ``item_id_list``/``item_length`` into prompt strings, in the LLM's chat format when it has one."""

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        titles: list[str],
        template: str,
        domain: str,
        history_len: int,
        system_prompt: str | None = None,
    ):
        self.tokenizer = tokenizer
        self.titles = titles
        self.template = template
        self.domain = domain
        self.history_len = history_len
        self.system_prompt = system_prompt
        self.uses_chat_template = tokenizer.chat_template is not None

    def history(self, item_ids: torch.Tensor, length: int) -> list[str]:
        """Titles of the last ``history_len`` items of one padded RecBole sequence, oldest first."""
        recent = item_ids[max(0, int(length) - self.history_len) : int(length)].tolist()
        return [self.titles[item] for item in recent]

    def instruction(self, history: list[str]) -> str:
        listed = "\n".join(f"{position}. {title}" for position, title in enumerate(history, start=1))
        return self.template.format(domain=self.domain, history=listed)

    def prompt(self, history: list[str], demonstrations: list[tuple[list[str], str]] = ()) -> str:
        """The full prompt text; ``demonstrations`` (history, answer) become earlier turns of the conversation."""
        turns = []
        for demo_history, answer in demonstrations:
            turns += [("user", self.instruction(demo_history)), ("assistant", answer)]
        turns.append(("user", self.instruction(history)))
        if self.uses_chat_template:
            messages = [{"role": "system", "content": self.system_prompt}] if self.system_prompt else []
            messages += [{"role": role, "content": content} for role, content in turns]
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        plain = [f"{content}\n" if role == "user" else f"{content}{self.tokenizer.eos_token}\n" for role, content in turns]
        return "".join(plain)

    def prompts(self, item_id_list: torch.Tensor, item_length: torch.Tensor, demonstrations=()) -> list[str]:
        """One prompt per row of a RecBole batch."""
        return [
            self.prompt(self.history(items, length), demonstrations)
            for items, length in zip(item_id_list.cpu(), item_length.cpu())
        ]
