"""Adding a model touches one place (the registry) plus its yaml: a model defined here runs through the entry point."""
import pytest

from recbole_soft import register_model, run_recbole_soft
from recbole_soft.config import Config
from recbole_soft.model.bigrec import BIGRec
from recbole_soft.registry import get_model, get_trainer, is_plugin_model, plugin_models
from recbole_soft.trainer.llm_trainer import LLMTrainer


class NewestFirst(BIGRec):
    """BIGRec with each history listed newest first: an ablation of item order (the README's example model)."""

    def prompts(self, interaction):
        rows = zip(interaction[self.ITEM_SEQ].cpu(), interaction[self.ITEM_SEQ_LEN].cpu())
        return [self.prompter.prompt(self.prompter.history(items, length)[::-1]) for items, length in rows]


@pytest.fixture
def newest_first(tmp_path):
    defaults = tmp_path / "NewestFirst.yaml"
    defaults.write_text('prompt_template: "A user interacted with these {domain}, newest first:\\n{history}\\nWhat next?"\n')
    register_model("NewestFirst", NewestFirst, "recbole_soft.trainer.llm_trainer:LLMTrainer", defaults=defaults)
    return "NewestFirst"


def test_every_plugin_model_resolves_to_its_model_and_trainer():
    assert plugin_models() == ["BIGRec", "ICL", "SOFT", "DMPO", "CLCLMRec", "CL4SRec"]
    for name in plugin_models():
        assert get_model(name).__name__ == name
        assert get_trainer(None, name).__name__.endswith("Trainer")
    assert get_trainer(None, "BIGRec") is LLMTrainer


def test_a_registered_model_gets_the_backbone_defaults_and_its_own_yaml(newest_first):
    config = Config(model=newest_first, dataset="ml-100k", command_line=False)
    assert is_plugin_model(newest_first)
    assert config["prompt_template"].startswith("A user interacted with these {domain}, newest first")
    assert config["lora_r"] == 8 and config["item_text_field"] == "movie_title"  # LLMRecommender.yaml, ml-100k.yaml


def test_a_registered_model_trains_and_is_evaluated_through_the_quick_start(newest_first, llm_config, build):
    *_, test_data, model = build(newest_first)
    interaction = next(iter(test_data))[0]
    first = model.prompts(interaction)[0]
    history = model.prompter.history(interaction["item_id_list"][0], interaction["item_length"][0])
    assert first.index(history[-1]) < first.index(history[0])
    result = run_recbole_soft(newest_first, "tiny", config_dict=llm_config, command_line=False)
    assert {"hit@10", "ndcg@10"} <= set(result["test_result"])
