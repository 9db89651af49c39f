import logging

import pytest
import torch

from recbole_soft.llm.memory import (
    FREE_MEMORY_SHARE,
    SequenceCost,
    backward_in_micro_batches,
    batch_for_free_memory,
    in_batches,
    over_own_rows,
)


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
    from recbole_soft.llm import generation

    *_, test_data, model = build("BIGRec", generation_batch_size=8, embedding_batch_size=8)
    model.eval()
    rows = test_data._dataset.inter_feat[torch.arange(6)]
    expected_titles, expected_embeddings = model.generate(model.prompts(rows)), model.grounder.embed(model.titles[1:7])
    generate_batch = generation._generate_batch
    monkeypatch.setattr(generation, "_generate_batch", lambda llm, tok, prompts, decoding: fails_above(2, lambda batch: generate_batch(llm, tok, batch, decoding))(prompts))
    embed_batch = model.grounder._embed_batch
    monkeypatch.setattr(model.grounder, "_embed_batch", fails_above(3, embed_batch))
    assert model.generate(model.prompts(rows)) == expected_titles and model.generator.batch_size == 2
    assert torch.allclose(model.grounder.embed(model.titles[1:7]), expected_embeddings, atol=1e-5) and model.grounder.batch_size == 2


def test_a_pass_over_rows_halves_on_out_of_memory_and_covers_every_row_once_in_order():
    outputs, fitted = over_own_rows(fails_above(3, lambda rows: rows.tolist()), 11, 8, "testing")
    assert [row for rows in outputs for row in rows] == list(range(11)) and fitted == 2


def test_teacher_forced_passes_shrink_on_out_of_gpu_memory_and_give_the_same_values(build, monkeypatch):
    from recbole_soft.model import llm_recommender

    *_, valid_data, _, model = build("BIGRec", likelihood_batch_size=8)
    rows = valid_data._dataset.inter_feat[torch.arange(6)]
    negatives = torch.tensor([[1, 2]] * 6)
    expected = model.validation_loss(rows), model.pairwise_auc(rows, negatives)
    assert model.likelihood_batch_size == 8  # passes that fit leave the setting as it was
    target_log_probs, candidates = llm_recommender.target_log_probs, model.candidate_log_probs
    monkeypatch.setattr(llm_recommender, "target_log_probs", lambda llm, encoded: fails_above(
        2, lambda ids: target_log_probs(llm, encoded))(encoded.input_ids))
    monkeypatch.setattr(model, "candidate_log_probs", lambda interaction, negatives: fails_above(
        1, lambda _: candidates(interaction, negatives))(interaction))
    assert model.pairwise_auc(rows, negatives) == expected[1]
    assert model.likelihood_batch_size == 1 * 3  # one row of 3 titles fitted: later passes start from there
    assert model.validation_loss(rows) == pytest.approx(expected[0], rel=1e-5) and model.likelihood_batch_size == 1


def test_a_training_batch_out_of_gpu_memory_is_split_with_the_same_gradients(build):
    *_, train_data, _, _, model = build("BIGRec", train_batch_size=4)
    batch = next(iter(train_data))
    trainable = [p for p in model.parameters() if p.requires_grad]
    model.eval()  # no LoRA dropout, so that both ways of batching compute the same function

    def backward(part, share):
        if len(part) > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory.")
        loss = torch.stack([model.real_target_loss(part[torch.tensor([row])]) for row in range(len(part))]).mean()
        (loss * share).backward()
        return loss.item() * share

    def gradients(micro_batch_size):
        for parameter in trainable:
            parameter.grad = None
        loss, fitted = backward_in_micro_batches(backward, batch, trainable, micro_batch_size)
        return loss, fitted, [parameter.grad.clone() for parameter in trainable]

    split_loss, fitted, split = gradients(None)  # the full batch fails, then halves
    assert fitted == 2
    reference_loss, _, reference = gradients(1)
    assert split_loss == pytest.approx(reference_loss, rel=1e-5)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(split, reference))


LLAMA_3B = SequenceCost(layers=28, hidden=3072, intermediate=8192, kv_width=8 * 128, vocabulary=128256, value_bytes=2)


def test_a_sequence_costs_more_with_more_tokens_beams_and_gradients():
    assert LLAMA_3B.generation(400, 32, 10) > LLAMA_3B.generation(400, 32, 4) > LLAMA_3B.generation(200, 32, 4)
    assert LLAMA_3B.training(420, 21, checkpointing=False) > LLAMA_3B.training(420, 21, checkpointing=True)
    assert LLAMA_3B.training(420, 21, checkpointing=True) > LLAMA_3B.forward(420, 21)
    # a 3B model's KV cache: 2 x 28 layers x 1024 values x 2 bytes = 112 KiB per token and beam
    assert LLAMA_3B.generation(400, 32, 1) - LLAMA_3B.generation(399, 32, 1) == 2 * 28 * 1024 * 2 + 2 * 8192 * 2
    # a teacher-forced pass holds the same cache beside one layer's activations (a shared prompt's copy per candidate)
    assert LLAMA_3B.forward(400, 21) - LLAMA_3B.forward(399, 21) == 2 * 28 * 1024 * 2 + (4 * 3072 + 2 * 8192) * 2


def test_the_cost_is_read_from_the_models_config(tiny_llm):
    from transformers import AutoModelForCausalLM

    cost = SequenceCost.of(AutoModelForCausalLM.from_pretrained(tiny_llm), value_bytes=4)
    assert (cost.layers, cost.hidden, cost.intermediate, cost.kv_width) == (2, 64, 128, 2 * 16)


def test_the_batch_fills_most_of_the_free_memory_and_stays_within_its_bounds(monkeypatch):
    free = 10 * 2**30
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (free, 24 * 2**30))
    assert batch_for_free_memory(2**26, 1024, torch.device("cuda")) == int(free * FREE_MEMORY_SHARE) // 2**26 == 128
    assert batch_for_free_memory(2**26, 16, torch.device("cuda")) == 16
    assert batch_for_free_memory(2**40, 16, torch.device("cuda")) == 1


def test_auto_batch_sizes_are_the_cpu_defaults_without_cuda(build):
    *_, model = build("BIGRec", generation_batch_size="auto", embedding_batch_size="auto", likelihood_batch_size="auto")
    assert (model.generator.batch_size, model.grounder.batch_size) == (16, 64)
    assert model.likelihood_batch_size == model.training_batch_size == 16


def test_auto_batch_sizes_on_a_gpu_follow_its_free_memory(build, monkeypatch):
    *_, model = build("BIGRec")
    for free in (2**40, 2**24):
        monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (free, free))
        sizes = model._sizes_from_free_memory(["generation_batch_size", "likelihood_batch_size"], checkpointing=False)
        assert set(sizes) == {"generation_batch_size", "likelihood_batch_size", "training"}
        assert sizes["training"] <= sizes["likelihood_batch_size"]  # gradients cost more than a forward pass
        assert all(size == 256 for size in sizes.values()) if free == 2**40 else sizes["training"] < 256
