"""Generating titles: batched beam search, optionally constrained to a trie of the catalogue's real titles (D3)."""
import itertools
from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase

from recbole_soft.compat import kv_cache_keyword, kv_cache_of
from recbole_soft.llm.likelihood import (
    EncodedPrompts,
    encode_prompts,
    left_padded_prompts,
    log_probs_after,
    target_ids,
)
from recbole_soft.llm.memory import in_batches


class _Node:
    __slots__ = ("children", "title", "count", "_tokens")

    def __init__(self):
        self.children: dict[int, "_Node"] = {}
        self.title: str | None = None  # set on the node reached by a whole title and its end-of-sequence token
        self.count = 0  # how many titles pass through this node
        self._tokens: torch.Tensor | None = None

    def tokens(self) -> torch.Tensor:
        """The children's token ids as a tensor (built once: beam search asks for it at every step)."""
        if self._tokens is None:
            self._tokens = torch.tensor(list(self.children), dtype=torch.long)
        return self._tokens


class TitleTrie:
    """Prefix tree over the token sequences of every item title (each ending in end-of-sequence)."""

    def __init__(self, sequences: list[list[int]], titles: list[str] | None = None):
        self.root = _Node()
        self.paths: dict[str, list[_Node]] = {}  # title -> the nodes its tokens pass through
        for index, sequence in enumerate(sequences):
            node, path = self.root, [self.root]
            for token in sequence:
                node = node.children.setdefault(token, _Node())
                path.append(node)
            for passed in path:
                passed.count += 1
            if titles is not None:
                node.title = titles[index]
                self.paths[titles[index]] = path

    def closed_nodes(self, excluded: list[str]) -> set[int]:
        """Ids of the nodes all of whose titles are in ``excluded``: a beam search never enters them."""
        passing: dict[int, list] = {}  # node id -> [node, excluded titles through it]
        for title in set(excluded):
            for node in self.paths.get(title, []):
                passing.setdefault(id(node), [node, 0])[1] += 1
        return {node_id for node_id, (node, count) in passing.items() if count == node.count}

    @classmethod
    def from_titles(cls, tokenizer: PreTrainedTokenizerBase, titles: list[str]) -> "TitleTrie":
        distinct = list(dict.fromkeys(title for title in titles if title))
        return cls([target_ids(tokenizer, title) for title in distinct], distinct)

    def next_tokens(self, prefix: list[int]) -> list[int]:
        """Tokens that continue ``prefix`` towards a real title; empty once a title is complete or left."""
        node = self.root
        for token in prefix:
            node = node.children.get(token)
            if node is None:
                return []
        return list(node.children)


@dataclass(frozen=True)
class Decoding:
    """How titles are decoded: beam width, token budget, length normalisation, and the title trie if constrained.

    ``length_penalty`` 0 ranks beams by their summed log-probability, without length normalisation, as D3 does
    (Bao et al., "Decoding Matters", 2024): normalising favours long titles whose later tokens are near-certain.
    """

    num_beams: int
    max_new_tokens: int
    length_penalty: float = 1.0
    trie: TitleTrie | None = None


