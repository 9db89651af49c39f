"""What a setting may be: the plugin's choices, a check per value (the plugin's settings and RecBole's common ones),
and the check that a setting's name exists, with no heavy imports.

The settings layer is used first in a run (when the Config is built, before data or models load), so it owns the
choices; the modules that act on a setting (loading, grounding, negatives, curriculum, trainer) import them from here.
"""
import difflib
import os
import string
from collections.abc import Callable, Collection, Iterable

from recbole_soft.errors import InvalidSetting

QUANTIZATIONS = ("auto", "nf4", "int8", "none")
LLM_DTYPES = ("auto", "float32", "bfloat16")
POOLINGS = ("last", "mean")
SAMPLERS = ("uniform", "popularity", "hard")
SCHEDULES = ("adaptive", "none", "linear")
VALIDATIONS = ("loss", "ranking")
TITLE_NORMALIZATIONS = ("none", "article_first")
PRIORS = ("none", "popularity", "model")
ITEM_REPRESENTATIONS = ("text", "hybrid")
SELECTIONS = ("contrastive", "random")
LEARNERS = ("adam", "adamw", "sgd", "adagrad", "rmsprop", "sparse_adam", "paged_adamw_8bit")  # RecBole's + 8-bit paged

Check = Callable[[object], bool]


def number(
    minimum: float, *, integer: bool = False, strict: bool = False, below: float | None = None,
    at_most: float | None = None,
) -> Check:
    """A check for a (bool-free) number >= minimum (> with ``strict``), an integer if asked, < ``below`` and
    <= ``at_most`` if given."""
    kinds = int if integer else (int, float)

    def check(value) -> bool:
        if not isinstance(value, kinds) or isinstance(value, bool):
            return False
        above = value > minimum if strict else value >= minimum
        return above and (below is None or value < below) and (at_most is None or value <= at_most)

    return check


def optional(check: Check) -> Check:
    return lambda value: value is None or check(value)


def one_of(choices: tuple[str, ...]) -> tuple[Check, str]:
    return (lambda value: value in choices), f"one of {', '.join(choices)}"


_positive_int = number(1, integer=True)
_non_negative_int = number(0, integer=True)
_non_negative_number = number(0)
_TRUE_OR_FALSE = (lambda value: isinstance(value, bool)), "True or False"
AUTO = "auto"  # a batch size chosen from the GPU's free memory (llm/memory.py)
_fraction = number(0, at_most=1)
_masked_fraction = number(0, below=1)  # a masked view keeps at least one item
_VIEW_RATIOS: dict[str, Check] = {"crop": _fraction, "mask": _masked_fraction, "reorder": _fraction}


def _view_ratios(value) -> bool:
    """CLCLMRec's augmentation ratios: every augmentation's, each in its range."""
    return isinstance(value, dict) and set(value) == set(_VIEW_RATIOS) and all(
        _VIEW_RATIOS[name](ratio) for name, ratio in value.items()
    )


def prior_names(value) -> tuple[str, ...]:
    """The priors a ``prior`` setting names, in order: one name, a list, or names joined by commas (the command
    line); ``none`` names none."""
    if isinstance(value, str):
        value = value.split(",")
    names = tuple(name.strip() if isinstance(name, str) else name for name in value)
    return () if names == ("none",) else names


def _priors(value) -> bool:
    """One prior, or several distinct ones (the first ranks the run, the others are measured beside it)."""
    if not isinstance(value, (str, list, tuple)):
        return False
    names = prior_names(value)
    known = all(isinstance(name, str) and name in PRIORS and name != "none" for name in names)
    return known and len(set(names)) == len(names) and (value == "none" or bool(names))


PROMPT_FIELDS = ("domain", "history")  # what a prompt_template may name: the item word and the listed history


def _prompt_template(value) -> bool:
    """A template naming ``{history}`` and no field but those of ``PROMPT_FIELDS`` (literal braces doubled)."""
    if not isinstance(value, str):
        return False
    try:
        fields = {field for _, field, _, _ in string.Formatter().parse(value) if field is not None}
    except ValueError:  # a lone { or }
        return False
    return "history" in fields and fields <= set(PROMPT_FIELDS)


