"""Search SOFT's curriculum α and the learning rate with RecBole's HyperTuning (needs the `tune` extra:
pip install -e ".[tune]"). Every trial is a full run through the plugin's quick start; the best setting is
chosen on the validation metric, as RecBole does.

    python examples/tune_soft.py                                      # α x lr on ml-100k: 8 SOFT runs
    python examples/tune_soft.py --model=BIGRec --space="learning_rate choice [0.001,0.0005]" --epochs=1
"""
import argparse
import tempfile
from pathlib import Path

import yaml
from recbole.trainer.hyper_tuning import HyperTuning

from recbole_soft.cli import parse_overrides
from recbole_soft.quick_start import objective_function

SOFT_SPACE = "curriculum_alpha choice [100,10,1,0.1]\nlearning_rate choice [0.001,0.0005]\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="SOFT")
    parser.add_argument("--dataset", default="ml-100k")
    parser.add_argument("--space", default=SOFT_SPACE, help="RecBole's params file format, one 'name choice [..]' per line")
    parser.add_argument("--output", default="hyper_tuning.result", help="where RecBole writes every trial's result")
    args, rest = parser.parse_known_args()
    fixed = {"model": args.model, "dataset": args.dataset, **parse_overrides(rest)}
    with tempfile.TemporaryDirectory() as folder:
        params_file, fixed_file = Path(folder) / "space.hyper", Path(folder) / "fixed.yaml"
        params_file.write_text(args.space.replace("\\n", "\n"))
        fixed_file.write_text(yaml.safe_dump(fixed))
        tuning = HyperTuning(objective_function, params_file=str(params_file), fixed_config_file_list=[str(fixed_file)],
                             algo="exhaustive")
        tuning.run()
    tuning.export_result(output_file=args.output)
    print(f"best: {tuning.best_params}; test result of the best: {tuning.params2result[tuning.params2str(tuning.best_params)]['test_result']}")
    print(f"every trial: {args.output}")


if __name__ == "__main__":
    main()