class TitleGenerator:
    """The one place where prompts are batched for generation: ``batch_size`` prompts at a time, halved (for the
    rest of the run) when a batch does not fit in GPU memory."""

    def __init__(self, model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, batch_size: int):
        self.model, self.tokenizer, self.batch_size = model, tokenizer, batch_size

    @torch.no_grad()
    def rank(
        self,
        prompts: list[str],
        trie: TitleTrie,
        k: int,
        max_new_tokens: int,
        excluded: list[list[str]] | None = None,
        scored: list[list[str]] | None = None,
        show_progress: bool = False,
    ) -> tuple[list[list[tuple[str, float]]], list[list[float]]]:
        """For each prompt, up to ``k`` distinct catalogue titles with their summed log-probabilities, best first;
        ``excluded[i]`` are titles the search for prompt i never returns (nor spends a beam on). Also, per prompt,
        the summed log-probabilities of the titles ``scored[i]`` (any titles, the same count per prompt; none when
        ``scored`` is None), from the prompt encoding the beams start from: a test pass so also measures the pairwise
        AUC without encoding its prompts a second time."""
        rows = list(zip(prompts, excluded or [[] for _ in prompts], scored or [[] for _ in prompts]))
        outputs, self.batch_size = in_batches(
            lambda batch: _rank_batch(self.model, self.tokenizer, batch, trie, k, max_new_tokens),
            rows,
            self.batch_size,
            "ranking titles",
            show_progress,
        )
        return [titles for titles, _ in outputs], [log_probs for _, log_probs in outputs]

    @torch.no_grad()
    def generate(self, prompts: list[str], decoding: Decoding, show_progress: bool = False) -> list[str]:
        """The top beam's text for each prompt, stopped at end-of-sequence."""
        titles, self.batch_size = in_batches(
            lambda batch: _generate_batch(self.model, self.tokenizer, batch, decoding),
            prompts,
            self.batch_size,
            "generating titles",
            show_progress,
        )
        return titles


