import json

import pytest
import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

from recbole_soft.llm.loading import EMBEDDED_LLM, adapter_base_model, name_adapter_base_model


def with_trained_lora(model):
    """The model with non-zero LoRA B matrices, so that its adapter changes what the base model computes."""
    torch.manual_seed(1)
    for name, parameter in model.llm.named_parameters():
        if "lora_B" in name:
            parameter.data.normal_(std=0.5)
    return model.eval()


def test_a_saved_adapter_loads_with_plain_peft_onto_the_base_model(build, tiny_llm, tmp_path):
    *_, model = build("BIGRec")
    with_trained_lora(model).save_adapter(tmp_path / "adapter")
    assert adapter_base_model(tmp_path / "adapter") == str(tiny_llm)  # a local folder: the path as the user gave it

    base = AutoModelForCausalLM.from_pretrained(tiny_llm).eval()
    tokens = model.tokenizer(["A user watched Space Story 3"], return_tensors="pt").input_ids
    with torch.no_grad():
        base_logits = base(tokens).logits
        adapted = PeftModel.from_pretrained(base, tmp_path / "adapter").eval()
        assert torch.allclose(adapted(tokens).logits, model.llm(tokens).logits, atol=1e-5)
        assert not torch.allclose(base_logits, model.llm(tokens).logits, atol=1e-3)


@pytest.mark.parametrize(
    "llm_path, name",
    [(EMBEDDED_LLM, "HuggingFaceTB/SmolLM2-135M-Instruct"), ("test-org/tiny-llama", "test-org/tiny-llama")],
)
def test_an_adapter_names_the_embedded_model_and_a_hub_model_by_their_hub_id(
    llm_path, name, build, tiny_llm, tmp_path, monkeypatch
):
    # the tiny model stands in for the embedded model's converted cache folder and for the hub's snapshot folder
    monkeypatch.setattr("recbole_soft.model.llm_recommender.resolve_llm_folder", lambda *_: tiny_llm)
    *_, model = build("BIGRec", llm_path=llm_path)
    model.save_adapter(tmp_path / "adapter")
    assert adapter_base_model(tmp_path / "adapter") == name
    assert json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())["revision"] is None  # the default


def test_an_sft_adapter_fits_only_the_exact_base_model_it_was_trained_on(build, tiny_llm, tmp_path):
    *_, model = build("BIGRec")
    model.save_adapter(tmp_path / "adapter")
    assert model.fits_adapter(tmp_path / "adapter")
    identity = tmp_path / "adapter" / "base_model.json"
    identity.write_text(json.dumps({**json.loads(identity.read_text()), "fingerprint": "another-revision"}))
    assert not model.fits_adapter(tmp_path / "adapter")  # same name, other weights
    identity.unlink()  # an adapter saved before base_model.json existed: judged by the base PEFT recorded
    assert model.fits_adapter(tmp_path / "adapter")
    name_adapter_base_model(tmp_path / "adapter", "/models/other-llm")
    assert not model.fits_adapter(tmp_path / "adapter")


def test_teacher_forced_scores_do_not_depend_on_how_many_sequences_share_a_pass(build):
    from recbole_soft.data.negatives import uniform_sampler

    _, _, valid_data, _, model = build("BIGRec")
    rows = valid_data._dataset.inter_feat
    negatives = uniform_sampler(model.titles, 7).sample(rows["item_id"].tolist(), 3)

    def scores(likelihood_batch_size):
        model.likelihood_batch_size = likelihood_batch_size
        return model.validation_loss(rows), model.pairwise_auc(rows, negatives)

    one_at_a_time, many = scores(1), scores(64)
    assert one_at_a_time[0] == pytest.approx(many[0], abs=1e-5)
    assert one_at_a_time[1] == many[1]


@pytest.mark.parametrize("representation", ["text", "hybrid"])
def test_candidates_scored_without_gradients_share_their_prompt_and_score_as_with_gradients(
    build, sasrec_checkpoint, representation, monkeypatch
):
    from recbole_soft.data.negatives import uniform_sampler
    from recbole_soft.model import llm_recommender

    *_, test_data, model = build("DMPO", item_representation=representation, item_encoder_checkpoint=sasrec_checkpoint)
    rows = next(iter(test_data))[0]
    negatives = uniform_sampler(model.titles, 7).sample(rows["item_id"].tolist(), 3)
    model.eval()
    shared_calls, score_shared = [], llm_recommender.shared_prompt_log_probs

    def counted(*args):
        shared_calls.append(torch.is_grad_enabled())
        return score_shared(*args)

    monkeypatch.setattr(llm_recommender, "shared_prompt_log_probs", counted)
    with_gradients, counts = model.candidate_log_probs(rows, negatives)
    with torch.no_grad():
        shared, shared_counts = model.candidate_log_probs(rows, negatives)
    assert shared_calls == [False]  # the prompt is shared only where nothing is trained
    assert with_gradients.requires_grad and not shared.requires_grad
    assert torch.equal(counts, shared_counts)
    assert torch.allclose(shared, with_gradients.detach(), atol=1e-4)


def test_a_pass_holds_whole_rows_within_the_likelihood_batch(build):
    model = build("BIGRec", likelihood_batch_size=16)[-1]
    assert [model.rows_per_likelihood_pass(width) for width in (1, 4, 6, 16, 40)] == [16, 4, 2, 1, 1]


@pytest.fixture
def sasrec_checkpoint(trained_checkpoint) -> str:
    return trained_checkpoint("SASRec")


def test_a_hybrid_adapter_saves_and_reloads_its_projector_to_identical_scores(build, sasrec_checkpoint, tmp_path):
    hybrid = {"item_representation": "hybrid", "item_encoder_checkpoint": sasrec_checkpoint, "ranking_beams": 3}
    *_, test_data, model = build("BIGRec", **hybrid)
    interaction = next(iter(test_data))[0]
    assert all(p.requires_grad for p in model.hybrid_embedding.projector.parameters())
    model.train()
    model.calculate_loss(interaction).backward()
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1.0)
    optimizer.step()  # a trained projector and adapter, not their initial values
    model.eval()
    model.save_adapter(tmp_path / "adapter")
    with torch.no_grad():
        scores = model.full_sort_predict(interaction)

    fresh = build("BIGRec", **hybrid)[-1].eval()
    with torch.no_grad():
        assert not torch.equal(fresh.full_sort_predict(interaction), scores)
        fresh.load_adapter(tmp_path / "adapter")
        assert torch.equal(fresh.full_sort_predict(interaction), scores)


def test_a_text_adapter_cannot_be_loaded_as_a_hybrid_one_nor_the_reverse(build, sasrec_checkpoint, tmp_path):
    from recbole_soft.errors import InvalidSetting, MissingInput

    text = build("BIGRec")[-1]
    text.save_adapter(tmp_path / "text")
    hybrid = build("BIGRec", item_representation="hybrid", item_encoder_checkpoint=sasrec_checkpoint)[-1]
    hybrid.save_adapter(tmp_path / "hybrid")
    with pytest.raises(MissingInput, match="item_representation=text"):
        hybrid.load_adapter(tmp_path / "text")
    with pytest.raises(InvalidSetting, match="item_representation=hybrid"):
        text.load_adapter(tmp_path / "hybrid")
