import sys

from recbole_soft.cli import default_config_files, parse_args
from recbole_soft.config import Config


def test_defaults_are_soft_on_ml_100k_with_the_repository_properties():
    args = parse_args([])
    assert (args.model, args.dataset) == ("SOFT", "ml-100k")
    assert [path.rsplit("/", 1)[-1] for path in args.config_file_list] == ["sequential.yaml", "ml-100k.yaml"]


def test_short_options_and_space_separated_config_files():
    args = parse_args(["-m", "SASRec", "-d", "amazon-games", "--config_files=a.yaml b.yaml", "--epochs=1"])
    assert (args.model, args.dataset, args.config_file_list) == ("SASRec", "amazon-games", ["a.yaml", "b.yaml"])


def test_a_dataset_without_its_own_file_uses_the_protocol_only():
    assert [path.rsplit("/", 1)[-1] for path in default_config_files("unknown-set")] == ["sequential.yaml"]


def test_key_value_overrides_reach_the_config(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["run_recbole_soft.py", "--model=SASRec", "--epochs=1", "--learning_rate=0.01"])
    args = parse_args()
    config = Config(model=args.model, dataset=args.dataset, config_file_list=args.config_file_list)
    assert (config["epochs"], config["learning_rate"]) == (1, 0.01)
