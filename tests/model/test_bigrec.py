import numpy as np
import torch


def test_only_the_lora_parameters_train(build):
    *_, model = build("BIGRec")
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in name for name in trainable)


def test_a_few_steps_on_the_same_batch_lower_the_loss(build):
    _, train_data, *_, model = build("BIGRec")
    batch = next(iter(train_data))
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=0.05)
    model.train()
    losses = []
    for _ in range(8):
        loss = model.calculate_loss(batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]


def test_full_sort_predict_scores_every_item_and_masks_padding(build):
    _, _, _, test_data, model = build("BIGRec")
    interaction = next(iter(test_data))[0]
    model.eval()
    with torch.no_grad():
        scores = model.full_sort_predict(interaction)
        single = model.predict(interaction)
    assert scores.shape == (len(interaction), model.n_items)
    assert torch.all(scores[:, 0] == -np.inf)
    assert torch.isfinite(scores[:, 1:]).all()
    assert torch.allclose(single, scores.gather(1, interaction["item_id"].unsqueeze(1)).squeeze(1))


def test_constrained_answers_ground_to_the_item_they_name(build):
    _, _, _, test_data, model = build("BIGRec")
    interaction = next(iter(test_data))[0]
    model.eval()
    with torch.no_grad():
        answers = model.generate(model.prompts(interaction))
        top = model.text_scores(answers).argmax(dim=1).tolist()
    assert [model.titles[item] for item in top] == answers


def test_a_saved_adapter_reloads_to_the_same_scores(build, tmp_path):
    _, train_data, _, test_data, model = build("BIGRec")
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=0.05)
    for batch in list(train_data)[:2]:
        model.calculate_loss(batch).backward()
        optimizer.step()
        optimizer.zero_grad()
    interaction = next(iter(test_data))[0]
    model.eval()
    with torch.no_grad():
        trained = model.full_sort_predict(interaction)
    model.save_adapter(tmp_path / "adapter")
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()
    lora_b = [p for name, p in model.named_parameters() if "lora_B" in name]
    model.reset_adapter()
    assert all(torch.count_nonzero(p) == 0 for p in lora_b)  # a fresh adapter: the base model again
    model.load_adapter(tmp_path / "adapter")
    assert all(torch.count_nonzero(p) > 0 for p in lora_b)
    with torch.no_grad():
        assert torch.equal(model.full_sort_predict(interaction), trained)


def test_the_beams_items_rank_first_by_log_probability_then_every_other_item_by_distance(build):
    _, _, _, test_data, model = build("BIGRec", ranking_beams=3, max_new_tokens=12)
    interaction = next(iter(test_data))[0]
    model.eval()
    with torch.no_grad():
        ranked, _ = model.generator.rank(model.prompts(interaction), model.trie, 3, 12)
        scores = model.full_sort_predict(interaction)
    assert torch.all(scores[:, 0] == -np.inf) and torch.isfinite(scores[:, 1:]).all()
    for row, titles in enumerate(ranked):
        assert 1 <= len(titles) <= 3
        beam_items = [model.item_ids[title] for title, _ in titles]
        firsts = [scores[row, items].min().item() for items in beam_items]
        assert firsts == sorted(firsts, reverse=True)  # in the order of the titles' log-probabilities
        others = torch.ones(model.n_items, dtype=torch.bool)
        others[0] = False
        for items in beam_items:
            others[items] = False
        assert scores[row, others].max() < min(firsts)
    assert model.answers.summary()["answers"] == len(interaction)


def test_without_ranking_beams_every_item_is_ranked_by_distance_to_the_one_answer(build):
    _, _, _, test_data, model = build("BIGRec", ranking_beams=0)
    interaction = next(iter(test_data))[0]
    model.eval()
    with torch.no_grad():
        answers = model.generate(model.prompts(interaction))
        scores = model.full_sort_predict(interaction)
    assert torch.allclose(scores, model.text_scores(answers))


def test_beams_skip_exactly_the_items_the_evaluation_masks_older_ones_than_the_prompts_history_included(build):
    _, _, _, test_data, model = build("BIGRec", ranking_beams=3, max_new_tokens=12, exclude_history=True)
    interaction = next(iter(test_data))[0]
    model.eval()
    with torch.no_grad():
        unmasked, _ = model.generator.rank(model.prompts(interaction), model.trie, 3, 12, [[]] * len(interaction))
        # row 0's best beams masked as if they were items older than the MAX_ITEM_LIST_LENGTH RecBole keeps
        masked = [model.item_ids[title][0] for title, _ in unmasked[0]]
        history_index = (torch.zeros(len(masked), dtype=torch.long), torch.tensor(masked))
        with model.masking(history_index):
            assert model.skipped_titles(interaction) == [[model.titles[item] for item in masked]] + [[]] * (
                len(interaction) - 1
            )
            scores = model.full_sort_predict(interaction)
        assert model.masked_items is None  # only the batch scored inside
    beams_first = scores[0].argsort(descending=True)[:1].tolist()
    assert not set(beams_first) & set(masked)  # the best-scored item is a beam that was not masked
    assert model.skipped_titles(interaction)[0] == [
        model.titles[item] for item in interaction[model.ITEM_SEQ][0][: interaction[model.ITEM_SEQ_LEN][0]].tolist()
    ]  # outside an evaluation: the history the prompt is built from
