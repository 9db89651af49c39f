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
from recbole.utils import set_color

from recbole_soft.trainer.checkpoint import RunState, random_states, restore_random_states, stage_finished

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
    state = RunState.start(trainer.config, trainer.saved_model_file, trainer.logger)
    trainer.run_state, trainer.saved_model_file = state, state.saved_model_file
    progress = state.progress(STAGE)
    if progress is not None:
        _restore(trainer, progress, train_data)
        if stage_finished(progress, trainer.epochs, trainer.stopping_step):
            trainer.logger.info(set_color("training", "green") + " finished before the interruption")
            return trainer.best_valid_score, trainer.best_valid_result
        trainer.logger.info(set_color("training", "green") + f": resumed after epoch {progress['epoch']}")

    def save_progress(epoch_idx: int, valid_score: float) -> None:
        state.record(STAGE, _progress(trainer, train_data, epoch_idx, finished=False))

    result = trainer.fit(train_data, valid_data, saved=saved, show_progress=show_progress, callback_fn=save_progress)
    last_epoch = (state.progress(STAGE) or {}).get("epoch", trainer.epochs - 1)
    state.record(STAGE, _progress(trainer, train_data, last_epoch, finished=True))
    return result


def _progress(trainer: Trainer, train_data, epoch: int, finished: bool) -> dict:
    model = trainer.model
    return {
        "finished": finished,
        "epoch": epoch,
        "cur_step": trainer.cur_step,
        "best_valid_score": trainer.best_valid_score,
        "best_valid_result": trainer.best_valid_result,
        "model": {name: tensor.detach().cpu().clone() for name, tensor in model.state_dict().items()},
        "model_extra": model.resumable_state() if hasattr(model, "resumable_state") else None,
        "optimizer": trainer.optimizer.state_dict(),
        "random": random_states(train_data.generator),
    }


def _restore(trainer: Trainer, progress: dict, train_data) -> None:
    trainer.model.load_state_dict(progress["model"])
    if progress.get("model_extra") is not None:  # absent from states saved before models could add their own
        trainer.model.restore_resumable_state(progress["model_extra"])
    trainer.optimizer.load_state_dict(progress["optimizer"])
    trainer.start_epoch, trainer.cur_step = progress["epoch"] + 1, progress["cur_step"]
    trainer.best_valid_score, trainer.best_valid_result = progress["best_valid_score"], progress["best_valid_result"]
    restore_random_states(progress["random"], train_data.generator)
