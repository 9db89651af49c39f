import math

import pytest
import torch
import torch.nn.functional as F

from recbole_soft.model.dmpo import dmpo_loss


def test_the_loss_equals_the_formula_on_hand_made_log_probabilities():
    policy = torch.tensor([[-1.0, -3.0, -4.0], [-2.0, -1.0, -1.5]])
    reference = torch.tensor([[-2.0, -2.0, -2.0], [-2.0, -2.0, -2.0]])
    loss, margins = dmpo_loss(policy, reference, torch.tensor(0.5), beta=0.1, gamma=1.0)
    expected_margins = [0.1 * (1.0 - (-1.0 - 2.0) / 2), 0.1 * (0.0 - (1.0 + 0.5) / 2)]
    assert margins.tolist() == pytest.approx(expected_margins)
    expected = sum(-math.log(1 / (1 + math.exp(-m))) for m in expected_margins) / 2 + 0.5
    assert loss.item() == pytest.approx(expected)


def test_with_one_negative_it_is_dpo_plus_the_sft_term():
    policy, reference = torch.randn(5, 2), torch.randn(5, 2)
    loss, _ = dmpo_loss(policy, reference, torch.tensor(0.3), beta=0.5, gamma=2.0)
    dpo = -F.logsigmoid(0.5 * ((policy[:, 0] - reference[:, 0]) - (policy[:, 1] - reference[:, 1]))).mean()
    assert loss.item() == pytest.approx(dpo.item() + 2.0 * 0.3, rel=1e-6)


def test_its_gradient_raises_the_positive_against_the_negatives(build):
    _, train_data, *_, model = build("DMPO", dmpo_gamma=0.0)
    batch = next(iter(train_data))
    negatives = torch.tensor([[item % (model.n_items - 1) + 1 for item in (p + 3, p + 7)] for p in batch["item_id"].tolist()])
    model.eval()
    with torch.no_grad():
        reference, _ = model.candidate_log_probs(batch, negatives)
    model.preference = {key: (negatives[row], reference[row]) for row, key in enumerate(model.preference_keys(batch))}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=0.02)
    for _ in range(5):
        loss, _ = model.preference_loss(batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    with torch.no_grad():
        after, _ = model.candidate_log_probs(batch, negatives)
    gap = lambda logps: (logps[:, 0] - logps[:, 1:].mean(dim=1)).mean().item()  # noqa: E731
    assert gap(after) > gap(reference) + 0.1


def test_beta_must_be_positive():
    from recbole_soft.config import Config

    with pytest.raises(ValueError, match="dmpo_beta=0 is invalid: it must be a number > 0"):
        Config(model="DMPO", dataset="ml-100k", config_dict={"dmpo_beta": 0})
