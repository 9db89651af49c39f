"""The backbone every LLM model of the plugin shares (BIGRec-style): prompt -> generate a title -> ground to items."""
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from logging import getLogger
from pathlib import Path

import numpy as np
import torch
from peft import get_peft_model, get_peft_model_state_dict, load_peft_weights, set_peft_model_state_dict
from peft.tuners.lora import LoraLayer
from recbole.data.interaction import Interaction
from recbole.model.abstract_recommender import SequentialRecommender
from recbole.utils import InputType

from recbole_soft.atomic import current_folder
from recbole_soft.data import load_item_titles
from recbole_soft.data.item_text import items_by_title
from recbole_soft.distributed import main_process_first, main_process_value, sum_over_processes
from recbole_soft.errors import InvalidSetting
from recbole_soft.settings import AUTO
from recbole_soft.llm.generation import Decoding, TitleGenerator, TitleTrie
from recbole_soft.llm.grounding import Grounder, item_table_key, l2_scores
from recbole_soft.llm.hybrid import PROJECTOR_FILE, HybridEmbedding, add_placeholder_token, install_hybrid_embedding
from recbole_soft.llm.likelihood import (
    encode_targets,
    prompt_ids,
    shared_prompt_log_probs,
    target_cross_entropy,
    target_ids,
    target_log_probs,
    whole_sequence_log_probs,
)
from recbole_soft.llm.loading import (
    adapter_base_model,
    cache_root,
    folder_fingerprint,
    load_causal_lm,
    lora_config,
    name_adapter_base_model,
    portable_model_name,
    resolve_dtype,
    resolve_llm_folder,
    resolve_quantization,
)
from recbole_soft.llm.memory import CPU_BATCH_SIZES, Output, SequenceCost, batch_for_free_memory, over_own_rows
from recbole_soft.llm.prompts import PromptBuilder
from recbole_soft.model.answers import AnswerLog
from recbole_soft.model.pairwise_auc import PairsScoredInPass, pairwise_wins
from recbole_soft.model.prior import build_priors, with_prior
from recbole_soft.model.restored import item_embeddings, restore_recbole_model

HYBRID_PREFIX = "hybrid_embedding."  # names of the projector and item vectors in a trainable state
BASE_MODEL_FILE = "base_model.json"  # in a saved adapter folder: the exact base LLM it was trained on
# Items the beam search ranked score this plus their log-probability, above every item ranked by distance (<= 0).
BEAM_RANKED_OFFSET = 1e6


