"""``python -m recbole_soft.benchmark rerun RESULTS_FOLDER [--rows LABEL ...] [--out NEW_FOLDER]``: rerun rows of a
results folder from the plans and records it holds, and print the committed and the new metrics side by side."""
import argparse
import logging
import sys
from pathlib import Path

from recbole_soft.errors import DEBUG_VARIABLE, run_as_command

PROGRAM = "python -m recbole_soft.benchmark"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROGRAM, description="Benchmark suites: rerun a table from its folder.")
    commands = parser.add_subparsers(dest="command", required=True)
    rerun = commands.add_parser(
        "rerun", help="rerun rows of a results folder from its own plans and compare with its metrics",
        description="Rerun rows of a results folder from the plans and settings saved in it (not the suite file) "
        "into a new folder, saying first what can make the numbers differ; then print, row by row, the committed "
        "and the new metrics and their difference.",
    )
    rerun.add_argument("folder", help="a results folder a suite wrote, e.g. results/ml-100k-2026-11-26")
    rerun.add_argument("--rows", nargs="+", metavar="LABEL", help="the rows to rerun (default: all); rows whose files "
                       "they reuse run too")
    rerun.add_argument("--out", help="the new results folder (default: <folder>-rerun-<date>); finished runs in it "
                       "are kept")
    rerun.add_argument("--debug", action="store_true",
                       help=f"show the traceback of an input error (or set {DEBUG_VARIABLE}=1)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> Path:
    """Run the command ``argv`` (default: ``sys.argv[1:]``) names; returns the new results folder."""
    from recbole_soft.benchmark.rerun import plan_rerun, run_rerun

    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    rerun = plan_rerun(args.folder, args.rows, args.out)
    print(rerun.describe(), flush=True)
    print(run_rerun(rerun))
    return rerun.out


if __name__ == "__main__":
    run_as_command(main, PROGRAM)