def _lora_targets(value) -> bool:
    """PEFT's target_modules: module names, or its ``all-linear`` (a lone string would be read as a regular
    expression, which a name like q_proj matches nowhere)."""
    if value == "all-linear":
        return True
    return isinstance(value, (list, tuple)) and bool(value) and all(isinstance(name, str) and name for name in value)


_BATCH_SIZE_OR_AUTO = (lambda value: value == AUTO or _positive_int(value)), "a positive integer, or auto (from free GPU memory)"

# setting -> (check, what a valid value is): the plugin's, then RecBole's own; checked only when the key is set
VALUE_RULES: dict[str, tuple[Check, str]] = {
    "history_len": (_positive_int, "a positive integer"),
    "prompt_template": (_prompt_template, "a text naming {history} (the listed titles) and at most {domain} besides, "
                                          "literal braces doubled ({{ }})"),
    "constrained_decoding": _TRUE_OR_FALSE,
    "distill_constrained_decoding": _TRUE_OR_FALSE,
    "gradient_checkpointing": _TRUE_OR_FALSE,
    "lora_target_modules": (_lora_targets, "a list of module names, e.g. [q_proj, v_proj], or all-linear"),
    "num_beams": (_positive_int, "an integer >= 1"),
    "ranking_beams": (_non_negative_int, "an integer >= 0 (0 = rank by grounding one answer)"),
    "max_new_tokens": (_positive_int, "a positive integer"),
    "generation_batch_size": _BATCH_SIZE_OR_AUTO,
    "embedding_batch_size": _BATCH_SIZE_OR_AUTO,
    "likelihood_batch_size": _BATCH_SIZE_OR_AUTO,
    "lora_r": (_positive_int, "a positive integer"),
    "lora_alpha": (_non_negative_number, "a number >= 0"),
    "lora_dropout": (number(0, below=1), "a number in [0, 1)"),
    "gradient_accumulation_steps": (_positive_int, "a positive integer"),
    "warmup_steps": (_non_negative_int, "an integer >= 0"),
    "train_sample_num": (optional(_positive_int), "a positive integer, or ~ for all samples"),
    "valid_sample_num": (optional(_positive_int), "a positive integer, or ~ for all validation users"),
    "icl_demo_num": (_non_negative_int, "an integer >= 0"),
    "curriculum_alpha": (_non_negative_number, "a number >= 0 (the paper tunes it over 100, 10, 1, 0.1)"),
    "curriculum_epochs": (_positive_int, "a positive integer"),
    "curriculum_probe_num": (_positive_int, "a positive integer"),
    "curriculum_probe_beams": (_positive_int, "an integer >= 1 (the paper: 4)"),
    "distill_num_beams": (_positive_int, "an integer >= 1"),
    "dmpo_neg_num": (_positive_int, "a positive integer (the paper: up to 5)"),
    "dmpo_neg_sampler": one_of(SAMPLERS),
    "dmpo_beta": (number(0, strict=True), "a number > 0 (the paper: 0.1)"),
    "dmpo_gamma": (_non_negative_number, "a number >= 0"),
    "dmpo_epochs": (_positive_int, "a positive integer"),
    "pairwise_auc_negatives": (_non_negative_int, "an integer >= 0 (0 = off)"),
    "quantization": one_of(QUANTIZATIONS),
    "llm_dtype": one_of(LLM_DTYPES),
    "grounding_pooling": one_of(POOLINGS),
    "resume": _TRUE_OR_FALSE,
    "trained_checkpoint": (optional(lambda value: isinstance(value, (str, os.PathLike)) and bool(str(value))),
                           "the path of a <Model>-<time>.pth an earlier run wrote, or ~"),
    "exclude_history": _TRUE_OR_FALSE,
    "test_user_num": (optional(_positive_int), "a positive integer, or ~ to test every user"),
    "llm_valid_by": one_of(VALIDATIONS),
    "curriculum": one_of(SCHEDULES),
    "title_normalization": one_of(TITLE_NORMALIZATIONS),
    "prior": (_priors, f"one of {', '.join(PRIORS)}, or a list of distinct priors (e.g. [popularity, model]: the "
                       f"first ranks the run, the others are measured beside it from the same generation pass)"),
    "item_representation": one_of(ITEM_REPRESENTATIONS),
    "item_encoder_config": (lambda value: isinstance(value, dict), "a mapping of the encoder's settings, e.g. {epochs: 5}"),
    "hybrid_curriculum": _TRUE_OR_FALSE,
    "clclm_instruction_tuning": _TRUE_OR_FALSE,
    "clclm_instruction_num": (_positive_int, "a positive integer"),
    "clclm_instruction_epochs": (_positive_int, "a positive integer"),
    "clclm_selection": one_of(SELECTIONS),
    "clclm_sample_num": (_positive_int, "a positive integer (the paper: fewer than 100)"),
    "clclm_augmented_views": (_non_negative_int, "an integer >= 0 (0 = no augmentation)"),
    "cl_crop_ratio": (_fraction, "a number in [0, 1]"),
    "cl_mask_ratio": (_masked_fraction, "a number in [0, 1) (a masked view keeps at least one item)"),
    "cl_reorder_ratio": (_fraction, "a number in [0, 1]"),
    "clclm_view_ratios": (_view_ratios, "a mapping {crop: η, mask: γ, reorder: β}, η and β in [0, 1], γ in [0, 1)"),
    "item_encoder": (lambda value: isinstance(value, str) and bool(value), "a sequential model's name, e.g. SASRec"),
    "cl_weight": (_non_negative_number, "a number >= 0"),
    "cl_temperature": (number(0, strict=True), "a number > 0 (CL4SRec: 1)"),
    "prior_gamma": (lambda value: value == "auto" or _non_negative_number(value), "a number >= 0, or auto"),
    # RecBole's own settings that would otherwise fail only after the data has loaded, or silently
    "learning_rate": (number(0, strict=True), "a number > 0, e.g. 0.001"),
    "epochs": (_positive_int, "a positive integer"),
    "train_batch_size": (_positive_int, "a positive integer"),
    "eval_batch_size": (_positive_int, "a positive integer"),
    "stopping_step": (_positive_int, "a positive integer"),
    "weight_decay": (_non_negative_number, "a number >= 0"),
    "MAX_ITEM_LIST_LENGTH": (_positive_int, "a positive integer"),
    "seed": (_non_negative_int, "an integer >= 0"),
    "learner": (lambda value: isinstance(value, str) and value.lower() in LEARNERS, f"one of {', '.join(LEARNERS)}"),
}


