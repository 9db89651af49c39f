"""CLCLMRec's phase 1: instructions about the catalogue, from the dataset's item file alone."""
import pytest
from recbole.data import create_dataset

from recbole_soft.config import Config
from recbole_soft.data import load_item_titles
from recbole_soft.data.instructions import catalogue_instructions, item_facts
from recbole_soft.errors import InvalidData
from tests.conftest import write_atomic_dataset

MOVIES = {"m1": ("Heat", "1995", "Action Crime", "Warner"), "m2": ("Alien", "1979", "Horror Sci-Fi", "Fox"),
          "m3": ("Fargo", "1996", "Crime Drama", "PolyGram"), "m4": ("The Big Sleep", "1946", "Film-Noir", "Warner")}


def catalogue(tmp_path, name: str, with_facts: bool, users: int = 6, reversed_interactions: bool = False):
    folder = write_atomic_dataset(tmp_path, name, n_users=users, n_items=4)
    if reversed_interactions:  # RecBole numbers items in order of appearance: another numbering
        header, *lines = (folder / f"{name}.inter").read_text().splitlines()
        (folder / f"{name}.inter").write_text("\n".join([header, *reversed(lines)]) + "\n")
    header = "item_id:token\ttitle:token_seq" + ("\tyear:token\tgenre:token_seq\tbrand:token" if with_facts else "")
    rows = [f"i{n}\t{title}" + (f"\t{year}\t{genres}\t{brand}" if with_facts else "")
            for n, (title, year, genres, brand) in enumerate(MOVIES.values(), start=1)]
    (folder / f"{name}.item").write_text("\n".join([header, *rows]) + "\n")
    config = Config(model="BIGRec", dataset=name, command_line=False, config_dict={
        "data_path": str(tmp_path), "load_col": {"inter": ["user_id", "item_id", "timestamp"]}, "state": "WARNING"})
    dataset = create_dataset(config)
    return item_facts(config, dataset), load_item_titles(config, dataset)


def test_every_answer_is_what_the_item_file_says(tmp_path):
    facts, titles = catalogue(tmp_path, "facts", with_facts=True)
    by_title = {title: (year, genres.split(), brand) for title, year, genres, brand in MOVIES.values()}
    pairs = catalogue_instructions(facts, titles, "movies", 200, seed=1)
    kinds = set()
    for instruction, answer in pairs:
        named = [title for title in by_title if f"'{title}'" in instruction]
        if instruction.startswith("In which year"):
            kinds.add("year")
            assert answer == by_title[named[0]][0]
        elif instruction.startswith("Which of these"):
            kinds.add("first")
            assert answer == min(named, key=lambda title: int(by_title[title][0]))
        elif instruction.startswith("Which genres"):
            kinds.add("genres")
            assert answer == ", ".join(by_title[named[0]][1])
        elif instruction.startswith("Name one of the movies in the genre"):
            kinds.add("of genre")
            genre = instruction.split("'")[1]
            assert genre in by_title[answer][1]
        elif instruction.startswith("Which brand"):
            kinds.add("brand")
            assert answer == by_title[named[0]][2]
        elif instruction.startswith("Name one of the movies from the brand"):
            kinds.add("of brand")
            assert by_title[answer][2] == instruction.split("'")[1]
        else:
            kinds.add("completion")
            assert answer in by_title and answer.startswith(instruction.split(": ", 1)[1].removesuffix(" ..."))
    assert kinds == {"year", "first", "genres", "of genre", "brand", "of brand", "completion"}


def test_a_titles_only_item_file_gives_title_completions(tmp_path):
    facts, titles = catalogue(tmp_path, "plain", with_facts=False)
    pairs = catalogue_instructions(facts, titles, "games", 20, seed=1)
    assert all(instruction.startswith("Complete the title") for instruction, _ in pairs)
    assert {answer for _, answer in pairs} <= {"The Big Sleep"}  # the only title of two words or more


def test_an_item_file_with_nothing_to_ask_is_an_error_that_names_the_way_out_not_an_endless_loop(tmp_path):
    facts, titles = catalogue(tmp_path, "plain", with_facts=False)
    one_word_titles = [title.split()[-1] if title else title for title in titles]
    with pytest.raises(InvalidData, match="clclm_instruction_tuning=False"):
        catalogue_instructions(facts, one_word_titles, "games", 20, seed=1)


def test_instructions_depend_on_the_item_file_and_the_seed_not_on_the_interactions(tmp_path):
    few = catalogue(tmp_path / "a", "few", with_facts=True, users=4)
    many = catalogue(tmp_path / "b", "many", with_facts=True, users=12, reversed_interactions=True)
    assert few[1] != many[1]  # the same titles under other item ids
    assert catalogue_instructions(*few, "movies", 30, seed=3) == catalogue_instructions(*many, "movies", 30, seed=3)
    assert catalogue_instructions(*few, "movies", 30, seed=3) != catalogue_instructions(*few, "movies", 30, seed=4)
