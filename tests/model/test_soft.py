import pytest

from recbole_soft.llm.prompts import prompt_key


def _with_distilled(model, batch, answers):
    model.distilled = {prompt_key(p): a for p, a in zip(model.prompts(batch), answers)}


def test_the_mixed_loss_is_the_weighted_sum_of_the_two_cross_entropies(build):
    _, train_data, *_, model = build("SOFT")
    batch = next(iter(train_data))
    _with_distilled(model, batch, ["Space Story 1"] * len(batch))
    model.eval()  # no dropout: the two calls below see the same function
    for weight in (0.0, 0.3, 1.0):
        mixed, real, distilled = model.curriculum_losses(batch, weight)
        assert mixed.item() == pytest.approx((1 - weight) * real.item() + weight * distilled.item(), rel=1e-6)
    assert model.curriculum_losses(batch, 0.5)[1].item() == pytest.approx(model.real_target_loss(batch).item())


def test_a_zero_weighted_term_carries_no_gradient(build):
    _, train_data, *_, model = build("SOFT")
    batch = next(iter(train_data))
    _with_distilled(model, batch, ["Noir Story 3"] * len(batch))
    mixed, real, distilled = model.curriculum_losses(batch, 1.0)
    assert distilled.requires_grad and not real.requires_grad
    mixed, real, distilled = model.curriculum_losses(batch, 0.0)
    assert real.requires_grad and not distilled.requires_grad


def test_a_prompt_without_a_distilled_answer_is_an_error_not_a_silent_skip(build):
    _, train_data, *_, model = build("SOFT")
    with pytest.raises(RuntimeError, match="no self-distilled answer"):
        model.curriculum_losses(next(iter(train_data)), 0.5)
