"""One run of a suite, in its own process: ``python -m recbole_soft.benchmark.worker RUN_FOLDER``."""
import json
import sys
from datetime import datetime
from pathlib import Path

from recbole_soft.atomic import write_atomically
from recbole_soft.benchmark.environment import environment


def run_one(folder: Path) -> dict:
    """Train and test the model of ``folder/plan.json``, then write ``result.json`` atomically (write, then rename)."""
    from recbole_soft import run_recbole_soft

    plan = json.loads((folder / "plan.json").read_text())
    started = datetime.now().isoformat(timespec="seconds")
    result = run_recbole_soft(plan["model"], plan["dataset"], plan["config_files"], plan["config"])
    result = {
        **result,
        "plan": plan,
        "environment": environment(),
        "started": started,
        "finished": datetime.now().isoformat(timespec="seconds"),
    }
    text = json.dumps(result, indent=2, default=float)
    write_atomically(folder / "result.json", lambda partial: partial.write_text(text))
    return result


if __name__ == "__main__":
    run_one(Path(sys.argv[1]))
