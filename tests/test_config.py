import re

import pytest
import yaml

from recbole_soft.config import Config


def test_plugin_model_gets_its_yaml_and_inherits_the_backbone_defaults():
    config = Config(model="SOFT", dataset="ml-100k", config_dict={"state": "WARNING"})
    assert config["curriculum"] == "adaptive"  # SOFT.yaml
    assert config["lora_target_modules"] == ["q_proj", "v_proj"]  # LLMRecommender.yaml
    assert config["llm_path"] == "SmolLM2-135M-Instruct"


def test_config_files_and_dict_override_plugin_defaults():
    config = Config(model="BIGRec", dataset="ml-100k", config_dict={"lora_r": 4})
    assert config["lora_r"] == 4
    assert config["valid_metric"] == "NDCG@10"
    assert config["topk"] == [1, 5, 10, 20]


def test_recbole_models_are_resolved_by_name():
    config = Config(model="GRU4Rec", dataset="ml-100k")
    assert config["model"] == "GRU4Rec"
    assert "curriculum" not in config


@pytest.mark.parametrize("spelling, name", [("sasrec", "SASRec"), ("GRU4REC", "GRU4Rec"), ("bigrec", "BIGRec")])
def test_model_names_match_in_any_letter_case(spelling, name):
    assert Config(model=spelling, dataset="ml-100k", config_dict={"state": "WARNING"})["model"] == name


def test_every_setting_of_the_shipped_settings_files_and_suites_is_known():
    from recbole_soft.benchmark import load_suite
    from recbole_soft.config import known_settings
    from tests.conftest import REPOSITORY

    suites = [load_suite(path) for path in (REPOSITORY / "properties" / "benchmark").glob("*.yaml")]
    used = {key for suite in suites for key in suite.config}
    used |= {key for suite in suites for model in suite.models for key in model.config}
    used |= {key for path in (REPOSITORY / "properties").glob("*.yaml") for key in yaml.safe_load(path.read_text())}
    assert used and used <= known_settings()


def test_unknown_model_lists_what_exists():
    with pytest.raises(ValueError, match="Unknown model 'SOFTX'.*SOFT.*SASRec"):
        Config(model="SOFTX", dataset="ml-100k")


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("num_beams", 0, "num_beams=0 is invalid: it must be an integer >= 1"),
        ("train_sample_num", 0, "train_sample_num=0 is invalid: it must be a positive integer, or ~"),
        ("train_sample_num", -5, "train_sample_num=-5 is invalid"),
        ("curriculum_alpha", -1.0, "curriculum_alpha=-1.0 is invalid: it must be a number >= 0"),
        ("lora_dropout", 1.5, "lora_dropout=1.5 is invalid"),
        ("history_len", "ten", "history_len='ten' is invalid"),
        ("llm_valid_by", "auc", "llm_valid_by='auc' is invalid: it must be one of loss, ranking"),
        ("curriculum", "cosine", "curriculum='cosine' is invalid: it must be one of adaptive, none, linear"),
        ("quantization", "fp4", "quantization='fp4' is invalid: it must be one of auto, nf4, int8, none"),
        ("grounding_pooling", "max", "grounding_pooling='max' is invalid: it must be one of last, mean"),
        ("resume", "yes", "resume='yes' is invalid: it must be True or False"),
        ("dmpo_beta", 0, "dmpo_beta=0 is invalid: it must be a number > 0"),
        ("generation_batch_size", "max", "generation_batch_size='max' is invalid: it must be a positive integer, or auto"),
        ("cl_crop_ratio", 1.5, "cl_crop_ratio=1.5 is invalid: it must be a number in [0, 1]"),
        ("cl_mask_ratio", 1.0, "cl_mask_ratio=1.0 is invalid: it must be a number in [0, 1)"),
        ("clclm_view_ratios", {"crop": 0.6}, "clclm_view_ratios={'crop': 0.6} is invalid: it must be a mapping {crop: η"),
        ("clclm_view_ratios", {"crop": 0.6, "mask": 0.3, "reorder": 2}, "clclm_view_ratios={'crop': 0.6, 'mask': 0.3"),
        ("clclm_view_ratios", {"crop": 0.6, "mask": 0.3, "reorder": 0.6, "shuffle": 0.5}, "clclm_view_ratios={'crop'"),
        ("clclm_view_ratios", {"crop": True, "mask": 0.3, "reorder": 0.6}, "clclm_view_ratios={'crop': True"),
    ],
)
def test_out_of_range_values_fail_when_the_config_is_built(key, value, expected):
    with pytest.raises(ValueError, match=re.escape(expected)):
        Config(model="SOFT", dataset="ml-100k", config_dict={key: value})


