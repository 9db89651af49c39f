import json
import re
import subprocess
import sys

import pytest

from recbole_soft.cli import main, parse_args
from recbole_soft.errors import InvalidSetting
from tests.conftest import REPOSITORY


def test_defaults_are_soft_on_ml_100k_with_no_config_file():
    args = parse_args([])
    assert (args.model, args.dataset, args.config_file_list, args.overrides) == ("SOFT", "ml-100k", [], {})


def test_short_options_space_separated_config_files_and_overrides():
    args = parse_args(["-m", "SASRec", "-d", "amazon-games", "--config_files=a.yaml b.yaml", "--epochs=1", "--topk=[3]"])
    assert (args.model, args.dataset, args.config_file_list) == ("SASRec", "amazon-games", ["a.yaml", "b.yaml"])
    assert args.overrides == {"epochs": 1, "topk": [3]}


def test_values_are_read_as_in_the_yaml_files_and_none_is_a_word_only_where_it_is_a_choice():
    args = parse_args([
        "--curriculum=none", "--quantization=none", "--train_sample_num=~", "--llm_revision=Null", "--resume=true",
        "--system_prompt=none", "--lora_target_modules=[q_proj, v_proj]", "--prior=[popularity,model]",
        "--learning_rate=1e-4", "--seed=7", "--item_encoder_config={epochs: 5, learner: adam}", "--topk=[a, [b, c]]",
        "--item_domain=video games, mostly", "--item_text_field=#title",
    ])
    assert args.overrides == {
        "curriculum": "none", "quantization": "none", "train_sample_num": None, "llm_revision": None, "resume": True,
        "system_prompt": None, "lora_target_modules": ["q_proj", "v_proj"], "prior": ["popularity", "model"],
        "learning_rate": 1e-4, "seed": 7, "item_encoder_config": {"epochs": 5, "learner": "adam"},
        "topk": ["a", ["b", "c"]], "item_domain": "video games, mostly",
        "item_text_field": "#title",
    }
    assert args.seeds is None  # --seed is the run's setting, not an abbreviation of the suite's --seeds


@pytest.mark.parametrize("argument, named", [
    ("--constrained_decoding=no", "constrained_decoding='no'"),
    ("--lora_target_modules=q_proj", "lora_target_modules='q_proj'"),
    ("--test_user_num=all", "test_user_num='all'"),
])
def test_a_value_of_the_wrong_kind_is_refused_by_name_before_anything_loads(argument, named):
    with pytest.raises(InvalidSetting, match=re.escape(named)):
        main([argument])


def tiny_pop_arguments(data_root, folder) -> list[str]:
    """Pop on the tiny dataset: it runs only if --data_path reaches the run, and reports the metrics --topk asks for."""
    return [
        "--model=Pop", "--dataset=tiny", f"--data_path={data_root}", "--load_col={'inter': ['user_id', 'item_id', 'timestamp']}",
        "--topk=[3]", "--valid_metric=NDCG@3", f"--checkpoint_dir={folder}", "--state=WARNING", "--show_progress=False",
    ]


def test_main_passes_key_value_overrides_to_the_run_and_ignores_the_host_command_line(data_root, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["pytest", "--topk=[7]", "--data_path=/nowhere"])
    result = main(tiny_pop_arguments(data_root, tmp_path / "api"))
    assert set(result["test_result"]) == {"hit@3", "ndcg@3", "mrr@3"}


def test_main_and_the_command_give_the_same_result(data_root, tmp_path):
    api = main(tiny_pop_arguments(data_root, tmp_path / "api"))
    command = subprocess.run(
        [sys.executable, "run_recbole_soft.py", *tiny_pop_arguments(data_root, tmp_path / "command")],
        cwd=REPOSITORY, capture_output=True, text=True,
    )
    assert command.returncode == 0, command.stderr[-2000:]
    [result_file] = (tmp_path / "command").glob("Pop-*.result.json")
    assert json.loads(result_file.read_text())["test_result"] == pytest.approx(dict(api["test_result"]))


def test_a_bad_setting_on_the_command_line_fails_before_torch_is_imported():
    check = (
        "import sys\nfrom recbole_soft.cli import main\nfrom recbole_soft.errors import InvalidSetting\n"
        "try:\n    main(['--model=SOFT', '--num_beams=0'])\nexcept InvalidSetting as error:\n    print(error)\n"
        "print('torch' in sys.modules, 'transformers' in sys.modules)\n"
    )
    process = subprocess.run([sys.executable, "-c", check], cwd=REPOSITORY, capture_output=True, text=True)
    message, imported = process.stdout.strip().splitlines()
    assert message == "num_beams=0 is invalid: it must be an integer >= 1."
    assert imported == "False False"


def test_importing_the_package_loads_no_heavy_library():
    check = "import sys, recbole_soft, recbole_soft.cli\nprint(sorted({'torch', 'transformers', 'recbole', 'peft'} & set(sys.modules)))"
    process = subprocess.run([sys.executable, "-c", check], cwd=REPOSITORY, capture_output=True, text=True)
    assert process.stdout.strip() == "[]", process.stderr[-2000:]
