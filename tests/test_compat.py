import numpy as np

import recbole_soft  # noqa: F401


def test_numpy_aliases_that_recbole_config_reads_exist():
    assert np.float_ is np.float64
    assert np.complex_ is np.complex128
    assert np.unicode_ is np.str_


def test_recbole_trainer_reads_full_checkpoints_and_torch_stays_safe_elsewhere(tmp_path):
    import inspect

    import recbole.trainer.trainer as recbole_trainer
    import torch

    from recbole_soft.config import Config

    checkpoint = tmp_path / "checkpoint.pth"
    torch.save({"config": Config(model="Pop", dataset="ml-100k", config_dict={"state": "WARNING"})}, checkpoint)
    assert recbole_trainer.torch.load(checkpoint)["config"]["model"] == "Pop"
    assert inspect.signature(torch.load).parameters["weights_only"].default is None  # torch itself untouched


def test_the_project_never_imports_recbole_quick_start():
    import sys

    assert "recbole.quick_start" not in sys.modules
