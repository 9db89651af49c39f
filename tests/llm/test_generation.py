import warnings

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from recbole_soft.llm.generation import Decoding, TitleGenerator, TitleTrie
from recbole_soft.llm.likelihood import target_ids

TITLES = ["Heat", "Heat Wave", "The Big Sleep (1946)", "Toy Story"]


def test_the_trie_allows_exactly_the_continuations_of_real_titles():
    trie = TitleTrie([[1, 2, 9], [1, 3, 9], [4, 9]])
    assert sorted(trie.next_tokens([])) == [1, 4]
    assert sorted(trie.next_tokens([1])) == [2, 3]
    assert trie.next_tokens([1, 2, 9]) == []
    assert trie.next_tokens([7]) == []


def test_constrained_decoding_makes_even_a_random_model_answer_real_titles(tiny_llm):
    tokenizer = AutoTokenizer.from_pretrained(tiny_llm)
    model = AutoModelForCausalLM.from_pretrained(tiny_llm).eval()
    trie = TitleTrie.from_titles(tokenizer, TITLES)
    prompts = [f"User {i} watched some films. Next:" for i in range(5)]
    for beams in (1, 3):
        answers = TitleGenerator(model, tokenizer, batch_size=2).generate(prompts, Decoding(beams, 16, trie=trie))
        assert len(answers) == len(prompts)
        assert set(answers) <= set(TITLES)


def test_unconstrained_generation_stops_at_the_token_budget(tiny_llm):
    tokenizer = AutoTokenizer.from_pretrained(tiny_llm)
    model = AutoModelForCausalLM.from_pretrained(tiny_llm).eval()
    [answer] = TitleGenerator(model, tokenizer, batch_size=1).generate(["Next:"], Decoding(2, max_new_tokens=3))
    assert len(tokenizer(answer, add_special_tokens=False).input_ids) <= 3 + 1  # decoding may merge or split a token
    assert target_ids(tokenizer, "Heat")[-1] == tokenizer.eos_token_id


def test_beam_ranking_returns_distinct_real_titles_with_their_exact_log_probabilities_best_first(tiny_llm):
    from recbole_soft.llm.likelihood import encode_targets, target_log_probs

    tokenizer = AutoTokenizer.from_pretrained(tiny_llm)
    model = AutoModelForCausalLM.from_pretrained(tiny_llm).eval()
    trie = TitleTrie.from_titles(tokenizer, TITLES + ["Heat"])  # a repeated title is one candidate
    prompts = [f"User {i} watched some films. Next:" for i in range(3)]
    ranked, _ = TitleGenerator(model, tokenizer, batch_size=2).rank(prompts, trie, k=len(TITLES), max_new_tokens=16)
    for prompt, titles in zip(prompts, ranked):
        assert sorted(title for title, _ in titles) == sorted(TITLES)  # width = catalogue: every title is found
        scores = [score for _, score in titles]
        assert scores == sorted(scores, reverse=True)
        with torch.no_grad():
            exact, _ = target_log_probs(model, encode_targets(tokenizer, [prompt] * len(titles), [t for t, _ in titles], torch.device("cpu")))
        assert torch.allclose(torch.tensor(scores), exact, atol=1e-4)


def test_a_narrow_beam_ranking_keeps_at_most_k_titles(tiny_llm):
    tokenizer = AutoTokenizer.from_pretrained(tiny_llm)
    model = AutoModelForCausalLM.from_pretrained(tiny_llm).eval()
    trie = TitleTrie.from_titles(tokenizer, TITLES)
    [titles], _ = TitleGenerator(model, tokenizer, batch_size=1).rank(["Next:"], trie, k=2, max_new_tokens=16)
    assert len(titles) == 2 and len({title for title, _ in titles}) == 2 and {t for t, _ in titles} <= set(TITLES)


def test_beam_ranking_passes_its_kv_cache_as_the_installed_transformers_expects(tiny_llm):
    tokenizer = AutoTokenizer.from_pretrained(tiny_llm)
    model = AutoModelForCausalLM.from_pretrained(tiny_llm).eval()
    trie = TitleTrie.from_titles(tokenizer, TITLES)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # e.g. "`past_key_values` is deprecated" at every step
        TitleGenerator(model, tokenizer, batch_size=2).rank(["Next:", "Then:"], trie, k=3, max_new_tokens=16)


def test_excluded_titles_are_never_ranked_but_titles_sharing_their_prefix_still_are(tiny_llm):
    tokenizer = AutoTokenizer.from_pretrained(tiny_llm)
    model = AutoModelForCausalLM.from_pretrained(tiny_llm).eval()
    trie = TitleTrie.from_titles(tokenizer, TITLES)
    generator = TitleGenerator(model, tokenizer, batch_size=2)
    ranked, _ = generator.rank(["Next:", "Then:"], trie, k=len(TITLES), max_new_tokens=16, excluded=[["Heat"], ["Toy Story", "Heat Wave"]])
    assert sorted(title for title, _ in ranked[0]) == sorted(set(TITLES) - {"Heat"})  # "Heat Wave" survives
    assert sorted(title for title, _ in ranked[1]) == ["Heat", "The Big Sleep (1946)"]


def test_scoring_titles_from_the_beams_prompt_encoding_leaves_the_ranking_as_it_was(tiny_llm):
    from recbole_soft.llm.likelihood import shared_prompt_log_probs

    tokenizer = AutoTokenizer.from_pretrained(tiny_llm)
    model = AutoModelForCausalLM.from_pretrained(tiny_llm).eval()
    trie = TitleTrie.from_titles(tokenizer, TITLES)
    prompts = [f"User {i} watched some films. Next:" for i in range(3)]
    scored = [["Heat", "Toy Story"], ["Heat Wave", "Heat"], ["Toy Story", "The Big Sleep (1946)"]]
    generator = TitleGenerator(model, tokenizer, batch_size=2)
    expected, _ = shared_prompt_log_probs(model, tokenizer, prompts, scored)
    for k in (3, 1):  # k = 1: 2 titles per prompt are more rows than 1 beam per prompt, scored a prompt at a time
        ranked, log_probs = generator.rank(prompts, trie, k=k, max_new_tokens=16, scored=scored)
        assert ranked == generator.rank(prompts, trie, k=k, max_new_tokens=16)[0]
        assert torch.allclose(torch.tensor(log_probs), expected, atol=1e-4)
