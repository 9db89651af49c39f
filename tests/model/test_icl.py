def test_icl_trains_nothing_and_shows_seeded_demonstrations(build):
    _, train_data, _, test_data, model = build("ICL", icl_demo_num=2)
    assert not any(p.requires_grad for p in model.parameters())
    assert len(model.demonstrations) == 2
    history, answer = model.demonstrations[0]
    assert answer in model.titles and set(history) <= set(model.titles)
    prompt = model.prompts(next(iter(test_data))[0])[0]
    assert prompt.count("<|im_start|>user") == 3 and prompt.count(answer) >= 1


def test_zero_shot_icl_prompts_the_query_only(build):
    _, _, _, test_data, model = build("ICL", icl_demo_num=0)
    assert model.prompts(next(iter(test_data))[0])[0].count("<|im_start|>user") == 1