def _generate_batch(model, tokenizer, prompts: list[str], decoding: Decoding) -> list[str]:
    input_ids, attention_mask = left_padded_prompts(tokenizer, prompts)
    width = input_ids.size(1)
    device = next(model.parameters()).device
    constraint = None
    if decoding.trie is not None:
        trie = decoding.trie

        def constraint(_batch_id: int, sequence: torch.Tensor) -> list[int]:
            return trie.next_tokens(sequence[width:].tolist()) or [tokenizer.eos_token_id]

    beams = decoding.num_beams
    beam_options = {"num_beams": beams, "length_penalty": decoding.length_penalty} if beams > 1 else {}
    output = model.generate(
        input_ids=input_ids.to(device),
        attention_mask=attention_mask.to(device),
        do_sample=False,
        max_new_tokens=decoding.max_new_tokens,
        prefix_allowed_tokens_fn=constraint,
        **beam_options,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return [text.strip() for text in tokenizer.batch_decode(output[:, width:], skip_special_tokens=True)]


@dataclass
class _Beam:
    prompt: int  # which prompt of the batch
    row: int  # its row in the model's last batch (and KV cache)
    node: _Node
    score: float  # summed log-probability of the tokens so far
    token: int = -1  # the token this beam appends at the next step


def _rank_batch(
    model, tokenizer, rows: list[tuple[str, list[str], list[str]]], trie: TitleTrie, k: int, max_new_tokens: int
) -> list[tuple[list[tuple[str, float]], list[float]]]:
    """Beam search of width ``k`` over the title trie, the D3 way: beams are scored by their summed token
    log-probability (no length normalisation), and a beam that ends a title is a finished, distinct item.

    Each prompt is encoded once and its KV cache is shared by its beams (the library's beam search would encode
    the prompt once per beam). A prompt stops when it has ``k`` titles and no live beam can beat the worst of them
    (log-probabilities only fall), or at ``max_new_tokens``. Each row's excluded titles are cut from its trie; its
    scored titles are scored from a fork of the same encoding.
    """
    prompts = [prompt for prompt, _, _ in rows]
    closed = [trie.closed_nodes(excluded) for _, excluded, _ in rows]
    encoded = encode_prompts(model, tokenizer, prompts)
    scored = _scored_log_probs(model, tokenizer, encoded, [titles for _, _, titles in rows], k)
    cache, attention_mask, next_position = encoded.cache, encoded.attention_mask, encoded.next_position
    device, cache_keyword = attention_mask.device, kv_cache_keyword(model)
    log_probs = torch.log_softmax(encoded.next_logits.float(), dim=-1)
    beams = [_Beam(prompt, prompt, trie.root, 0.0) for prompt in range(len(prompts))]
    finished: list[list[tuple[str, float]]] = [[] for _ in prompts]
    for _ in range(max_new_tokens):
        beams = _extend(beams, _children_scores(beams, log_probs), finished, k, closed)
        if not beams:
            break
        parents = torch.tensor([beam.row for beam in beams], device=device)
        tokens = torch.tensor([beam.token for beam in beams], device=device)
        cache.reorder_cache(parents)
        attention_mask = torch.cat([attention_mask[parents], attention_mask.new_ones(len(beams), 1)], dim=1)
        next_position = next_position[parents]
        output = model(
            input_ids=tokens[:, None], attention_mask=attention_mask, position_ids=next_position[:, None],
            use_cache=True, **{cache_keyword: cache},
        )
        cache, next_position = kv_cache_of(output), next_position + 1
        log_probs = torch.log_softmax(output.logits[:, -1].float(), dim=-1)
        for row, beam in enumerate(beams):
            beam.row = row
    return list(zip([sorted(titles, key=lambda pair: -pair[1]) for titles in finished], scored))


def _scored_log_probs(
    model, tokenizer, encoded: EncodedPrompts, titles: list[list[str]], k: int
) -> list[list[float]]:
    """Per prompt, the summed log-probability of each of its ``titles`` (the same count per prompt, or none), a few
    prompts at a time: no more prompt + title rows at once than the batch's k beams per prompt, the memory its size
    was chosen for."""
    per_prompt = len(titles[0])
    if not per_prompt:
        return [[] for _ in titles]
    scored, step = [], max(1, len(titles) * k // per_prompt)
    for start in range(0, len(titles), step):
        rows = torch.arange(start, min(start + step, len(titles)), device=encoded.next_logits.device)
        log_probs, _ = log_probs_after(model, tokenizer, encoded.select(rows), titles[start : start + step])
        scored += log_probs.tolist()
    return scored


def _children_scores(beams: list[_Beam], log_probs: torch.Tensor) -> list[list[float]]:
    """Per beam, its score plus the log-probability of each token its trie node allows (in ``node.tokens()`` order),
    summed in float32 on the model's device: only these values cross to the host, once per step (the whole
    ``[beams, vocabulary]`` matrix would be ~100 MB per step for 64 users x 10 beams and a 49k vocabulary)."""
    allowed = [beam.node.tokens() for beam in beams]
    counts = torch.tensor([len(tokens) for tokens in allowed])
    if not counts.sum():
        return [[] for _ in beams]
    device = log_probs.device
    rows = torch.repeat_interleave(torch.tensor([beam.row for beam in beams]), counts).to(device)
    scores = torch.repeat_interleave(torch.tensor([beam.score for beam in beams]), counts).to(device)
    values = (scores + log_probs[rows, torch.cat(allowed).to(device)]).tolist()
    starts = [0, *itertools.accumulate(counts.tolist())]
    return [values[start:end] for start, end in zip(starts, starts[1:])]


def _extend(
    beams: list[_Beam],
    children_scores: list[list[float]],
    finished: list[list[tuple[str, float]]],
    k: int,
    closed: list[set[int]],
) -> list[_Beam]:
    """The next live beams (each with the ``token`` it appends); titles completed on the way go to ``finished``.
    ``children_scores[i]``: beam i's score after each token its trie node allows."""
    by_prompt: dict[int, list[tuple[_Beam, list[float]]]] = {}
    for beam, scores in zip(beams, children_scores):
        by_prompt.setdefault(beam.prompt, []).append((beam, scores))
    extended = []
    for prompt, live in by_prompt.items():
        candidates = []  # (score, beam, child token, child node)
        for beam, scores in live:
            tokens = beam.node.tokens().tolist()
            candidates += [(score, beam, token, beam.node.children[token]) for score, token in zip(scores, tokens)]
        candidates.sort(key=lambda candidate: -candidate[0])
        titles, kept = finished[prompt], []
        for score, beam, token, node in candidates:
            if len(titles) >= k and score <= titles[-1][1]:
                break  # nothing below can enter the top k: scores only fall as tokens are added
            if id(node) in closed[prompt]:
                continue
            if node.title is not None:
                titles.append((node.title, score))
                titles.sort(key=lambda pair: -pair[1])
                del titles[k:]
            elif len(kept) < k:
                kept.append(_Beam(prompt, beam.row, node, score, token))
            if len(kept) >= k and len(titles) >= k:
                break
        extended += kept
    return extended
