"""CLCLMRec's phase 1 (instruction tuning): general instructions about the catalogue, built offline from the
dataset's own item file, so that any dataset with an item file works and nothing is downloaded.

What the item file holds decides the kinds of instruction: with a year field (MovieLens' ``release_year``) "when did
X come out" and "which came out first"; with a genre or category field "name one of genre G" and "which genres is
X"; with a brand field (Amazon) "which brand is X" and "name one from brand B"; with titles only, "complete the
title". Each instruction is an (input, output) pair; the output is a title, a year, a genre list or a brand.
"""
from dataclasses import dataclass, field

import numpy as np
from recbole.config import Config
from recbole.data.dataset import Dataset

from recbole_soft.data.item_text import read_item_file
from recbole_soft.errors import InvalidData

YEAR_FIELDS = ("release_year", "year")
GENRE_FIELDS = ("class", "genre", "genres", "categories", "category")
BRAND_FIELDS = ("brand",)


@dataclass
class ItemFacts:
    """What the item file says about each internal item id, beside its title; ``order``: the ids in file order, so
    that the instructions depend on the item file and the seed only, not on how RecBole numbered the items."""

    order: list[int] = field(default_factory=list)
    years: dict[int, str] = field(default_factory=dict)
    genres: dict[int, list[str]] = field(default_factory=dict)
    brands: dict[int, str] = field(default_factory=dict)


def item_facts(config: Config, dataset: Dataset) -> ItemFacts:
    """Years, genres (or categories) and brands of the dataset's items, from the first matching field of each."""
    frame = read_item_file(config)
    item_field = config["ITEM_ID_FIELD"]
    internal = dataset.field2token_id[item_field]
    ids = [internal.get(token) for token in frame[item_field]]

    def column(names: tuple[str, ...]) -> list[str] | None:
        name = next((name for name in names if name in frame.columns), None)
        return None if name is None else frame[name].str.strip().tolist()

    facts = ItemFacts(order=[item for item in ids if item is not None])
    for item, year in zip(ids, column(YEAR_FIELDS) or []):
        if item is not None and year.isdigit():
            facts.years[item] = year
    separator = config["seq_separator"] or " "
    for item, genres in zip(ids, column(GENRE_FIELDS) or []):
        if item is not None and genres:
            facts.genres[item] = [genre.replace("_", " ") for genre in genres.split(separator) if genre]
    for item, brand in zip(ids, column(BRAND_FIELDS) or []):
        if item is not None and brand:
            facts.brands[item] = brand.replace("_", " ")
    return facts


def catalogue_instructions(facts: ItemFacts, titles: list[str], domain: str, count: int, seed: int) -> list[tuple[str, str]]:
    """``count`` seeded (instruction, answer) pairs about the catalogue, kinds drawn uniformly among those the
    item file supports."""
    rng = np.random.default_rng(seed)
    items = [item for item in facts.order if titles[item]]
    kinds = [_completion]
    if len(facts.years) >= 2:
        kinds += [_year_of, _first_of]
    if facts.genres:
        kinds += [_genres_of, _of_genre]
    if facts.brands:
        kinds += [_brand_of, _of_brand]
    if kinds == [_completion] and not any(len(titles[item].split()) >= 2 for item in items):
        raise InvalidData(  # else no kind could ever give a pair
            "The item file has nothing to ask about: no years, genres or brands, and no title of two words or more "
            "to complete. Add such fields to the item file, or turn phase 1 off with clclm_instruction_tuning=False."
        )
    pairs = []
    while len(pairs) < count:
        pair = kinds[int(rng.integers(len(kinds)))](facts, titles, items, domain, rng)
        if pair is not None:
            pairs.append(pair)
    return pairs


def _pick(candidates, rng: np.random.Generator):
    return candidates[int(rng.integers(len(candidates)))]


def _completion(facts, titles, items, domain, rng):
    words = titles[_pick(items, rng)].split()
    if len(words) < 2:
        return None
    return f"Complete the title of one of the {domain}: {' '.join(words[: (len(words) + 1) // 2])} ...", " ".join(words)


def _year_of(facts, titles, items, domain, rng):
    item = _pick(list(facts.years), rng)
    return f"In which year did '{titles[item]}' come out? Answer with the year.", facts.years[item]


def _first_of(facts, titles, items, domain, rng):
    first, second = _pick(list(facts.years), rng), _pick(list(facts.years), rng)
    if facts.years[first] == facts.years[second]:
        return None
    older = first if int(facts.years[first]) < int(facts.years[second]) else second
    return f"Which of these {domain} came out first: '{titles[first]}' or '{titles[second]}'?", titles[older]


def _genres_of(facts, titles, items, domain, rng):
    item = _pick(list(facts.genres), rng)
    return f"Which genres or categories does '{titles[item]}' belong to?", ", ".join(facts.genres[item])


def _of_genre(facts, titles, items, domain, rng):
    genre = _pick(sorted({genre for genres in facts.genres.values() for genre in genres}), rng)
    members = [item for item, genres in facts.genres.items() if genre in genres]
    return f"Name one of the {domain} in the genre or category '{genre}'.", titles[_pick(members, rng)]


def _brand_of(facts, titles, items, domain, rng):
    item = _pick(list(facts.brands), rng)
    return f"Which brand is '{titles[item]}' from?", facts.brands[item]


def _of_brand(facts, titles, items, domain, rng):
    brand = _pick(sorted(set(facts.brands.values())), rng)
    members = [item for item, name in facts.brands.items() if name == brand]
    return f"Name one of the {domain} from the brand '{brand}'.", titles[_pick(members, rng)]
