"""The RecBole-style command line: -m/--model, -d/--dataset, --config_files, any --key=value override, and
--benchmark SUITE.yaml to run a whole suite of models.

``main(argv)`` and the command behave the same: the overrides parsed here are handed to the run explicitly, and
RecBole's Config does not read ``sys.argv`` a second time. Settings are checked before torch is imported. The
command prints a user's mistake (``InputError``) as one line and exits with status 2; ``--debug`` or
``RECBOLE_SOFT_DEBUG=1`` shows its traceback instead.
"""
import argparse
import ast
import logging
import sys
from pathlib import Path

import yaml

from recbole_soft.errors import DEBUG_VARIABLE, InvalidSetting, run_as_command
from recbole_soft.settings import none_is_a_choice


YAML_NULLS = ("~", "null", "Null", "NULL")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Known options; the rest (``--key=value``) are config overrides, in ``args.overrides``."""
    parser = argparse.ArgumentParser(
        prog="run_recbole_soft",
        allow_abbrev=False,  # else --seed=1 (a setting) would be read as --seeds (the suite's option)
        description="Train and evaluate a RecBole or recbole_soft model with full-ranking metrics, or run a suite.",
        epilog="Any other --key=value (e.g. --epochs=1, --llm_path=/path/to/model) overrides that config key "
        "(for every model of a suite with --benchmark). The evaluation protocol and each dataset's defaults ship "
        "inside the package; config files and overrides change any of them.",
    )
    parser.add_argument("--model", "-m", default="SOFT", help="model name (default: SOFT)")
    parser.add_argument("--dataset", "-d", default="ml-100k", help="dataset name (default: ml-100k)")
    parser.add_argument("--config_files", default=None, help="space-separated yaml files of settings (with --benchmark: "
                        "for every model of the suite, e.g. properties/gpu.yaml)")
    parser.add_argument("--debug", action="store_true", help=f"show the traceback of an input error (or set {DEBUG_VARIABLE}=1)")
    suite = parser.add_argument_group("benchmark suites")
    suite.add_argument("--benchmark", metavar="SUITE.yaml", help="run every model of a suite, e.g. properties/benchmark/ml-100k.yaml")
    suite.add_argument("--seeds", type=int, nargs="+", help="seeds to run (default: the suite's); the table shows mean ± std")
    suite.add_argument("--out", help="results folder (default: results/<suite>-<date>); finished runs in it are kept")
    suite.add_argument("--force", action="store_true", help="rerun models that already finished in the results folder")
    suite.add_argument("--trained_in", metavar="RESULTS_FOLDER", help="test the classical rows that finished in this "
                       "other results folder with the same training settings (e.g. SASRec of the same seed), instead of "
                       "training them again")
    suite.add_argument("--rows", nargs="+", metavar="LABEL", help="run only these rows (and the rows whose files they "
                       "reuse); the report shows every finished row of the results folder")
    args, rest = parser.parse_known_args(argv)
    args.overrides = parse_overrides(rest)
    args.config_file_list = args.config_files.split() if args.config_files else []
    return args


def parse_overrides(arguments: list[str]) -> dict:
    """``--key=value`` pairs as a dict, values read as Python literals where they are one (as RecBole does)."""
    overrides = {}
    for argument in arguments:
        if not argument.startswith("--") or "=" not in argument:
            raise InvalidSetting(f"Unrecognised argument {argument!r}: settings are written --key=value, e.g. --epochs=1.")
        key, value = argument[2:].split("=", 1)
        value = _literal(value)
        # the word none: a choice of some settings (--curriculum=none, --prior=none), None for the others
        overrides[key] = None if value == "none" and not none_is_a_choice(key) else value
    return overrides


def _literal(value: str):
    """A value as RecBole's command line reads it (a Python literal where it is one, true/false), else as the yaml
    files read it (``~`` or ``null`` for None, ``[a, b]`` a list, ``{epochs: 5}`` a mapping); other text stays text."""
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        pass
    text = value.strip()
    if not text:
        return text
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if text in YAML_NULLS:
        return None
    try:
        parsed = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return parsed if isinstance(parsed, (list, dict)) else text  # "#games" is text, not an empty yaml document


def main(argv: list[str] | None = None):
    """Run what ``argv`` (default: ``sys.argv[1:]``) asks for; returns the run's result or the suite's folder."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    _check_overrides(args.overrides)
    if args.benchmark:
        return run_benchmark(args)
    from recbole_soft.quick_start import run_recbole_soft

    return run_recbole_soft(
        model=args.model,
        dataset=args.dataset,
        config_file_list=args.config_file_list,
        config_dict=args.overrides,
        command_line=False,
    )


def console_main() -> None:
    """The ``run_recbole_soft`` console script: ``main`` without handing its result to ``sys.exit``."""
    run_as_command(main, "run_recbole_soft")


def _check_overrides(overrides: dict) -> None:
    from recbole_soft.settings import check_values

    check_values(overrides)


def run_benchmark(args: argparse.Namespace) -> Path:
    from recbole_soft.benchmark import load_suite, run_suite
    from recbole_soft.benchmark.suite import read_settings_files

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    files = read_settings_files(args.config_file_list)  # under each row's settings, as files < config dict in a run
    out = run_suite(load_suite(args.benchmark), args.out, args.seeds, args.force, args.overrides, args.rows,
                    args.trained_in, files)
    print(f"results in {out}: table.md, table.csv, results.json, scores.png, environment.json")
    print((out / "table.md").read_text())
    return out