def test_batch_sizes_may_be_chosen_from_free_gpu_memory():
    assert Config(model="BIGRec", dataset="ml-100k", config_dict={"likelihood_batch_size": "auto"})["likelihood_batch_size"] == "auto"


def test_augmentation_ratios_may_reach_their_bounds():
    bounds = {"cl_crop_ratio": 1, "cl_mask_ratio": 0, "cl_reorder_ratio": 0.0}
    assert all(Config(model="CL4SRec", dataset="ml-100k", config_dict=bounds)[key] == value for key, value in bounds.items())


@pytest.mark.parametrize(
    "encoder, expected",
    [
        ("SASRc", "item_encoder='SASRc' is invalid: Unknown model 'SASRc'. Did you mean SASRec?"),
        ("Pop", "item_encoder='Pop' is invalid: it must be a classical sequential model"),
        ("BIGRec", "item_encoder='BIGRec' is invalid: it must be a classical sequential model"),
    ],
)
def test_a_hybrid_model_refuses_an_item_encoder_it_cannot_train_before_training_it(encoder, expected):
    with pytest.raises(ValueError, match=re.escape(expected)):
        Config(model="SOFT", dataset="ml-100k", config_dict={"item_representation": "hybrid", "item_encoder": encoder})


@pytest.mark.parametrize("checkpoint", [None, "saved/SASRec.pth"])
def test_a_model_that_trains_nothing_refuses_hybrid_prompts_before_any_encoder_trains(checkpoint):
    with pytest.raises(ValueError, match="item_representation=hybrid needs a trained projector, and ICL trains nothing"):
        Config(model="ICL", dataset="ml-100k",
               config_dict={"item_representation": "hybrid", "item_encoder_checkpoint": checkpoint})


def test_beam_ranking_without_the_title_trie_is_refused():
    with pytest.raises(ValueError, match="ranking_beams=10 searches the trie of real titles"):
        Config(model="BIGRec", dataset="ml-100k", config_dict={"constrained_decoding": False})
    free_answer = Config(model="BIGRec", dataset="ml-100k", config_dict={"constrained_decoding": False, "ranking_beams": 0})
    assert free_answer["ranking_beams"] == 0


def test_the_item_encoder_is_named_in_its_registered_spelling():
    assert Config(model="CLCLMRec", dataset="ml-100k", config_dict={"item_encoder": "gru4rec"})["item_encoder"] == "GRU4Rec"


def test_an_item_encoder_is_not_checked_where_none_is_trained():
    text_only = Config(model="BIGRec", dataset="ml-100k", config_dict={"item_encoder": "Pop"})
    restored = Config(model="BIGRec", dataset="ml-100k", config_dict={
        "item_representation": "hybrid", "item_encoder": "Pop", "item_encoder_checkpoint": "saved/SASRec.pth"})
    assert text_only["item_encoder"] == restored["item_encoder"] == "Pop"


def test_all_samples_is_a_valid_training_cap():
    assert Config(model="BIGRec", dataset="ml-100k", config_dict={"train_sample_num": None})["train_sample_num"] is None


def test_a_prompt_history_longer_than_recbole_keeps_is_refused():
    with pytest.raises(ValueError, match="history_len=20 is longer than the MAX_ITEM_LIST_LENGTH=10 items"):
        Config(model="BIGRec", dataset="ml-100k", config_dict={"history_len": 20, "MAX_ITEM_LIST_LENGTH": 10})


@pytest.mark.parametrize("template", [
    "Recommend the next of these {domain}:",  # no history: the model would be asked without it
    "History: {history}. Answer as {\"title\": ...}",  # literal braces not doubled
    "{history} {user}",  # a field the prompt builder does not fill
])
def test_a_prompt_template_without_the_history_or_with_unknown_fields_is_refused(template):
    with pytest.raises(ValueError, match="prompt_template=.* is invalid: it must be a text naming {history}"):
        Config(model="BIGRec", dataset="ml-100k", config_dict={"prompt_template": template})


def test_a_prompt_template_with_doubled_braces_and_the_known_fields_is_accepted():
    template = "{domain} so far:\n{history}\nAnswer as {{\"title\": ...}}"
    assert Config(model="BIGRec", dataset="ml-100k", config_dict={"prompt_template": template})["prompt_template"] == template
