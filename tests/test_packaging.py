"""An installed wheel (not an editable checkout) carries the protocol, the model and the dataset defaults."""
import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from tests.conftest import REPOSITORY


def run(command: list, **kwargs) -> subprocess.CompletedProcess:
    process = subprocess.run([str(part) for part in command], capture_output=True, text=True, **kwargs)
    assert process.returncode == 0, (process.stdout + process.stderr)[-3000:]
    return process


def test_a_wheel_in_a_fresh_virtualenv_runs_a_model_with_the_full_protocol(tmp_path):
    source = tmp_path / "source"  # a copy, so that the build leaves nothing in the checkout
    shutil.copytree(REPOSITORY / "recbole_soft", source / "recbole_soft", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPOSITORY / name, source / name)
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", tmp_path / "dist", source])
    [wheel] = (tmp_path / "dist").glob("recbole_soft-*.whl")
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv])
    python = venv / "bin" / "python"
    run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", wheel])
    # the dependencies come from this environment; a plain path line adds no editable copy of recbole_soft
    site_packages = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    (site_packages / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    where = run([python, "-c", "import recbole_soft; print(recbole_soft.__file__)"], cwd=tmp_path).stdout.strip()
    assert Path(where).is_relative_to(site_packages)
    saved = tmp_path / "saved"
    run([venv / "bin" / "run_recbole_soft", "--model=Pop", "--dataset=ml-100k", f"--checkpoint_dir={saved}", "--state=WARNING",
         "--show_progress=False"], cwd=tmp_path)
    [result_file] = saved.glob("Pop-*.result.json")
    result = json.loads(result_file.read_text())
    assert set(result["test_result"]) == {f"{metric}@{k}" for metric in ("hit", "ndcg", "mrr") for k in (1, 5, 10, 20)}
    protocol = run([python, "-c", "from recbole_soft.config import Config; c = Config('Pop', 'ml-100k', command_line=False); "
                    "print(c['eval_args']['split'], c['eval_args']['order'], c['eval_args']['mode'], c['item_text_field'])"],
                   cwd=tmp_path).stdout.strip().splitlines()[-1]
    assert protocol == "{'LS': 'valid_and_test'} TO {'valid': 'full', 'test': 'full'} movie_title"
