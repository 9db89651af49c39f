"""CL4SRec: SASRec plus InfoNCE between two augmented views of each sequence."""
import numpy as np
import pytest
import torch

from recbole_soft.model.cl4srec import info_nce


def test_info_nce_is_low_when_each_view_matches_its_twin_and_high_when_it_matches_another():
    views = torch.eye(4) * 5
    assert info_nce(views, views, 1.0) < 0.05
    assert info_nce(views, views.roll(1, dims=0), 1.0) > 4.0


def test_info_nce_equals_its_formula_with_in_batch_negatives():
    generator = torch.Generator().manual_seed(0)
    first, second = torch.randn(3, 4, generator=generator), torch.randn(3, 4, generator=generator)
    views, temperature = torch.cat([first, second]), 0.5
    losses = []
    for i in range(6):  # view i's positive is its twin (i ± 3); every other view but itself is a negative
        twin = (i + 3) % 6
        others = [j for j in range(6) if j != i]
        logits = torch.stack([views[i] @ views[j] / temperature for j in others])
        losses.append(-(views[i] @ views[twin] / temperature - torch.logsumexp(logits, dim=0)))
    assert info_nce(first, second, temperature).item() == pytest.approx(torch.stack(losses).mean().item(), abs=1e-5)


@pytest.fixture
def cl4srec(data_root):
    from recbole.data import create_dataset, data_preparation

    from recbole_soft.config import Config
    from recbole_soft.model.cl4srec import CL4SRec

    settings = {"data_path": str(data_root), "load_col": {"inter": ["user_id", "item_id", "timestamp"]},
                "train_batch_size": 32, "state": "WARNING", "cl_weight": 1.0}
    config = Config(model="CL4SRec", dataset="tiny", config_dict=settings, command_line=False)
    train_data, *_ = data_preparation(config, create_dataset(config))
    return CL4SRec(config, train_data._dataset), next(iter(train_data))


def test_the_contrastive_loss_falls_on_tiny_data(cl4srec):
    from recbole_soft.data.augmentation import augmented_batch

    model, batch = cl4srec
    seq, length = batch[model.ITEM_SEQ], batch[model.ITEM_SEQ_LEN]

    def contrastive_loss() -> torch.Tensor:
        rng = np.random.default_rng(0)  # the same two views at every measurement
        views = [augmented_batch(seq, length, rng, model.mask_item, model.ratios) for _ in range(2)]
        return info_nce(*(model.forward(*view) for view in views), model.cl_temperature)

    model.eval()  # no dropout: the loss measures the weights only
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    before = contrastive_loss().item()
    for _ in range(30):
        optimizer.zero_grad()
        contrastive_loss().backward()
        optimizer.step()
    assert contrastive_loss().item() < 0.5 * before


def test_the_mask_item_has_an_embedding_but_is_never_ranked(cl4srec):
    model, batch = cl4srec
    assert model.item_embedding.num_embeddings == model.n_items + 1
    with torch.no_grad():
        assert model.full_sort_predict(batch).shape == (len(batch), model.n_items)
    assert torch.isfinite(model.calculate_loss(batch))
