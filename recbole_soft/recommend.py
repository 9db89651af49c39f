"""Top-K recommendations of a trained model: ``recommend()`` and the ``recommend_recbole_soft`` command.

A model a run saved (a plugin LLM model or a RecBole one) is loaded as ``load_data_and_model`` loads it and ranks
every item with RecBole's ``full_sort_topk``, for each user as in the run's test: from the user's history before their
last interaction. RecBole and torch are imported when first used, so that ``--help`` and a bad argument answer at once.
"""
import argparse
from contextlib import nullcontext
from pathlib import Path

from recbole_soft.errors import InputError, InvalidSetting, run_as_command

PROGRAM = "recommend_recbole_soft"


def recommend(model_file: str | Path, user_tokens: list[str], k: int = 10) -> dict[str, list[tuple[str, float]]]:
    """Each user's top ``k`` items, best first, as (title, score): the item's title where the dataset has titles
    (``item_text_field``), else its item token. Users are the dataset's own user tokens (ml-100k: "196")."""
    from recbole_soft.quick_start import load_data, load_model, read_checkpoint

    checkpoint = read_checkpoint(model_file)
    checkpoint["config"]["test_user_num"] = None  # any user with a test interaction, not only a run's tested sample
    config, dataset, train_data, _, test_data = load_data(checkpoint)
    users = tested_user_ids(test_data, user_tokens)  # before the model loads: a wrong id or k fails at once
    require_k_in_range(k, test_data._dataset.item_num - 1)
    model = load_model(config, train_data, checkpoint, Path(model_file))
    return dict(zip(user_tokens, top_k(config, model, dataset, test_data, users, k)))


def top_k(config, model, dataset, test_data, users: list[int], k: int) -> list[list[tuple[str, float]]]:
    """RecBole's ``full_sort_topk`` for RecBole's user ids, masked as the test masked, with the items named."""
    from recbole.utils.case_study import full_sort_topk

    ranking_model = ranked_as_tested(config, model, dataset, test_data)
    scores, items = full_sort_topk(users, ranking_model, test_data, k, config["device"])
    names = item_names(config, test_data._dataset)
    return [
        [(names[item], score) for item, score in zip(row_items.tolist(), row_scores.tolist())]
        for row_items, row_scores in zip(items, scores)
    ]


def tested_user_ids(test_data, user_tokens: list[str]) -> list[int]:
    """RecBole's internal ids of ``user_tokens``; each must be a user the run tested (one with a test interaction)."""
    dataset = test_data._dataset
    field = dataset.uid_field
    tested = set(dataset.inter_feat[field].tolist())
    token_ids = dataset.field2token_id[field]
    unknown = [token for token in user_tokens if token_ids.get(token) not in tested]
    if unknown:
        examples = ", ".join(dataset.field2id_token[field][sorted(tested)[:3]])
        raise InvalidSetting(
            f"Unknown user {', '.join(map(repr, unknown))}: not a user of {dataset.dataset_name}'s test split. "
            f"User ids are the {field} tokens of {dataset.dataset_name}.inter, e.g. {examples}."
        )
    return [token_ids[token] for token in user_tokens]


def require_k_in_range(k: int, items: int) -> None:
    if not 1 <= k <= items:
        raise InvalidSetting(f"k={k} is out of range: the dataset has {items} items; pass --k between 1 and {items}.")


def ranked_as_tested(config, model, dataset, test_data):
    """The model as ``full_sort_topk`` should rank with it: with ``exclude_history``, masking each user's earlier
    items as the run's test masked them (RecBole's case study masks a general model's history only when
    ``repeatable`` is False, a sequential model's never)."""
    if not config["exclude_history"]:
        return model
    from recbole_soft.data.history import user_sequences

    return EarlierItemsMasked(model, user_sequences(dataset), test_data)


class EarlierItemsMasked:
    """A model whose scores of each user's earlier items (every item before the one the test evaluates, that one
    excepted) are -inf, as ``exclude_history`` masks them in the test; what ``full_sort_topk`` calls of a model."""

    def __init__(self, model, sequences: dict[int, list[int]], test_data):
        self.model, self.sequences, self.test_data = model, sequences, test_data

    def eval(self) -> None:
        self.model.eval()

    def full_sort_predict(self, interaction):
        from recbole_soft.data.history import history_index
        from recbole_soft.trainer.evaluation import masked_like_recbole

        users = interaction[self.test_data._dataset.uid_field].tolist()
        rows, items = self.evaluated_items(interaction, users)
        masked = history_index(users, rows, items, self.sequences, kept_at_end=1)
        masking = getattr(self.model, "masking", None)  # an LLM model's beams skip what is masked, as in the test
        with masking(masked) if masking else nullcontext():
            scores = self.model.full_sort_predict(interaction).view(len(users), -1)
        return masked_like_recbole(scores, masked)

    def evaluated_items(self, interaction, users: list[int]):
        """``(rows, items)`` of the items the test evaluates: a sequential row's target, a general model's user's
        test items."""
        import torch

        if self.test_data.is_sequential:
            return torch.arange(len(users)), interaction[self.test_data._dataset.iid_field].cpu()
        positives = [self.test_data.uid2positive_item[user] for user in users]
        rows = torch.cat([torch.full_like(items, row) for row, items in enumerate(positives)])
        return rows, torch.cat(positives)


def item_names(config, dataset) -> list[str]:
    """The name of every internal item id: its title where the dataset's item file has ``item_text_field``, else
    its item token."""
    from recbole_soft.data import load_item_titles

    try:
        return load_item_titles(config, dataset)
    except InputError:  # no item file, or no title field in it
        return [str(token) for token in dataset.field2id_token[dataset.iid_field]]


def format_table(user: str, ranked: list[tuple[str, float]]) -> str:
    """One user's recommendations: a heading line, then rank, item and score per line."""
    width = max(len("item"), *(len(name) for name, _ in ranked))
    lines = [f"user {user}", f"{'rank':>4}  {'item':<{width}}  score"]
    lines += [f"{rank:>4}  {name:<{width}}  {score:.6g}" for rank, (name, score) in enumerate(ranked, start=1)]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description="Print each user's top-K items, with their scores, by a model that run_recbole_soft trained.",
        epilog="Users are ranked as in the run's test, from their history before their last interaction.",
    )
    parser.add_argument("--checkpoint", required=True, metavar="PATH",
                        help="the <Model>-<time>.pth file a run wrote in its checkpoint_dir (saved/ by default)")
    parser.add_argument("--user", required=True, action="append", metavar="ID",
                        help="a user id as in the dataset's .inter file (ml-100k: 196); repeat for several users")
    parser.add_argument("--k", type=int, default=10, help="how many items per user (default: 10)")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an input error")
    return parser.parse_args(argv)


def console_main(argv: list[str] | None = None) -> None:
    """The ``recommend_recbole_soft`` command; a user's mistake is one line on stderr and exit status 2."""
    run_as_command(lambda: print_recommendations(parse_args(argv)), PROGRAM, argv)


def print_recommendations(args: argparse.Namespace) -> None:
    recommendations = recommend(args.checkpoint, args.user, args.k)
    print("\n\n".join(format_table(user, ranked) for user, ranked in recommendations.items()))
