"""RecBole models restored from their checkpoints and frozen, for the LLM models that lean on one: the model prior
scores items with it, the hybrid backbone projects its item embeddings into the LLM's prompts."""
from pathlib import Path

import torch
from recbole.utils import get_model

from recbole_soft.errors import InvalidSetting, MissingInput


def restore_recbole_model(checkpoint: str | Path, dataset, device: torch.device, setting: str) -> torch.nn.Module:
    """The model saved in RecBole's ``.pth`` ``checkpoint`` (``setting`` names where its path was given)."""
    if not checkpoint or not Path(checkpoint).is_file():
        raise MissingInput(
            f"{setting} must be the .pth file of a RecBole model trained on the same dataset "
            f"(e.g. saved/SASRec-<time>.pth); got {checkpoint!r}."
        )
    saved = torch.load(checkpoint, map_location=device, weights_only=False)  # RecBole's own pickle (Config inside)
    config = saved["config"]
    if config["dataset"] != dataset.dataset_name:
        raise InvalidSetting(
            f"{setting}={checkpoint} holds a {config['model']} trained on {config['dataset']}; this run's dataset is "
            f"{dataset.dataset_name}: give the checkpoint of a model trained on {dataset.dataset_name}."
        )
    config["device"] = device
    # the Config keeps the class it was built for: this package's own classical models (CL4SRec) included
    model_class = getattr(config, "model_class", None) or get_model(config["model"])
    model = model_class(config, dataset).to(device).eval()
    try:
        model.load_state_dict(saved["state_dict"])
    except RuntimeError as error:  # a size mismatch: other users or items than this run's
        raise InvalidSetting(
            f"{setting}={checkpoint} was trained on other {dataset.dataset_name} data than this run's (its users or "
            f"items differ: {str(error).splitlines()[-1].strip()}): train it with this run's data settings."
        ) from None
    model.load_other_parameter(saved.get("other_parameter"))
    return model.requires_grad_(False)


def item_embeddings(model: torch.nn.Module, n_items: int) -> torch.Tensor:
    """``[n_items, d]``: a sequential model's item embedding table (SASRec, GRU4Rec, BERT4Rec name it alike)."""
    table = getattr(model, "item_embedding", None)
    if not isinstance(table, torch.nn.Embedding) or table.num_embeddings < n_items:
        raise InvalidSetting(
            f"{type(model).__name__} has no item embedding table (item_embedding) of {n_items} items to project into "
            f"the LLM: use a sequential model such as SASRec as item_encoder."
        )
    return table.weight[:n_items].detach()
