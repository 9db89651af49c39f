"""Prompts from RecBole sequences: an instruction plus the titles of a user's last ``history_len`` items (in a hybrid
prompt, each title followed by a placeholder for the item's collaborative vector)."""
import hashlib
from collections.abc import Sequence

import torch
from transformers import PreTrainedTokenizerBase

from recbole_soft.llm.hybrid import ITEM_PLACEHOLDER, HybridPrompt


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
        item_token_offset: int | None = None,
    ):
        self.tokenizer = tokenizer
        self.titles = titles
        self.template = template
        self.domain = domain
        self.history_len = history_len
        self.system_prompt = system_prompt
        self.uses_chat_template = tokenizer.chat_template is not None
        # hybrid prompts: item i's placeholder becomes token ``item_token_offset + i`` (see llm/hybrid.py)
        self.item_token_offset = item_token_offset
        self.placeholder_token = tokenizer.convert_tokens_to_ids(ITEM_PLACEHOLDER) if item_token_offset is not None else None

    def recent_items(self, item_ids: torch.Tensor, length: int) -> list[int]:
        """The last ``history_len`` items of one padded RecBole sequence, oldest first."""
        return item_ids[max(0, int(length) - self.history_len) : int(length)].tolist()

    def history(self, item_ids: torch.Tensor, length: int) -> list[str]:
        """Titles of the last ``history_len`` items of one padded RecBole sequence, oldest first."""
        return [self.titles[item] for item in self.recent_items(item_ids, length)]

    def instruction(self, history: list[str], hybrid: bool = False) -> str:
        suffix = f" {ITEM_PLACEHOLDER}" if hybrid else ""
        listed = "\n".join(f"{position}. {title}{suffix}" for position, title in enumerate(history, start=1))
        return self.template.format(domain=self.domain, history=listed)

    def prompt(self, history: list[str], demonstrations: list[tuple[list[str], str]] = (), hybrid: bool = False) -> str:
        """The full prompt text; ``demonstrations`` (history, answer) become earlier turns of the conversation."""
        turns = []
        for demo_history, answer in demonstrations:
            turns += [("user", self.instruction(demo_history)), ("assistant", answer)]
        turns.append(("user", self.instruction(history, hybrid)))
        return self._conversation(turns, self.system_prompt)

    def instruction_prompt(self, instruction: str) -> str:
        """A free instruction (not a recommendation) as a one-turn prompt, without the recommender's system prompt."""
        return self._conversation([("user", instruction)], None)

    def _conversation(self, turns: list[tuple[str, str]], system_prompt: str | None) -> str:
        """The turns in the LLM's chat format, ending where the assistant's answer starts."""
        if self.uses_chat_template:
            messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
            messages += [{"role": role, "content": content} for role, content in turns]
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        plain = [f"{content}\n" if role == "user" else f"{content}{self.tokenizer.eos_token}\n" for role, content in turns]
        return "".join(plain)

    def prompts(
        self, item_id_list: torch.Tensor, item_length: torch.Tensor, demonstrations=(), hybrid: Sequence[bool] | None = None
    ) -> list[str]:
        """One prompt per row of a RecBole batch; the rows ``hybrid`` marks are hybrid prompts (needs
        ``item_token_offset``), the others text only."""
        hybrid = hybrid if hybrid is not None else [False] * len(item_length)
        return [
            self.hybrid_prompt(items, length, demonstrations) if is_hybrid else self.prompt(self.history(items, length), demonstrations)
            for items, length, is_hybrid in zip(item_id_list.cpu(), item_length.cpu(), hybrid)
        ]

    def hybrid_prompt(self, item_ids: torch.Tensor, length: int, demonstrations=()) -> HybridPrompt:
        """The prompt with a placeholder after each history title, standing for that item's vector."""
        if self.item_token_offset is None:
            raise ValueError("Hybrid prompts need item_token_offset (the LLM's hybrid input embedding).")
        items = self.recent_items(item_ids, length)
        text = self.prompt([self.titles[item] for item in items], demonstrations, hybrid=True)
        return HybridPrompt(text, self.placeholder_token, [self.item_token_offset + item for item in items])
