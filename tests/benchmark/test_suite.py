from pathlib import Path

import pytest

from recbole_soft.benchmark import SuiteError, load_suite
from tests.conftest import REPOSITORY

SUITES = REPOSITORY / "properties" / "benchmark"
HEAD_TO_HEAD = {
    "Pop", "GRU4Rec", "SASRec", "BERT4Rec", "ICL", "BIGRec", "DMPO", "SOFT w/o SA", "SOFT", "SOFT α=100", "SOFT α=10",
    "SOFT α=0.1",
}
FEW_SHOT = {"Pop", "SASRec", "ICL", "BIGRec", "DMPO", "SOFT", "CLCLMRec"}
BACKBONES = {"Pop", "SASRec", "BIGRec", "BIGRec (hybrid)", "SOFT", "SOFT (hybrid)", "CLCLMRec"}


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def head_to_head(path: Path) -> bool:
    return not path.stem.startswith(("few-shot-", "backbones-", "ablation-"))


@pytest.mark.parametrize("suite_file", sorted(filter(head_to_head, SUITES.glob("*.yaml"))), ids=lambda path: path.stem)
def test_every_head_to_head_suite_compares_every_model_of_the_plugin_with_recbole(suite_file):
    suite = load_suite(suite_file)
    assert {model.label for model in suite.models} == HEAD_TO_HEAD
    assert suite.name == suite_file.stem and suite.seeds
    assert suite.selections == {"SOFT (α on validation)": ["SOFT α=100", "SOFT α=10", "SOFT", "SOFT α=0.1"]}


@pytest.mark.parametrize("dataset", ["ml-100k", "ml-1m"])
def test_the_few_shot_suites_train_every_llm_model_on_64_samples_over_three_seeds(dataset):
    suite = load_suite(SUITES / f"few-shot-{dataset}.yaml")
    assert {model.label for model in suite.models} == FEW_SHOT and suite.dataset == dataset
    assert suite.seeds == [2020, 2021, 2022]
    assert suite.config["train_sample_num"] == suite.config["clclm_sample_num"] == 64
    assert suite.config["pairwise_auc_negatives"] == 1


def test_the_backbone_suite_runs_bigrec_and_soft_on_text_and_hybrid_prompts():
    suite = load_suite(SUITES / "backbones-ml-100k.yaml")
    assert {model.label for model in suite.models} == BACKBONES
    hybrid = {model.label: model.model for model in suite.models if model.config.get("item_representation") == "hybrid"}
    assert hybrid == {"BIGRec (hybrid)": "BIGRec", "SOFT (hybrid)": "SOFT"}
    # both project the SASRec row's trained encoder, the model the table shows beside them
    encoders = [model.config["item_encoder_checkpoint"] for model in suite.models if model.label in hybrid]
    assert encoders == [{"from_row": "SASRec", "file": "SASRec-*.pth"}] * len(hybrid)


def test_the_ablation_suites_remove_one_ranking_fix_from_bigrec_at_a_time():
    masked, unmasked = load_suite(SUITES / "ablation-ml-100k.yaml"), load_suite(SUITES / "ablation-unmasked-ml-100k.yaml")
    configs = {model.label: model.config for model in masked.models}
    assert configs == {
        "Pop": {},
        "BIGRec": {"prior": "popularity"},
        "BIGRec w/o beam ranking": {"prior": "popularity", "ranking_beams": 0},
        "BIGRec w/o title normalization": {"prior": "popularity", "title_normalization": "none"},
    }
    assert (masked.config, unmasked.config) == ({"exclude_history": True}, {"exclude_history": False})
    assert {model.label: model.config for model in unmasked.models} == {"Pop": {}, "BIGRec": {"prior": "popularity"}}


def test_there_is_a_suite_for_every_shared_dataset_with_titles():
    assert {"ml-100k", "ml-1m", "amazon-beauty", "amazon-games", "amazon-games-lcrec"} <= {
        load_suite(path).dataset for path in SUITES.glob("*.yaml")
    }


def test_a_derived_suite_changes_only_what_it_names(tmp_path):
    base = write(tmp_path / "base.yaml", "dataset: ml-100k\nconfig: {epochs: 3}\nmodels:\n  SASRec: {config: {hidden_size: 32, n_layers: 1}}\n  BIGRec: {}\n")
    derived = load_suite(write(tmp_path / "derived.yaml", f"extends: {base.name}\ndataset: amazon-games\nmodels:\n  SASRec: {{config: {{n_layers: 2}}}}\n"))
    sasrec, bigrec = derived.models
    assert (derived.name, derived.dataset, derived.config) == ("derived", "amazon-games", {"epochs": 3})
    assert derived.run_config(sasrec) == {"epochs": 3, "hidden_size": 32, "n_layers": 2}
    assert (bigrec.label, bigrec.model) == ("BIGRec", "BIGRec")


def test_a_label_can_name_a_variant_of_a_model(tmp_path):
    suite = load_suite(write(tmp_path / "s.yaml", "dataset: ml-100k\nmodels:\n  SOFT w/o SA: {model: SOFT, config: {curriculum: none}}\n"))
    (variant,) = suite.models
    assert (variant.label, variant.model, variant.folder_name) == ("SOFT w/o SA", "SOFT", "SOFT_w_o_SA")


@pytest.mark.parametrize(
    "text, message",
    [
        ("dataset: ml-100k\nmodels: {SASRek: {}}\n", r"model 'SASRek': Unknown model 'SASRek'"),
        ("dataset: ml-100k\nmodels: {Mine: {model: NoSuchNet}}\n", r"model 'Mine': Unknown model 'NoSuchNet'"),
        ("models: {SASRec: {}}\n", "names no dataset"),
        ("dataset: ml-100k\n", "has no models"),
        ("dataset: ml-100k\nmodel: {SASRec: {}}\n", r"unknown keys \['model'\]"),
        ("dataset: ml-100k\nseeds: 2020\nmodels: {SASRec: {}}\n", "seeds must be a non-empty list of integers"),
        ("dataset: ml-100k\nmodels: {SASRec: {epochs: 3}}\n", "expected a mapping with the keys 'model' and 'config'"),
        ("dataset: ml-100k\nmodels: {SASRec: {config: [1]}}\n", "config must be a mapping"),
        ("dataset: [ml-100k\n", "is not valid yaml"),
        ("extends: s.yaml\ndataset: ml-100k\nmodels: {Pop: {}}\n", "extends itself"),
        ("dataset: ml-100k\nmodels:\n  BIGRec: {config: {epochs: 5}}\n"
         "  SOFT: {config: {sft_adapter_path: {from_row: BIGRec, file: 'BIGRec-*[0-9]'}}}\n",
         r"model 'SOFT': sft_adapter_path loads the adapter of row 'BIGRec' as its SFT stage, but that row trains with "
         r"other settings \(epochs\)"),
    ],
)
def test_a_bad_suite_file_is_refused_with_what_to_fix(tmp_path, text, message):
    with pytest.raises(SuiteError, match=message):
        load_suite(write(tmp_path / "s.yaml", text))


def test_a_missing_suite_file_is_named(tmp_path):
    with pytest.raises(SuiteError, match="no-such.yaml does not exist"):
        load_suite(tmp_path / "no-such.yaml")
