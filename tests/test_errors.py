"""Every mistake a user can make ends the command with one line that names the problem and the fix, status 2."""
import subprocess
import sys

import pytest

from recbole_soft.cli import main
from recbole_soft.errors import run_as_command
from tests.conftest import REPOSITORY, write_atomic_dataset


def command_error(argv: list[str], capsys) -> str:
    """The one line ``run_recbole_soft ARGV`` prints for a user's mistake (it must exit with status 2)."""
    with pytest.raises(SystemExit) as exit:
        run_as_command(lambda: main(argv), "run_recbole_soft", argv)
    assert exit.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("run_recbole_soft: error: ")
    return lines[0]


def pop_on(data_root, dataset: str) -> list[str]:
    return ["--model=Pop", f"--dataset={dataset}", f"--data_path={data_root}", "--state=WARNING", "--show_progress=False"]


def test_an_unknown_model_name_suggests_the_closest_one(capsys):
    assert "Unknown model 'SASrek'. Did you mean SASRec?" in command_error(["--model=SASrek"], capsys)


def test_a_misspelt_setting_on_the_command_line_suggests_the_right_name(capsys):
    assert "Unknown setting num_beam in the command line or config dict. Did you mean num_beams?" in command_error(
        ["--model=BIGRec", "--num_beam=4"], capsys)


def test_a_setting_that_exists_nowhere_is_refused(capsys):
    assert "Unknown setting foo_bar in the command line or config dict. Fix its name or remove it." in command_error(
        ["--model=Pop", "--foo_bar=1"], capsys)


def test_a_misspelt_setting_in_a_config_file_is_refused(tmp_path, capsys):
    settings = tmp_path / "settings.yaml"
    settings.write_text("learning_rate: 0.01\nepoch: 3\n")
    error = command_error(["--model=Pop", f"--config_files={settings}"], capsys)
    assert "Unknown setting epoch in the config files. Did you mean epochs?" in error


def test_a_bad_value_fails_before_any_data_loads(tmp_path, capsys):
    error = command_error(["--model=SASRec", "--dataset=absent", "--learning_rate=-1"], capsys)
    assert "learning_rate=-1 is invalid: it must be a number > 0" in error  # not the missing dataset: checked later


def test_a_yaml_syntax_error_names_the_file_and_line(tmp_path, capsys):
    settings = tmp_path / "broken.yaml"
    settings.write_text("epochs: 2\ntopk: [1, 5\n")
    error = command_error(["--model=Pop", f"--config_files={settings}"], capsys)
    assert f"Config file {settings} is not valid yaml at line 3" in error


def test_a_missing_config_file_is_named(tmp_path, capsys):
    assert f"Config file {tmp_path / 'nowhere.yaml'} does not exist" in command_error(
        ["--model=Pop", f"--config_files={tmp_path / 'nowhere.yaml'}"], capsys)


def test_a_missing_dataset_says_where_it_was_looked_for(tmp_path, capsys):
    error = command_error(pop_on(tmp_path, "absent"), capsys)
    assert f"Dataset 'absent' not found: there is no interaction file {tmp_path / 'absent' / 'absent.inter'}" in error


@pytest.mark.parametrize("content", ["", "user_id:token\titem_id:token\ttimestamp:float\n"])
def test_an_empty_or_header_only_interaction_file_is_refused(tmp_path, capsys, content):
    (tmp_path / "hollow").mkdir()
    (tmp_path / "hollow" / "hollow.inter").write_text(content)
    error = command_error(pop_on(tmp_path, "hollow"), capsys)
    assert "hollow.inter has" in error and "no interactions: it needs a header line" in error


def test_a_non_numeric_timestamp_is_named_with_its_line(tmp_path, capsys):
    folder = write_atomic_dataset(tmp_path, "stamped")
    inter = folder / "stamped.inter"
    lines = inter.read_text().splitlines()
    lines[3] = lines[3].rsplit("\t", 1)[0] + "\tyesterday"
    inter.write_text("\n".join(lines) + "\n")
    error = command_error([*pop_on(tmp_path, "stamped"), "--load_col={'inter': ['user_id', 'item_id', 'timestamp']}"], capsys)
    assert "stamped.inter line 4: timestamp='yesterday' is not a number" in error


def test_an_absent_title_field_names_the_fields_there_are(tmp_path, capsys):
    write_atomic_dataset(tmp_path, "untitled", title_field="name")
    error = command_error([*pop_on(tmp_path, "untitled"), "--model=BIGRec"], capsys)
    assert "item_text_field='title'" in error and "(its fields: item_id, name)" in error


def test_missing_llm_weights_are_named(data_root, tmp_path, capsys):
    arguments = [*pop_on(data_root, "tiny"), "--model=BIGRec", f"--llm_path={tmp_path / 'no-model'}",
                 "--load_col={'inter': ['user_id', 'item_id', 'timestamp']}", f"--checkpoint_dir={tmp_path}"]
    assert f"llm_path='{tmp_path / 'no-model'}' is neither a Hugging Face model folder" in command_error(arguments, capsys)


def test_the_command_prints_no_traceback_and_debug_shows_it():
    arguments = [sys.executable, "run_recbole_soft.py", "--model=Pop", "--foo_bar=1"]
    quiet = subprocess.run(arguments, cwd=REPOSITORY, capture_output=True, text=True)
    assert quiet.returncode == 2 and "Traceback" not in quiet.stderr
    assert quiet.stderr.strip().splitlines()[-1].startswith("run_recbole_soft: error: Unknown setting foo_bar")
    debug = subprocess.run([*arguments, "--debug"], cwd=REPOSITORY, capture_output=True, text=True)
    assert debug.returncode == 1 and "Traceback" in debug.stderr
