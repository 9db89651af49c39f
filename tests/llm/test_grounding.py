import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from recbole_soft import distributed
from recbole_soft.llm.grounding import Grounder, dealt, l2_scores

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


def test_texts_are_embedded_in_batches_of_similar_length_and_returned_in_their_own_order(tiny_llm, monkeypatch):
    grounder = _grounder(tiny_llm)
    texts = ["The Big Sleep (1946)", "Heat", "Big Sleep, The", "Up", "Heat Wave", "Toy Story"]
    token_counts = {text: len(grounder.tokenizer(text, add_special_tokens=False).input_ids) for text in texts}
    batches = []
    embed_batch = grounder._embed_batch
    monkeypatch.setattr(grounder, "_embed_batch", lambda batch: batches.append(batch) or embed_batch(batch))
    embedded = grounder.embed(texts)
    assert [token_counts[text] for batch in batches for text in batch] == sorted(token_counts[text] for text in texts)
    one_by_one = torch.cat([embed_batch([text]) for text in texts])
    assert torch.allclose(embedded, one_by_one, atol=1e-5)
    assert grounder.embed([]).shape == (0, embedded.size(1))


def test_processes_share_texts_of_every_length_each_in_its_own_block(monkeypatch):
    by_length = [7, 3, 9, 0, 4]  # text indices, shortest first
    order = dealt(by_length, 2)
    monkeypatch.setattr(distributed, "process_count", lambda: 2)
    blocks = []
    for index in (0, 1):
        monkeypatch.setattr(distributed, "process_index", lambda: index)
        blocks.append(order[distributed.own_slice(len(order))])
    assert blocks == [[7, 9, 4], [3, 0]]
    assert dealt(by_length, 1) == by_length


def test_the_item_table_is_computed_once_then_read_from_its_cache_file(tiny_llm, tmp_path, monkeypatch):
    grounder = _grounder(tiny_llm)
    cache_file = tmp_path / "table.pt"
    first = grounder.item_table(TITLES, cache_file)
    assert cache_file.is_file()
    monkeypatch.setattr(grounder, "embed", lambda *args, **kwargs: (_ for _ in ()).throw(AssertionError("recomputed")))
    assert torch.equal(grounder.item_table(TITLES, cache_file), first)