class LLMRecommender(SequentialRecommender):
    """A causal LM as a RecBole sequential model.

    ``full_sort_predict`` scores every item for each user's history, so RecBole's full-ranking metrics apply
    unchanged. With ``ranking_beams`` = K > 0 (and constrained decoding), a beam search over the catalogue's titles
    gives up to K distinct items, ranked first by their sequence log-probability (D3's ranking); every other item
    follows by its L2 distance to those titles' embeddings, weighted by the beams' probabilities. With K = 0, the
    top answer alone is embedded by the frozen base LLM and every item scored by its distance to it (BIGRec's
    grounding). Subclasses that train (``trains_adapter``) wrap the LLM with a LoRA adapter.
    """

    input_type = InputType.POINTWISE
    trains_adapter = True
    # what RecBole's checkpoint keeps beside the weights: each prior's γ, chosen on validation after training
    other_parameter_name = ["prior_gammas"]

    def __init__(self, config, dataset):
        super().__init__(config, dataset)
        self.dataset_name = config["dataset"]
        self.show_progress = config["show_progress"]
        self.titles = load_item_titles(config, dataset)
        self.cache_dir = cache_root(config["llm_cache_dir"])
        self.revision = config["llm_revision"]
        self.llm_folder = main_process_first(lambda: resolve_llm_folder(config["llm_path"], self.cache_dir, self.revision))
        self.base_model_name = portable_model_name(config["llm_path"])
        self.quantization = resolve_quantization(config["quantization"], self.device)
        self.compute_dtype = resolve_dtype(config["llm_dtype"], self.device)
        base, self.tokenizer = load_causal_lm(
            self.llm_folder, self.quantization, self.device, config["gradient_checkpointing"], self.compute_dtype
        )
        self.hybrid_embedding = self._hybrid_embedding(config, dataset, base) if config["item_representation"] == "hybrid" else None
        self.hybrid_share = 1.0  # the share of hybrid training prompts (LLaRA's curriculum moves it from 0 to 1)
        if self.trains_adapter:
            adapter = lora_config(
                config["lora_r"], config["lora_alpha"], config["lora_dropout"], config["lora_target_modules"]
            )
            self.llm = get_peft_model(base, adapter)
            if self.hybrid_embedding is not None:
                self.hybrid_embedding.projector.requires_grad_(True)  # PEFT froze everything but LoRA
        else:
            self.llm = base
        self.prompter = PromptBuilder(
            self.tokenizer,
            self.titles,
            config["prompt_template"],
            config["item_domain"],
            config["history_len"],
            config["system_prompt"],
            self.hybrid_embedding.offset if self.hybrid_embedding is not None else None,
        )
        self.trie = TitleTrie.from_titles(self.tokenizer, self.titles) if config["constrained_decoding"] else None
        self.decoding = Decoding(config["num_beams"], config["max_new_tokens"], config["length_penalty"], self.trie)
        self.ranking_beams = config["ranking_beams"]  # > 0 only with the trie (settings.check_values)
        sizes = self._batch_sizes(config)
        self.grounder = Grounder(self.llm, self.tokenizer, config["grounding_pooling"], sizes["embedding_batch_size"])
        self.generator = TitleGenerator(self.llm, self.tokenizer, sizes["generation_batch_size"])
        self.likelihood_batch_size = sizes["likelihood_batch_size"]
        self.training_batch_size = sizes["training"]  # sequences per pass with gradients
        # with exclude_history the evaluation masks the user's earlier items: beams are not spent on them
        self.beams_skip_history = config["exclude_history"]
        self.masked_items: tuple[torch.Tensor, torch.Tensor] | None = None  # set by ``masking``
        self.pairs_in_pass: PairsScoredInPass | None = None  # set by ``scoring_pairs``
        self.item_ids = items_by_title(self.titles)
        self.answers = AnswerLog()
        self.priors = build_priors(config, dataset, self.device)
        gamma = 0.0 if config["prior_gamma"] == "auto" else float(config["prior_gamma"])  # auto: the trainer picks
        self.prior_gammas = dict.fromkeys(self.priors, gamma)
        self.scores_without_prior: torch.Tensor | None = None
        self._item_table = None

    def _hybrid_embedding(self, config, dataset, base: torch.nn.Module) -> HybridEmbedding:
        """LLaRA's hybrid input: the frozen item embeddings of ``item_encoder_checkpoint`` behind a trainable projector."""
        self.item_encoder = restore_recbole_model(
            config["item_encoder_checkpoint"], dataset, self.device, "item_encoder_checkpoint"
        )
        vectors = item_embeddings(self.item_encoder, dataset.item_num)
        add_placeholder_token(self.tokenizer)
        offset = max(len(self.tokenizer), base.get_input_embeddings().num_embeddings)
        return install_hybrid_embedding(base, vectors, offset)

    def _batch_sizes(self, config) -> dict[str, int]:
        """The batch-size settings, ``auto`` ones chosen from the GPU's free memory for this model and the longest
        prompt the catalogue can make (without CUDA: the package's CPU defaults); ``training`` is the number of
        sequences per pass with gradients (``likelihood_batch_size`` unless auto)."""
        sizes = {name: config[name] for name in CPU_BATCH_SIZES}
        auto = [name for name, value in sizes.items() if value == AUTO]
        if auto and self.device.type == "cuda":
            sizes.update(self._sizes_from_free_memory(auto, config["gradient_checkpointing"]))
            getLogger().info(f"Batch sizes from free GPU memory: {sizes}")
        else:
            sizes.update({name: CPU_BATCH_SIZES[name] for name in auto})
        sizes.setdefault("training", sizes["likelihood_batch_size"])
        return sizes

    def _sizes_from_free_memory(self, auto: list[str], checkpointing: bool) -> dict[str, int]:
        cost = SequenceCost.of(self.llm, torch.finfo(self.compute_dtype).bits // 8)
        title = max(len(target_ids(self.tokenizer, title)) for title in self.titles if title)
        prompt = self._longest_prompt_tokens()
        beams = max(self.decoding.num_beams, self.ranking_beams)
        estimates = {  # bytes per sequence, and the largest batch worth having
            "generation_batch_size": (cost.generation(prompt, self.decoding.max_new_tokens, beams), 256),
            "embedding_batch_size": (cost.embedding(title), 1024),
            "likelihood_batch_size": (cost.forward(prompt + title, title + 1), 256),
            "training": (cost.training(prompt + title, title + 1, checkpointing), 256),
        }
        chosen = [*auto, *(["training"] if "likelihood_batch_size" in auto else [])]
        return {name: batch_for_free_memory(*estimates[name], self.device) for name in chosen}

    def _longest_prompt_tokens(self) -> int:
        """Tokens of a prompt whose whole history is the item with the longest title (ICL's demonstrations are not
        counted: its out-of-memory backoff corrects a batch that does not fit)."""
        longest = max(range(1, len(self.titles)), key=lambda item: len(self.titles[item]))
        history = torch.full((1, self.prompter.history_len), longest)
        rows = Interaction({self.ITEM_SEQ: history, self.ITEM_SEQ_LEN: torch.tensor([history.size(1)])})
        prompt = LLMRecommender.prompts(self, rows)[0]  # a subclass's prompts may need what its __init__ sets later
        return len(prompt_ids(self.tokenizer, prompt))

    @property
    def precision(self) -> str:
        """Quantization and compute type: what, beside the weights, changes the model's numbers."""
        return f"{self.quantization}/{str(self.compute_dtype).removeprefix('torch.')}"

    # prompts and targets
    def prompts(self, interaction: Interaction) -> list[str]:
        """One prompt per row (hybrid with the hybrid representation): what the model is evaluated on."""
        return self._prompts(interaction, hybrid_share=1.0)

    def training_prompts(self, interaction: Interaction) -> list[str]:
        """The prompts a fine-tuning loss trains on: under LLaRA's curriculum, hybrid for a ``hybrid_share`` of rows."""
        return self.prompts(interaction) if self.hybrid_share >= 1.0 else self._prompts(interaction, self.hybrid_share)

    def _prompts(self, interaction: Interaction, hybrid_share: float) -> list[str]:
        hybrid = None
        if self.hybrid_embedding is not None:
            rows = len(interaction)
            hybrid = [True] * rows if hybrid_share >= 1.0 else (torch.rand(rows) < hybrid_share).tolist()
        return self.prompter.prompts(interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN], hybrid=hybrid)

    def target_titles(self, interaction: Interaction) -> list[str]:
        return [self.titles[item] for item in interaction[self.ITEM_ID].tolist()]

    def real_target_loss(self, interaction: Interaction) -> torch.Tensor:
        """Cross-entropy of the real next-item titles, prompt tokens masked."""
        batch = encode_targets(self.tokenizer, self.training_prompts(interaction), self.target_titles(interaction), self.device)
        return target_cross_entropy(self.llm, batch)

    def rows_per_likelihood_pass(self, titles_per_row: int) -> int:
        """Rows whose ``titles_per_row`` prompt + title sequences fit in one pass of ``likelihood_batch_size``."""
        return max(1, self.likelihood_batch_size // titles_per_row)

    def rows_per_training_pass(self, titles_per_row: int) -> int:
        """The same for a pass with gradients (a training step's micro-batch)."""
        return max(1, self.training_batch_size // titles_per_row)

    def likelihood_passes(
        self, run: Callable[[torch.Tensor], Output], rows: int, titles_per_row: int, what: str,
        show_progress: bool = False,
    ) -> list[Output]:
        """``run(row_indices)`` over this process's rows, as many rows per pass as ``likelihood_batch_size`` holds;
        a pass that runs out of GPU memory is halved, and later passes start from the size that fitted."""
        planned = self.rows_per_likelihood_pass(titles_per_row)
        outputs, fitted = over_own_rows(run, rows, planned, what, show_progress)
        if fitted < planned:
            self.likelihood_batch_size = fitted * titles_per_row
        return outputs

    @torch.no_grad()
    def validation_loss(self, rows: Interaction) -> float:
        """Teacher-forced cross-entropy of the real titles over ``rows``, per target token: cheap early stopping."""
        was_training = self.training
        self.eval()

        def summed(index: torch.Tensor) -> torch.Tensor:  # log-probability of the target tokens, their count
            batch = rows[index].to(self.device)
            encoded = encode_targets(self.tokenizer, self.prompts(batch), self.target_titles(batch), self.device)
            sums, counts = target_log_probs(self.llm, encoded)
            return torch.stack([sums.sum().double(), counts.sum().double()])

        passes = self.likelihood_passes(summed, len(rows), 1, "computing the validation loss")
        log_prob, tokens = sum_over_processes(sum(passes, torch.zeros(2, dtype=torch.float64, device=self.device))).tolist()
        self.train(was_training)
        return -log_prob / tokens

    def candidate_log_probs(
        self, interaction: Interaction, negatives: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Summed log-probabilities (and token counts) of ``[true item, *negatives]`` per row: ``[rows, 1 + k]``."""
        # scoring only: each prompt encoded once for all its candidates
        scored = whole_sequence_log_probs if torch.is_grad_enabled() else shared_prompt_log_probs
        return scored(self.llm, self.tokenizer, self.prompts(interaction), self.candidate_titles(interaction, negatives))

    def candidate_titles(self, interaction: Interaction, negatives: torch.Tensor) -> list[list[str]]:
        """Per row, the titles of ``[true item, *negatives]``."""
        candidates = torch.cat([interaction[self.ITEM_ID].cpu().unsqueeze(1), negatives.cpu()], dim=1)
        return [[self.titles[item] for item in row] for row in candidates.tolist()]

    @torch.no_grad()
    def pairwise_auc(self, rows: Interaction, negatives: torch.Tensor, show_progress: bool = False) -> float:
        """DMPO's measure: how often the true next title is more likely than a negative's (ties count half)."""
        was_training = self.training
        self.eval()

        def wins(index: torch.Tensor) -> torch.Tensor:
            log_probs, _ = self.candidate_log_probs(rows[index].to(self.device), negatives[index])
            return pairwise_wins(log_probs[:, :1], log_probs[:, 1:])

        titles_per_row = 1 + negatives.size(1)
        passes = self.likelihood_passes(wins, len(rows), titles_per_row, "computing the pairwise AUC", show_progress)
        self.train(was_training)
        won = sum_over_processes(sum(passes, torch.zeros(1, dtype=torch.float64, device=self.device)))
        return won.item() / negatives.numel()

    # generation and grounding
    def generate(
        self, prompts: list[str], num_beams: int | None = None, constrained: bool = True, show_progress: bool = False
    ) -> list[str]:
        """Top-beam titles; ``constrained=False`` lets the model write free text even with a title trie."""
        decoding = replace(
            self.decoding, num_beams=num_beams or self.decoding.num_beams, trie=self.trie if constrained else None
        )
        return self.generator.generate(prompts, decoding, show_progress)

    def item_table(self) -> torch.Tensor:
        """Title embeddings of every item (row 0 is the padding item), cached on disk per model and dataset."""
        if self._item_table is None:
            key = item_table_key(folder_fingerprint(self.llm_folder), self.precision, self.grounder.pooling, self.titles)
            # the main process's file for all: the key reads the base model's files, which differ per machine
            cache_file = main_process_value(self.cache_dir / "item_tables" / f"{self.dataset_name}-{key}.pt")
            self._item_table = self.grounder.item_table(self.titles, cache_file, self.show_progress).to(self.device)
        return self._item_table

    def text_scores(self, texts: list[str]) -> torch.Tensor:
        scores = l2_scores(self.grounder.embed(texts), self.item_table())
        scores[:, 0] = -np.inf
        return scores

    def load_other_parameter(self, para: dict | None) -> None:
        """RecBole's, also reading a checkpoint written when a run had one prior (``prior_gamma``: the first's γ)."""
        if para and "prior_gamma" in para:
            para = {"prior_gammas": dict.fromkeys(list(self.priors)[:1], para["prior_gamma"])}
        super().load_other_parameter(para)

    def full_sort_predict(self, interaction: Interaction) -> torch.Tensor:
        """The LLM's scores of every item, re-weighted by the first collaborative prior when there is one."""
        scores = self.llm_scores(interaction)
        if not self.priors:
            return scores
        # kept unmasked (RecBole masks the returned scores in place), so that one evaluation pass also measures the
        # LLM alone and each other prior exactly as if it ranked the run
        self.scores_without_prior = scores.clone()
        return self.scores_with_prior(next(iter(self.priors)), scores, interaction)

    def scores_with_prior(self, name: str, scores: torch.Tensor, interaction: Interaction) -> torch.Tensor:
        """``scores`` re-weighted by the prior ``name`` with its γ."""
        prior = self.priors[name].scores(interaction).to(scores.device)
        return with_prior(scores, prior, self.prior_gammas[name])

    def llm_scores(self, interaction: Interaction) -> torch.Tensor:
        """The LLM's own scores of every item, without any prior."""
        prompts = self.prompts(interaction)
        if self.ranking_beams:
            excluded = self.skipped_titles(interaction) if self.beams_skip_history else None
            negatives = self.pairs_in_pass.negatives_of(interaction) if self.pairs_in_pass is not None else None
            scored = self.candidate_titles(interaction, negatives) if negatives is not None else None
            ranked, log_probs = self.generator.rank(
                prompts, self.trie, self.ranking_beams, self.decoding.max_new_tokens, excluded, scored
            )
            if scored is not None:
                self.pairs_in_pass.add(interaction, torch.tensor(log_probs))
            answers = [titles[0][0] if titles else "" for titles in ranked]
            scores = self.beam_scores(ranked)
        else:
            answers = self.generate(prompts)
            scores = self.text_scores(answers)
        self.answers.record(answers, self.item_ids, interaction[self.ITEM_SEQ], interaction[self.ITEM_SEQ_LEN])
        return scores

    @contextmanager
    def masking(self, history_index: tuple[torch.Tensor, torch.Tensor] | None) -> Iterator[None]:
        """Score the batch inside knowing the ``(rows, items)`` the evaluation will mask (RecBole's history index):
        with ``exclude_history`` the beams skip exactly those items, the user's items older than the history RecBole
        keeps (``MAX_ITEM_LIST_LENGTH``) included, so that no beam is spent on an item masked afterwards."""
        self.masked_items = history_index
        try:
            yield
        finally:
            self.masked_items = None

    @contextmanager
    def scoring_pairs(self, pairs: PairsScoredInPass | None) -> Iterator[None]:
        """Inside, each batch the beams rank also scores its rows' pairwise-AUC pairs from the prompt encoding the
        beams start from (a model that ranks without beams leaves ``pairs`` unscored)."""
        self.pairs_in_pass = pairs
        try:
            yield
        finally:
            self.pairs_in_pass = None

    def skipped_titles(self, interaction: Interaction) -> list[list[str]]:
        """Per row, the titles the beams skip: the items the evaluation masks when ``masking`` gave them, else the
        history RecBole gives the model (scoring outside an evaluation, e.g. DMPO's hard negatives)."""
        if self.masked_items is None:
            rows = zip(interaction[self.ITEM_SEQ].cpu(), interaction[self.ITEM_SEQ_LEN].cpu().tolist())
            return [[self.titles[item] for item in items[:length].tolist()] for items, length in rows]
        titles: list[list[str]] = [[] for _ in range(len(interaction))]
        for row, item in zip(*(index.tolist() for index in self.masked_items)):
            titles[row].append(self.titles[item])
        return titles

    def beam_scores(self, ranked: list[list[tuple[str, float]]]) -> torch.Tensor:
        """``[rows, n_items]``: the beams' items by log-probability, then every item by the beams' weighted distance."""
        table = self.item_table()
        scores = torch.empty(len(ranked), table.size(0), device=table.device)
        empty_answer = None  # scores by distance to the empty answer, computed once per batch if needed
        for row, titles in enumerate(ranked):
            if not titles:  # no title finished within max_new_tokens
                empty_answer = self.text_scores([""])[0] if empty_answer is None else empty_answer
                scores[row] = empty_answer
                continue
            items = [self.item_ids[title] for title, _ in titles]
            log_probs = torch.tensor([log_prob for _, log_prob in titles], device=table.device)
            anchors = table[[ids[0] for ids in items]]  # items that share a title share its embedding
            weights = torch.softmax(log_probs, dim=0)
            scores[row] = -(weights[:, None] * torch.cdist(anchors.float(), table.float())).sum(dim=0)
            for ids, log_prob in zip(items, log_probs.tolist()):
                scores[row, ids] = BEAM_RANKED_OFFSET + log_prob
        scores[:, 0] = -np.inf
        return scores

    def predict(self, interaction: Interaction) -> torch.Tensor:
        scores = self.full_sort_predict(interaction)
        return scores.gather(1, interaction[self.ITEM_ID].unsqueeze(1)).squeeze(1)

    # adapters
    def adapter_state(self) -> dict[str, torch.Tensor]:
        """PEFT's state dict of the adapter, taken from the LoRA parameters alone: the whole model's state dict
        would serialise every frozen (and, in 4-bit, every quantization state of the) base weight at each save."""
        lora = {name: parameter for name, parameter in self.llm.named_parameters() if "lora_" in name}
        return get_peft_model_state_dict(self.llm, state_dict=lora)

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """Everything a run trains (the adapter; with the hybrid representation also the projector and the item
        vectors it projects), for resume states and fingerprints."""
        state = dict(self.adapter_state())
        if self.hybrid_embedding is not None:
            state.update({f"{HYBRID_PREFIX}{name}": value for name, value in self.hybrid_embedding.trained_state().items()})
        return state

    def load_trainable_state(self, state: dict[str, torch.Tensor]) -> None:
        hybrid = {name.removeprefix(HYBRID_PREFIX): value for name, value in state.items() if name.startswith(HYBRID_PREFIX)}
        set_peft_model_state_dict(self.llm, {name: value for name, value in state.items() if not name.startswith(HYBRID_PREFIX)})
        if self.hybrid_embedding is not None and hybrid:
            self.hybrid_embedding.load_trained_state(hybrid)

    def save_adapter(self, folder: Path) -> None:
        """A PEFT adapter folder that names its base model portably (``base_model_name``, at ``llm_revision``), and
        ``base_model.json``: the exact base (the loaded folder's fingerprint) that ``fits_adapter`` checks. The name
        is written into the saved file only: PEFT's in-memory config keeps the local folder, because at every save
        PEFT reads the base model's config.json by that name (a hub request for a hub id)."""
        self.llm.save_pretrained(str(folder), state_dict=self.adapter_state())
        name_adapter_base_model(folder, self.base_model_name, self.revision)
        identity = {"name": self.base_model_name, "fingerprint": folder_fingerprint(self.llm_folder)}
        (Path(folder) / BASE_MODEL_FILE).write_text(json.dumps(identity, indent=2))
        if self.hybrid_embedding is not None:
            self.hybrid_embedding.save(folder)

    def fits_adapter(self, folder: Path) -> bool:
        """Whether the adapter in ``folder`` was trained on exactly this run's base LLM: the same loaded weights
        (the embedded model and its hub original share a name, as do two revisions of a hub id). An adapter saved
        without ``base_model.json`` is judged by the base PEFT recorded: this model's name or local folder."""
        identity_file = Path(folder) / BASE_MODEL_FILE
        if identity_file.is_file():
            return json.loads(identity_file.read_text())["fingerprint"] == folder_fingerprint(self.llm_folder)
        base = adapter_base_model(folder)
        return base is None or base == self.base_model_name or Path(base).expanduser().resolve() == self.llm_folder.resolve()

    def load_adapter(self, folder: Path) -> None:
        folder = current_folder(Path(folder))
        if self.hybrid_embedding is None and (Path(folder) / PROJECTOR_FILE).is_file():
            raise InvalidSetting(
                f"The adapter at {folder} was trained with item_representation=hybrid (it holds {PROJECTOR_FILE}): "
                f"load it with item_representation=hybrid."
            )
        weights = load_peft_weights(str(folder), device=str(self.device))
        set_peft_model_state_dict(self.llm, weights)
        if self.hybrid_embedding is not None:
            self.hybrid_embedding.load(folder)

    def reset_adapter(self) -> None:
        """A fresh adapter: LoRA B is zero again, so the model equals the base model (draws from torch's RNG)."""
        for module in self.llm.modules():
            if isinstance(module, LoraLayer):
                module.reset_lora_parameters("default", True)
        if self.hybrid_embedding is not None:
            self.hybrid_embedding.projector.reset_parameters()
