import logging

import pytest
import torch

from recbole_soft.llm.memory import backward_in_micro_batches, in_batches


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
