"""Classical RecBole models trained by RecBole's own trainers, made resumable as the plugin's LLM runs are.

RecBole saves a classical model only when its validation score improves, without the optimizer's moments of later
epochs or any random state, so a killed run starts again from epoch 0. ``fit_resumably`` keeps RecBole's ``fit`` and
its best-model checkpoint, and after every validated epoch (RecBole's ``callback_fn``) writes the run's resume
state (``checkpoint.RunState``): the whole model, optimizer, early-stopping counters and random states. With
``resume: True`` a killed run continues after its last validated epoch and ends as an uninterrupted one would.

That holds only for a model whose whole training state is its ``state_dict`` and the global random generators, so
only the models checked to be so resume (``WHOLE_STATE_MODELS``), and a model that keeps more declares it
(``resumable_state`` / ``restore_resumable_state``, as CL4SRec does for its augmentation generator). Others (VAE
annealing counters, knowledge-graph loaders, feature layers kept outside the ``state_dict``, trainers with their
own ``fit``) train as RecBole trains them and say so when asked to resume.
"""
from recbole.trainer import Trainer

from recbole_soft.trainer.checkpoint import RunState, resumable_fit

STAGE = "fit"
# RecBole models whose training state is their state_dict, the optimizer and the global and loader generators
WHOLE_STATE_MODELS = {"SASRec", "GRU4Rec", "BERT4Rec", "Caser", "NARM", "STAMP", "NextItNet", "SRGNN", "GCSAN",
                      "LightSANs", "CORE", "BPR", "NeuMF", "LightGCN"}


def resumable(trainer) -> bool:
    """Whether ``trainer`` runs RecBole's own epoch loop on a model whose whole training state a resume file keeps."""
    if not isinstance(trainer, Trainer) or type(trainer).fit is not Trainer.fit:
        return False
    return type(trainer.model).__name__ in WHOLE_STATE_MODELS or hasattr(trainer.model, "resumable_state")


def not_resumable_note(trainer) -> str:
    return (f"resume: {type(trainer.model).__name__} cannot continue an interrupted run (its training state is not "
            f"all in its state_dict, or its trainer has its own fit): it trains from epoch 0.")


def fit_resumably(trainer: Trainer, train_data, valid_data, saved: bool, show_progress: bool) -> tuple:
    """RecBole's ``fit`` of a classical model, continued from the newest interrupted run when ``resume`` is set.

    Returns ``fit``'s (best valid score, best valid result); ``trainer.run_state`` holds the run's state, and
    ``trainer.saved_model_file`` the interrupted run's checkpoint name when it resumed.
    """
    trainer.run_state = RunState.start(trainer.config, trainer.saved_model_file, trainer.logger)
    trainer.saved_model_file = trainer.run_state.saved_model_file

    def fit(after_epoch):
        return trainer.fit(train_data, valid_data, saved=saved, show_progress=show_progress, callback_fn=after_epoch)

    return resumable_fit(trainer, STAGE, train_data, fit, lambda: _model_progress(trainer.model),
                         lambda progress: _restore_model(trainer.model, progress))


def _model_progress(model) -> dict:
    return {
        "model": {name: tensor.detach().cpu().clone() for name, tensor in model.state_dict().items()},
        "model_extra": model.resumable_state() if hasattr(model, "resumable_state") else None,
    }


def _restore_model(model, progress: dict) -> None:
    model.load_state_dict(progress["model"])
    if progress.get("model_extra") is not None:  # absent from states saved before models could add their own
        model.restore_resumable_state(progress["model_extra"])
