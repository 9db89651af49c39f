import pytest
import torch

from recbole_soft import run_recbole_soft
from recbole_soft.trainer import pairwise_auc
from tests.conftest import write_atomic_dataset


def test_a_classical_and_an_llm_model_of_a_run_meet_the_same_negatives_and_both_report_the_auc(
    llm_config, monkeypatch
):
    drawn = {}
    draw = pairwise_auc.uniform_sampler

    def recorded(titles, seed):
        sampler = draw(titles, seed)
        sample = sampler.sample
        sampler.sample = lambda positives, k: drawn.setdefault(model, sample(positives, k))
        return sampler

    scored_by_full_ranking = []
    score = pairwise_auc.score_pairwise_auc

    def recorded_scoring(model, *args, **kwargs):
        scored_by_full_ranking.append(type(model).__name__)
        return score(model, *args, **kwargs)

    monkeypatch.setattr(pairwise_auc, "uniform_sampler", recorded)
    monkeypatch.setattr(pairwise_auc, "score_pairwise_auc", recorded_scoring)
    results = {}
    for model in ("Pop", "ICL"):
        results[model] = run_recbole_soft(model, "tiny", config_dict={**llm_config, "pairwise_auc_negatives": 2})
    assert torch.equal(drawn["Pop"], drawn["ICL"]) and drawn["Pop"].shape == (24, 2)
    assert scored_by_full_ranking == ["Pop"]  # the LLM compares title likelihoods, its own measure
    assert all(0.0 <= result["test_result"]["pairwise_auc"] <= 1.0 for result in results.values())


def test_a_classical_model_asked_for_the_auc_on_a_dataset_without_titles_is_told_what_to_set(llm_config, tmp_path):
    write_atomic_dataset(tmp_path, "named", title_field="name")
    settings = {**llm_config, "data_path": str(tmp_path), "pairwise_auc_negatives": 1}
    with pytest.raises(ValueError, match="Pop needs item titles for pairwise_auc_negatives.*item_text_field='title'"):
        run_recbole_soft("Pop", "named", config_dict=settings)