def none_is_a_choice(key: str) -> bool:
    """Whether the word ``none`` is one of ``key``'s values (``curriculum``, ``prior``, ``quantization``, ...) rather
    than a way to write None."""
    rule = VALUE_RULES.get(key)
    return rule is not None and rule[0]("none")


def check_names(settings: Iterable[str], known: Collection[str], where: str = "the settings") -> None:
    """Raise ``InvalidSetting`` for the first name that is no setting, with the closest known one if any."""
    for key in settings:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.75)
            hint = f" Did you mean {close[0]}?" if close else ""
            raise InvalidSetting(f"Unknown setting {key} in {where}.{hint} Fix its name or remove it.")


def check_values(settings: dict) -> None:
    """Raise ``InvalidSetting`` naming the first setting whose value is not allowed, and what it must be."""
    for key, (is_valid, expected) in VALUE_RULES.items():
        if key in settings and not is_valid(settings[key]):
            raise InvalidSetting(f"{key}={settings[key]!r} is invalid: it must be {expected}.")
    history, kept = settings.get("history_len"), settings.get("MAX_ITEM_LIST_LENGTH")
    if history is not None and kept is not None and history > kept:
        raise InvalidSetting(
            f"history_len={history} is longer than the MAX_ITEM_LIST_LENGTH={kept} items RecBole keeps per user: "
            f"lower history_len or raise MAX_ITEM_LIST_LENGTH."
        )
    beams = settings.get("ranking_beams")
    if not settings.get("constrained_decoding", True) and beams:
        raise InvalidSetting(
            f"ranking_beams={beams} searches the trie of real titles, which constrained_decoding=False turns off: "
            f"set ranking_beams=0 to rank by grounding one free answer (BIGRec), or keep constrained_decoding=True."
        )
