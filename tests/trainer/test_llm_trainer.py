import json
from pathlib import Path

import pytest

from recbole_soft import run_recbole_soft
from tests.conftest import PROTOCOL


def test_bigrec_trains_saves_a_peft_adapter_and_tests_with_full_ranking(llm_config):
    result = run_recbole_soft("BIGRec", "tiny", [PROTOCOL], llm_config)
    adapter = Path(result["result_file"]).with_suffix("").with_suffix("")
    assert (adapter / "adapter_model.safetensors").is_file() and (adapter / "adapter_config.json").is_file()
    assert json.loads((adapter / "trainer_state.json").read_text())["epoch"] == 0
    assert not list(adapter.parent.glob("*.partial")) and not list(adapter.parent.glob("*.pth"))
    assert set(result["best_valid_result"]) == {"valid_loss"} and result["valid_score_bigger"] is False
    assert {"hit@10", "ndcg@10", "mrr@10"} <= set(result["test_result"])


def test_training_uses_the_seeded_sample_cap(build):
    from recbole_soft.trainer import LLMTrainer

    config, train_data, valid_data, _, model = build("BIGRec", train_sample_num=12, train_batch_size=4)
    trainer = LLMTrainer(config, model)
    seen = []
    model.calculate_loss = lambda interaction: seen.append(len(interaction)) or model.real_target_loss(interaction)
    trainer.fit(train_data, valid_data, saved=False)
    assert sum(seen) == 12


def test_icl_is_evaluated_without_training(llm_config):
    result = run_recbole_soft("ICL", "tiny", [PROTOCOL], {**llm_config, "icl_demo_num": 1})
    assert result["best_valid_result"] is None
    assert {"hit@10", "ndcg@10"} <= set(result["test_result"])


def test_a_training_batch_out_of_gpu_memory_is_split_with_the_same_gradients(build):
    import torch

    from recbole_soft.trainer import LLMTrainer

    config, train_data, *_, model = build("BIGRec", train_batch_size=4)
    trainer = LLMTrainer(config, model)
    batch = next(iter(trainer.training_samples(train_data)))
    trainable = [p for p in model.parameters() if p.requires_grad]
    model.eval()  # no LoRA dropout, so that both ways of batching compute the same function

    def row_mean_loss(interaction):
        if len(interaction) > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory.")
        return torch.stack([model.real_target_loss(interaction[torch.tensor([row])]) for row in range(len(interaction))]).mean()

    def gradients(micro_batch_size):
        trainer.micro_batch_size = micro_batch_size
        for parameter in trainable:
            parameter.grad = None
        loss = trainer._forward_backward(row_mean_loss, batch, trainable)
        return loss, [parameter.grad.clone() for parameter in trainable]

    split_loss, split = gradients(None)  # the full batch fails, then halves
    assert trainer.micro_batch_size == 2
    reference_loss, reference = gradients(1)
    assert split_loss == pytest.approx(reference_loss, rel=1e-5)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(split, reference))
