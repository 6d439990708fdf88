"""How ranking answers add up: mean rank, Borda, Schulze and the Condorcet winner. Pure.

THE RULE FOR PARTIAL RANKINGS (docs/surveys.md states it for readers): a ballot ranks
some of the N items, from most to least useful; every item it leaves out ties with the
others left out, below every item it ranks. A ballot is therefore a weak order whose
last class holds the unranked items, and every method reads it the same way:

- its *position* of an item is the average of the places its class occupies: with k of
  N ranked, the ranked items are at 1..k and each unranked item at (k + 1 + N) / 2;
- *mean rank* is the mean of those positions over the ballots;
- *Borda* gives N - position points: N-1 to the first, 0 to the last of a full ballot,
  and each unranked item the average of the points left, (N - k - 1) / 2;
- *pairwise* (Schulze, Condorcet), a ballot prefers a to b when a's position is better;
  two unranked items are a tie, which counts for neither.

Scores are exact fractions, so a tie is a tie and never a rounding accident; they are
given as numbers only in the answer.
"""

from collections.abc import Iterable, Sequence
from fractions import Fraction

Ballot = Sequence[str]


def positions(ballot: Ballot, items: Sequence[str]) -> dict[str, Fraction]:
    """Each item's position on one ballot, by the rule above."""
    return {item: Fraction(twice, 2) for item, twice in doubled_positions(ballot, items).items()}


def doubled_positions(ballot: Ballot, items: Sequence[str]) -> dict[str, int]:
    """Twice each item's position: whole numbers, so sums and comparisons stay exact and fast."""
    n, k = len(items), len(ballot)
    unranked = k + 1 + n
    place = {item: 2 * i for i, item in enumerate(ballot, 1)}
    return {item: place.get(item, unranked) for item in items}


def check_ballot(ballot: Ballot, items: Sequence[str]) -> list[str]:
    """What is wrong with a ballot: unknown or repeated items (empty: nothing)."""
    known = set(items)
    problems = [f"not an item of this question: {item}" for item in ballot if item not in known]
    repeated = sorted({item for item in ballot if ballot.count(item) > 1})
    problems += [f"ranked more than once: {item}" for item in repeated]
    return problems


def tiers(scores: dict[str, Fraction], items: Sequence[str], best_low: bool) -> list[list[str]]:
    """Items from best to worst, grouped where their scores are equal: a group of two or more is a tie."""
    ordered = sorted(scores.values(), reverse=not best_low)
    levels = list(dict.fromkeys(ordered))
    return [[item for item in items if scores[item] == level] for level in levels]


def pairwise(ballots: Iterable[Ballot], items: Sequence[str]) -> dict[str, dict[str, int]]:
    """d[a][b]: how many ballots prefer a to b."""
    d = {a: {b: 0 for b in items if b != a} for a in items}
    for ballot in ballots:
        pos = doubled_positions(ballot, items)
        for a in items:
            row, mine = d[a], pos[a]
            for b in items:
                if mine < pos[b]:
                    row[b] += 1
    return d


def strongest_paths(d: dict[str, dict[str, int]], items: Sequence[str]) -> dict[str, dict[str, int]]:
    """Schulze's strongest paths, links weighed by winning votes: d[a][b] where a beats b, else 0."""
    p = {a: {b: (d[a][b] if d[a][b] > d[b][a] else 0) for b in items if b != a} for a in items}
    for via in items:
        for a in items:
            if a == via:
                continue
            for b in items:
                if b in (a, via):
                    continue
                p[a][b] = max(p[a][b], min(p[a][via], p[via][b]))
    return p


def schulze_tiers(p: dict[str, dict[str, int]], items: Sequence[str]) -> list[list[str]]:
    """Schulze's order: a above b when p[a][b] > p[b][a]; each tier is what nothing left beats."""
    left, order = list(items), []
    while left:
        tier = [a for a in left if not any(p[b][a] > p[a][b] for b in left if b != a)]
        order.append(tier)
        left = [a for a in left if a not in tier]
    return order


def condorcet_winner(d: dict[str, dict[str, int]], items: Sequence[str]) -> str | None:
    """The item that more ballots prefer to each other item than the other way round, if there is one."""
    winners = [a for a in items if all(d[a][b] > d[b][a] for b in items if b != a)]
    return winners[0] if winners else None


def number(value: Fraction) -> int | float:
    return int(value) if value.denominator == 1 else round(float(value), 6)


def aggregate(ballots: Sequence[Ballot], items: Sequence[str]) -> dict:
    """Every method's answer for one ranking question over ``ballots``; ties are stated as ties.

    ``order`` lists are tiers, best first: ``[["a"], ["b", "c"]]`` says a, then b and c tied.
    """
    items = list(items)
    n = len(items)
    twice = dict.fromkeys(items, 0)
    for ballot in ballots:
        for item, position in doubled_positions(ballot, items).items():
            twice[item] += position
    count = len(ballots)
    mean = {item: Fraction(twice[item], 2 * count) if count else Fraction(0) for item in items}
    borda = {item: count * n - Fraction(twice[item], 2) for item in items}
    d = pairwise(ballots, items)
    p = strongest_paths(d, items)
    methods = {
        "mean_rank": tiers(mean, items, best_low=True),
        "borda": tiers(borda, items, best_low=False),
        "schulze": schulze_tiers(p, items),
    }
    return {
        "ballots": count,
        "items": items,
        "mean_rank": {"order": methods["mean_rank"], "scores": {i: number(mean[i]) for i in items}},
        "borda": {"order": methods["borda"], "scores": {i: number(borda[i]) for i in items}},
        "schulze": {"order": methods["schulze"], "strongest_paths": p, "pairwise": d},
        "condorcet_winner": condorcet_winner(d, items),
        "ties": [{"method": method, "items": tier} for method, order in methods.items()
                 for tier in order if len(tier) > 1],
    }
