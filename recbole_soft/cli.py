"""The RecBole-style command line: -m/--model, -d/--dataset, --config_files, and any --key=value override."""
import argparse
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
DEFAULT_PROPERTIES = REPOSITORY / "properties"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Known options only; RecBole's Config reads the ``--key=value`` overrides from ``sys.argv`` itself."""
    parser = argparse.ArgumentParser(
        description="Train and evaluate a RecBole or recbole_soft model with full-ranking metrics.",
        epilog="Any other --key=value (e.g. --epochs=1, --llm_path=/path/to/model) overrides that config key.",
    )
    parser.add_argument("--model", "-m", default="SOFT", help="model name (default: SOFT)")
    parser.add_argument("--dataset", "-d", default="ml-100k", help="dataset name (default: ml-100k)")
    parser.add_argument(
        "--config_files",
        default=None,
        help="space-separated yaml files; default: properties/sequential.yaml and properties/<dataset>.yaml",
    )
    args, _ = parser.parse_known_args(argv)
    args.config_file_list = (
        args.config_files.split() if args.config_files is not None else default_config_files(args.dataset)
    )
    return args


def default_config_files(dataset: str) -> list[str]:
    """The repository's protocol file and, when there is one, the dataset's own file."""
    files = [DEFAULT_PROPERTIES / "sequential.yaml", DEFAULT_PROPERTIES / f"{dataset}.yaml"]
    return [str(file) for file in files if file.is_file()]


def main(argv: list[str] | None = None) -> dict:
    from recbole_soft import run_recbole_soft

    args = parse_args(argv)
    return run_recbole_soft(model=args.model, dataset=args.dataset, config_file_list=args.config_file_list)
