import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from recbole_soft.llm.grounding import Grounder, l2_scores

TITLES = ["", "Heat", "Heat Wave", "The Big Sleep (1946)", "Toy Story", "Big Sleep, The"]


def _grounder(tiny_llm, pooling="last"):
    tokenizer = AutoTokenizer.from_pretrained(tiny_llm)
    model = AutoModelForCausalLM.from_pretrained(tiny_llm).eval()
    return Grounder(model, tokenizer, pooling, batch_size=2)


def test_an_exact_title_grounds_to_its_own_item_at_rank_one(tiny_llm):
    for pooling in ("last", "mean"):
        grounder = _grounder(tiny_llm, pooling)
        table = grounder.embed(TITLES)
        scores = l2_scores(grounder.embed(TITLES[1:]), table)
        scores[:, 0] = -float("inf")
        assert scores.argmax(dim=1).tolist() == list(range(1, len(TITLES)))


def test_embeddings_do_not_depend_on_batch_padding(tiny_llm):
    grounder = _grounder(tiny_llm)
    alone = torch.cat([grounder.embed([title]) for title in TITLES[1:]])
    assert torch.allclose(grounder.embed(TITLES[1:]), alone, atol=1e-5)


def test_the_item_table_is_computed_once_then_read_from_its_cache_file(tiny_llm, tmp_path, monkeypatch):
    grounder = _grounder(tiny_llm)
    cache_file = tmp_path / "table.pt"
    first = grounder.item_table(TITLES, cache_file)
    assert cache_file.is_file()
    monkeypatch.setattr(grounder, "embed", lambda *args, **kwargs: (_ for _ in ()).throw(AssertionError("recomputed")))
    assert torch.equal(grounder.item_table(TITLES, cache_file), first)
