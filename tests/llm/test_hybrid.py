"""LLaRA's hybrid prompts: each history title is followed by a placeholder whose embedding is a projected item vector."""
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from recbole_soft.llm.hybrid import ITEM_PLACEHOLDER, HybridPrompt, add_placeholder_token, install_hybrid_embedding
from recbole_soft.llm.likelihood import prompt_ids
from recbole_soft.llm.prompts import PromptBuilder

TITLES = ["[pad]", "Heat (1995)", "Alien (1979)", "Fargo (1996)", "Babe (1995)"]


@pytest.fixture
def hybrid_llm(tiny_llm):
    tokenizer = AutoTokenizer.from_pretrained(tiny_llm)
    model = AutoModelForCausalLM.from_pretrained(tiny_llm).eval()
    text_embedding = model.get_input_embeddings()
    add_placeholder_token(tokenizer)
    offset = max(len(tokenizer), text_embedding.num_embeddings)
    torch.manual_seed(3)
    hybrid = install_hybrid_embedding(model, torch.randn(len(TITLES), 8), offset)
    builder = PromptBuilder(tokenizer, TITLES, "Seen:\n{history}\nNext?", "movies", 3, "Be brief.", offset)
    return model, tokenizer, hybrid, text_embedding, builder


def test_each_projected_vector_sits_at_its_placeholder_as_hand_built_inputs_embeds(hybrid_llm):
    model, tokenizer, hybrid, text_embedding, builder = hybrid_llm
    [prompt] = builder.prompts(torch.tensor([[4, 2, 3, 1, 0]]), torch.tensor([4]), hybrid=[True])
    assert isinstance(prompt, HybridPrompt) and prompt.count(ITEM_PLACEHOLDER) == 3
    assert "Alien (1979) " + ITEM_PLACEHOLDER in prompt  # the last 3 items, each title then its placeholder

    ids = torch.tensor([prompt_ids(tokenizer, prompt)])
    text_ids = tokenizer(str(prompt), add_special_tokens=False).input_ids
    slots = [position for position, token in enumerate(text_ids) if token == prompt.placeholder_token]
    with torch.no_grad():
        expected = text_embedding(torch.tensor([[0 if p in slots else t for p, t in enumerate(text_ids)]]))
        for slot, item in zip(slots, [2, 3, 1]):
            expected[0, slot] = hybrid.projector(hybrid.item_vectors[item])
        assert torch.allclose(model.get_input_embeddings()(ids), expected, atol=1e-6)
        by_ids = model(input_ids=ids).logits
        by_embeds = model(inputs_embeds=expected).logits
    assert torch.allclose(by_ids, by_embeds, atol=1e-5)


def test_a_text_prompt_is_embedded_exactly_as_before(hybrid_llm):
    model, tokenizer, _, text_embedding, builder = hybrid_llm
    [prompt] = builder.prompts(torch.tensor([[4, 2, 3, 1, 0]]), torch.tensor([4]), hybrid=[False])
    ids = torch.tensor([prompt_ids(tokenizer, prompt)])
    assert ITEM_PLACEHOLDER not in prompt and not isinstance(prompt, HybridPrompt)
    with torch.no_grad():
        assert torch.equal(model.get_input_embeddings()(ids), text_embedding(ids))


def test_only_the_projector_receives_gradients(hybrid_llm):
    model, tokenizer, hybrid, _, builder = hybrid_llm
    model.requires_grad_(False)
    hybrid.projector.requires_grad_(True)
    [prompt] = builder.prompts(torch.tensor([[4, 2, 3, 1, 0]]), torch.tensor([4]), hybrid=[True])
    model(input_ids=torch.tensor([prompt_ids(tokenizer, prompt)])).logits.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in hybrid.projector.parameters())
    assert hybrid.tokens.weight.grad is None


def test_a_prompt_whose_placeholders_were_cut_is_refused():
    prompt = HybridPrompt("a <x> b", placeholder_token=7, item_tokens=[100, 101])
    with pytest.raises(ValueError, match="fewer placeholder tokens than items"):
        prompt.token_ids([1, 7, 2])
    assert prompt.token_ids([7, 1, 7]) == [100, 1, 101]
