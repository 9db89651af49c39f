import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from recbole_soft.llm.likelihood import (
    IGNORE_INDEX,
    encode_targets,
    prompt_ids,
    shared_prompt_log_probs,
    target_ids,
    target_log_probs,
)

CPU = torch.device("cpu")


def test_only_the_target_title_and_its_end_token_are_labelled(tiny_llm):
    tokenizer = AutoTokenizer.from_pretrained(tiny_llm)
    prompts = ["<|im_start|>user\nA long prompt about movies<|im_end|>\n<|im_start|>assistant\n", "short"]
    targets = ["Heat", "The Big Sleep (1946)"]
    batch = encode_targets(tokenizer, prompts, targets, CPU)
    for row, (prompt, target) in enumerate(zip(prompts, targets)):
        labelled = batch.labels[row][batch.labels[row] != IGNORE_INDEX].tolist()
        assert labelled == target_ids(tokenizer, target)
        assert labelled[-1] == tokenizer.eos_token_id
        real = batch.input_ids[row][batch.attention_mask[row] == 1].tolist()
        assert real == prompt_ids(tokenizer, prompt) + target_ids(tokenizer, target)


def test_batched_log_probs_equal_those_of_each_sequence_alone(tiny_llm):
    tokenizer = AutoTokenizer.from_pretrained(tiny_llm)
    model = AutoModelForCausalLM.from_pretrained(tiny_llm).eval()
    prompts = ["Name a film:", "Name a film you liked a lot last year:"]
    targets = ["Heat", "The Big Sleep (1946)"]
    with torch.no_grad():
        log_probs, counts = target_log_probs(model, encode_targets(tokenizer, prompts, targets, CPU))
        for prompt, target, batched, count in zip(prompts, targets, log_probs, counts):
            ids = prompt_ids(tokenizer, prompt) + target_ids(tokenizer, target)
            n = len(target_ids(tokenizer, target))
            alone = model(torch.tensor([ids])).logits.log_softmax(-1)[0]
            expected = sum(alone[len(ids) - n - 1 + j, ids[len(ids) - n + j]] for j in range(n))
            assert count == n
            assert torch.isclose(batched, expected, atol=1e-4)


def test_a_prompt_encoded_once_for_all_its_targets_scores_them_as_whole_sequences_do(tiny_llm):
    tokenizer = AutoTokenizer.from_pretrained(tiny_llm)
    model = AutoModelForCausalLM.from_pretrained(tiny_llm).eval()
    prompts = ["Name a film:", "Name a film you liked a lot last year, and only its title:"]
    targets = [["Heat", "The Big Sleep (1946)", "Alien"], ["Vertigo (1958)", "Up", "Heat"]]
    shared, shared_counts = shared_prompt_log_probs(model, tokenizer, prompts, targets)
    pairs = [(prompt, target) for prompt, row in zip(prompts, targets) for target in row]
    with torch.no_grad():
        whole, counts = target_log_probs(model, encode_targets(tokenizer, *map(list, zip(*pairs)), CPU))
    assert shared.shape == (2, 3)
    assert shared_counts.flatten().tolist() == counts.tolist()
    assert torch.allclose(shared.flatten(), whole, atol=1e-4)
