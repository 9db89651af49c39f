"""StagedTrainer: methods that start from supervised fine-tuning and continue with further training stages."""
import contextlib
from pathlib import Path
from time import perf_counter

import numpy as np
from recbole.utils import init_seed, set_color

from recbole_soft.atomic import current_folder
from recbole_soft.errors import InvalidSetting, MissingInput
from recbole_soft.llm.loading import adapter_base_model
from recbole_soft.trainer.llm_trainer import LLMTrainer


class StagedTrainer(LLMTrainer):
    """Stage 1 is SFT exactly as BIGRec trains (or a saved adapter from ``sft_adapter_path``); each later stage is
    a fresh RecBole fit (new optimizer, warm-up, early stopping, checkpoint folder) on the same training samples,
    seeded anew (``seed_stage``), so a run that loads its SFT adapter gives the result of one that trains it.

    The SFT adapter is kept in ``<run>-sft/``; the last stage's best adapter is the run's adapter, used for the test.
    """

    def __init__(self, config, model):
        super().__init__(config, model)
        self.final_adapter_dir = self.adapter_dir
        self.sft_adapter_dir = self.adapter_dir.with_name(self.adapter_dir.name + "-sft")
        self.stage = "sft"
        self.run_info["stage_times_s"] = {}

    @contextlib.contextmanager
    def timed_stage(self, name: str):
        self.logger.info(set_color(f"{self.config['model']} stage: {name}", "green"))
        start = perf_counter()
        yield
        seconds = perf_counter() - start
        self.run_info["stage_times_s"][name] = seconds
        self.logger.info(set_color(f"{self.config['model']} stage {name} took", "green") + f" {seconds:.1f}s")

    def supervised_fine_tuning(self, train_data, valid_data, verbose: bool, show_progress: bool) -> None:
        """Leaves the model holding the best SFT adapter."""
        given = self.config["sft_adapter_path"]
        if given:
            folder = current_folder(Path(given))
            self._check_adapter_base(folder)
            self.model.load_adapter(folder)
            self.logger.info(f"SFT stage skipped: adapter loaded from {given}")
        else:
            self.train_stage("sft", self.config["epochs"], self.sft_adapter_dir, train_data, valid_data, verbose,
                             show_progress)
        self.seed_stage(train_data)

    def seed_stage(self, train_data) -> None:
        """The next stage starts from the run's seed, as RecBole seeds a run (every generator, and the training
        loader's shuffling): its draws are the same whether stage 1 trained in this run or was loaded."""
        init_seed(self.config["seed"], self.config["reproducibility"])
        train_data.generator.manual_seed(self.config["seed"])

    def train_stage(
        self, stage: str, epochs: int, adapter_dir: Path, train_data, valid_data, verbose: bool, show_progress: bool
    ) -> None:
        """A fresh RecBole fit of ``stage`` that leaves the model holding the stage's best adapter (in ``adapter_dir``)."""
        self.start_stage(stage, epochs, adapter_dir)
        LLMTrainer.fit(self, train_data, valid_data, verbose, saved=True, show_progress=show_progress)
        self.model.load_adapter(adapter_dir)

    def start_stage(self, stage: str, epochs: int, adapter_dir: Path) -> None:
        self.stage, self.epochs, self.adapter_dir = stage, epochs, adapter_dir
        self.eval_step = min(self.config["eval_step"], epochs)
        self.start_epoch, self.cur_step = 0, 0
        self.best_valid_score = -np.inf if self.valid_metric_bigger else np.inf
        self.best_valid_result = None
        self.optimizer = self._build_optimizer()
        self.lr_scheduler = self._build_lr_scheduler()

    def _check_adapter_base(self, folder: Path) -> None:
        if not (folder / "adapter_config.json").is_file():
            raise MissingInput(f"sft_adapter_path={folder} is not a PEFT adapter folder (no adapter_config.json).")
        if not self.model.fits_adapter(folder):
            raise InvalidSetting(
                f"The SFT adapter at {folder} was trained on another base LLM ({adapter_base_model(folder)}) than this "
                f"run's ({self.model.base_model_name} at {self.model.llm_folder}). "
                f"Use the same llm_path as the SFT run, or drop sft_adapter_path to train stage 1 here."
            )
