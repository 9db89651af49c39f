import logging

import pytest
import torch

from recbole_soft.llm.memory import in_batches


def fails_above(limit: int, work):
    """``work`` over a batch, or CUDA out-of-memory when the batch is larger than ``limit``."""
    def run(batch):
        if len(batch) > limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return work(batch)
    return run


def test_out_of_memory_halves_the_batch_and_loses_no_item(caplog):
    with caplog.at_level(logging.WARNING):
        outputs, fitted = in_batches(fails_above(3, lambda batch: [item * 10 for item in batch]), list(range(11)), 16, "testing")
    assert outputs == [item * 10 for item in range(11)] and fitted == 2
    assert "Out of GPU memory testing with a batch of 16: retrying with batches of 8" in caplog.text


def test_out_of_memory_with_a_batch_of_one_is_raised_with_advice():
    with pytest.raises(torch.cuda.OutOfMemoryError, match="with a batch of 1: use a smaller model or quantization"):
        in_batches(fails_above(0, list), [1, 2], 2, "testing")


def test_generation_and_grounding_shrink_their_batches_and_give_the_same_answers(build, monkeypatch):
    from recbole_soft.model import llm_recommender

    *_, test_data, model = build("BIGRec", generation_batch_size=8, embedding_batch_size=8)
    model.eval()
    rows = test_data._dataset.inter_feat[torch.arange(6)]
    expected_titles, expected_embeddings = model.generate(model.prompts(rows)), model.grounder.embed(model.titles[1:7])
    generate_titles = llm_recommender.generate_titles
    monkeypatch.setattr(llm_recommender, "generate_titles", lambda llm, tok, prompts, **kw: fails_above(2, lambda batch: generate_titles(llm, tok, batch, **kw))(prompts))
    embed_batch = model.grounder._embed_batch
    monkeypatch.setattr(model.grounder, "_embed_batch", fails_above(3, embed_batch))
    assert model.generate(model.prompts(rows)) == expected_titles and model.generation_batch_size == 2
    assert torch.allclose(model.grounder.embed(model.titles[1:7]), expected_embeddings, atol=1e-5) and model.grounder.batch_size == 2
